"""Domain errors carry a stable code and a Japanese message for staff."""
from __future__ import annotations


class DomainError(Exception):
    code: str = "E_DOMAIN"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(DomainError):
    code = "E_INVALID_INPUT"


class NotFound(DomainError):
    code = "E_NOT_FOUND"


class Conflict(DomainError):
    code = "E_CONFLICT"


class Forbidden(DomainError):
    code = "E_FORBIDDEN"
