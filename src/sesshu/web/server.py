"""`sesshu serve`: run the web application with uvicorn."""
from __future__ import annotations

import logging
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sesshu.config import load_settings
from sesshu.web.app import create_app


class _DropQueryString(logging.Filter):
    """Search conditions (names, birth dates) travel in query strings; keep them out of the access log.

    The audit log already records every search with its conditions, where they are protected.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = args[2].split("?", 1)[0]
            record.args = tuple(args)
        return True


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

    With --workers > 1 uvicorn binds the listening socket itself with proto 0; accepted sockets inherit it
    and asyncio only sets TCP_NODELAY when proto is IPPROTO_TCP, so every response on a kept-alive
    connection waited ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149, open for 0.54). A venue
    station's browser keeps its connection alive: a dose (scan + F2) paid ~80 ms for nothing.
    """

    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def app_factory():
    """The application for one worker process (uvicorn --workers starts each with this factory):
    settings come from the environment, as for a single process."""
    logging.getLogger("uvicorn.access").addFilter(_DropQueryString())
    return create_app(load_settings())


def serve(host: str, port: int, workers: int = 1) -> None:
    """Serve on host:port. With workers > 1 uvicorn runs that many processes on the same socket; every
    piece of state a request needs (sessions, challenges, throttles, jobs) is in the database, so any
    worker can answer any request."""
    settings = load_settings()
    if workers > 1:
        uvicorn.run("sesshu.web.server:app_factory", factory=True, workers=workers, host=host, port=port,
                    **server_options(settings))
        return
    app = create_app(settings)
    logging.getLogger("uvicorn.access").addFilter(_DropQueryString())
    uvicorn.run(app, host=host, port=port, **server_options(settings))


def server_options(settings) -> dict:
    """Behind the city's TLS terminator the connection comes from the proxy: its X-Forwarded-For/-Proto
    are believed only when it is one of the listed addresses, so throttling, export terminals and the
    audit log see the real client and nobody else can claim an address."""
    trusted = settings.trusted_proxies.strip()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None, "server_header": False,
            "date_header": True, "http": NoDelayH11Protocol}
