"""`sesshu serve --workers 2`: two uvicorn processes on one socket. Every piece of request state
(session, CSRF token, the half-done sign-in between password and TOTP) lives in the database, so a
staff member signs in and works whichever process answers each request."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sesshu.actor import Actor
from sesshu.auth.service import create_user, demo_totp_code
from tests.helpers import free_port

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "kumagaya-Workers-2026"


def _children(pid: int) -> list[int]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                out.append(int(entry.name))
    return out


def test_two_worker_processes_share_sessions_through_the_database(db, settings):
    create_user(db, settings, actor=Actor(login_id="setup", kind="os", role="operator"), login_id="workers1",
                display_name="並列 一郎", role="clerk", password=PASSWORD, is_demo=True,
                tasks=(("yobo_sesshu", "健康づくり課"),))
    port = free_port()
    env = dict(os.environ, SESSHU_DATABASE_URL=settings.database_url, SESSHU_VAR_DIR=str(settings.var_dir))
    server = subprocess.Popen([sys.executable, "-m", "sesshu", "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200 and len(_children(server.pid)) >= 2:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.time() < deadline, "the server did not start two workers"
            time.sleep(0.2)
        workers = _children(server.pid)
        assert len(workers) == 2

        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as c:
            page = c.get("/login")
            r = c.post("/login", data={"login_id": "workers1", "password": PASSWORD,
                                       "csrf_token": CSRF.search(page.text)[1]})
            assert r.status_code == 303 and r.headers["location"] == "/login/totp"
            page = c.get("/login/totp")
            r = c.post("/login/totp", data={"code": demo_totp_code(db, settings, login_id="workers1"),
                                            "csrf_token": CSRF.search(page.text)[1]})
            assert r.status_code == 303 and r.headers["location"] == "/"
            # Many requests on fresh connections: the kernel spreads them over both processes.
            for _ in range(30):
                with httpx.Client(base_url=base, follow_redirects=False, timeout=10, cookies=c.cookies) as fresh:
                    r = fresh.get("/search?kana=%E3%82%A2")
                    assert r.status_code == 200, r.text[:300]
                    assert "並列 一郎" in r.text  # signed in, whichever worker answered
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)


def test_kept_alive_connections_have_nagle_off_on_a_listener_bound_as_the_workers_bind_it(settings):
    """--workers binds the listener with proto 0 (uvicorn's Config.bind_socket); asyncio then leaves
    TCP_NODELAY off and each kept-alive response waits for a delayed ACK. Our protocol sets it itself."""
    import asyncio
    import socket
    import threading

    import uvicorn

    from sesshu.web.server import server_options

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn binds it for --workers
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert listener.proto == 0
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", **server_options(settings)))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.05)
        with socket.create_connection(listener.getsockname(), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
            [protocol] = list(server.server_state.connections)
            accepted = protocol.transport.get_extra_info("socket")
            assert accepted.proto == 0  # inherited from the listener: asyncio did not set the option
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
