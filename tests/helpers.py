"""Small builders shared by tests."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sesshu.domain.my_number import check_digit

REGISTRY_HEADER = "宛名番号,個人番号,氏名,氏名カナ,性別,生年月日,郵便番号,住所,電話番号,世帯番号,続柄,世帯主氏名,住民区分,異動事由,異動日"
RECORD_HEADER = ("宛名番号,接種種別,期,回数,接種区分,接種年月日,予診区分,接種医療機関コード,接種医師コード,予診医療機関コード,"
                 "予診医師コード,実施場所コード,ワクチン会社,LotNo,接種量,請求月,初回ワクチン区分,二混合区分,合併前市町村,券番号,備考")


def my_number(base11: str) -> str:
    return base11 + str(check_digit(base11))


def write(path: Path, body: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(body.encode(encoding))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app, port: int | None = None, **options) -> Iterator[int]:
    """Serve `app` with a real uvicorn on 127.0.0.1 in a thread; yields the port (stopped on exit)."""
    import threading
    import time

    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.db.dispose()


STAFF_PASSWORD = "kumagaya-Sesshu-2026"


def staff_actor(db, settings, login_id: str, role: str = "supervisor"):
    """A real staff account assigned to the vaccination task, as the Actor the services take, and its
    TOTP secret (for commands that sign in)."""
    from sqlalchemy import select

    from sesshu.actor import Actor
    from sesshu.auth.models import StaffUser
    from sesshu.auth.service import create_user

    made = create_user(db, settings, actor=Actor(login_id="setup", kind="os", role="operator"), login_id=login_id,
                       display_name=login_id, role=role, password=STAFF_PASSWORD,
                       tasks=(("yobo_sesshu", "健康づくり課"),))
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == login_id)).scalar_one()
    return Actor(login_id=login_id, kind="user", role=role, user_id=uid), made.totp_secret
