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
    """Someone else changed the thing first. `current` (optional) describes what is there now, so the
    loser sees the newer values: {"version": n, "values": {field: text}, "changed_by": .., "changed_at": ..}."""

    code = "E_CONFLICT"

    def __init__(self, message: str, *, code: str | None = None, current: dict | None = None):
        super().__init__(message, code=code)
        self.current = current


class Forbidden(DomainError):
    code = "E_FORBIDDEN"
