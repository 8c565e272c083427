"""Three bodies on one machine — the hub, city A (the former city) and city B (the new city) — each
with its own database, its own keys and its own process. Used by scripts/linkage-demo and by the
integration test, so the demo a person watches is the scenario the test proves.

Processes: the hub (`sesshu hub serve`), A's linkage daemon (`sesshu linkage serve`), and B's
commands (`sesshu linkage move-in/inquire/sync`, each its own process). Set-up that stands in for
the web pages (staff preparing, checking and approving 副本) calls the same services in-process.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sesshu.actor import Actor
from sesshu.config import Settings, load_settings
from sesshu.db import Database, make_database

OPERATOR = Actor(login_id="linkage-demo", kind="os", role="operator")
PASSWORD = "kumagaya-Sesshu-2026"
REGISTRY_HEADER = ("宛名番号,個人番号,氏名,氏名カナ,性別,生年月日,郵便番号,住所,電話番号,世帯番号,続柄,世帯主氏名,住民区分,"
                   "異動事由,異動日")
RECORD_HEADER = ("宛名番号,接種種別,期,回数,接種区分,接種年月日,予診区分,接種医療機関コード,接種医師コード,予診医療機関コード,"
                 "予診医師コード,実施場所コード,ワクチン会社,LotNo,接種量,請求月,初回ワクチン区分,二混合区分,合併前市町村,券番号,備考")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sesshu() -> list[str]:
    return [str(Path(sys.executable).parent / "sesshu")]


@dataclass
class City:
    body_id: str
    name: str
    root: Path
    hub_url: str
    settings: Settings = field(init=False)
    db: Database = field(init=False)
    staff: dict[str, Actor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings = load_settings(**self.overrides())

    def overrides(self) -> dict:
        return {"var_dir": self.root, "database_url": f"sqlite:///{self.root / 'sesshu.db'}",
                "linkage_hub_url": self.hub_url, "linkage_body_id": self.body_id, "municipality_code": self.body_id,
                "municipality_name": self.name, "linkage_poll_ms": 200}

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
        env.update({f"SESSHU_{k.upper()}": str(v) for k, v in self.overrides().items()})
        return env

    def open(self, template: Path | None) -> None:
        if template is not None:
            shutil.copy(template, self.root / "sesshu.db")
        else:
            from sesshu.ledger.reference import sync_reference_data
            from sesshu.migrate import upgrade

            upgrade(self.settings)
            sync_reference_data(make_database(self.settings))
        self.db = make_database(self.settings)

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """One `sesshu` command as its own process, with this city's settings."""
        done = subprocess.run([*_sesshu(), *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"sesshu {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def add_staff(self, login_id: str, role: str) -> Actor:
        from sqlalchemy import text

        from sesshu.auth.service import create_user

        create_user(self.db, self.settings, actor=OPERATOR, login_id=login_id, display_name=login_id, role=role,
                    password=PASSWORD, tasks=(("yobo_sesshu", "健康づくり課"),))
        with self.db.transaction() as s:
            uid = s.execute(text("SELECT id FROM staff_user WHERE login_id = :l"), {"l": login_id}).scalar_one()
        self.staff[login_id] = Actor(login_id=login_id, kind="user", role=role, user_id=uid)
        return self.staff[login_id]

    def load_registry(self, rows: list[str]) -> None:
        from sesshu.registry.service import import_registry

        path = self.root / "registry.csv"
        path.write_text(REGISTRY_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        import_registry(self.db, self.settings, path=path, actor=OPERATOR)

    def load_records(self, rows: list[str]) -> None:
        from sesshu.ledger.service import evaluate_pending, import_records

        path = self.root / "records.csv"
        path.write_text(RECORD_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        import_records(self.db, self.settings, path=path, actor=OPERATOR)
        evaluate_pending(self.db, actor=OPERATOR)


@dataclass
class World:
    root: Path
    a: City = field(init=False)
    b: City = field(init=False)
    hub_port: int = field(init=False)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hub_port = _free_port()
        url = f"http://127.0.0.1:{self.hub_port}"
        self.a = City("112020", "熊谷市", self.root / "city-a", url)
        self.b = City("112089", "深谷市", self.root / "city-b", url)

    @property
    def hub_db_path(self) -> Path:
        return self.root / "hub" / "hub.db"

    def write_hub_config(self, permits: list[dict]) -> Path:
        from sesshu.linkage.service import body_card

        (self.root / "hub").mkdir(parents=True, exist_ok=True)
        path = self.root / "hub" / "hub.yaml"
        path.write_text(yaml.safe_dump({"bodies": [body_card(self.a.settings), body_card(self.b.settings)],
                                        "permits": permits}, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def start_hub(self, config: Path, template: Path | None = None) -> None:
        if template is not None:
            shutil.copy(template, self.hub_db_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSHU_")}
        env["SESSHU_VAR_DIR"] = str(self.root / "hub")
        self._spawn([*_sesshu(), "hub", "serve", "--port", str(self.hub_port), "--db",
                     f"sqlite:///{self.hub_db_path}", "--config", str(config)], env, self.root / "hub" / "hub.log")
        self._wait_http(f"http://127.0.0.1:{self.hub_port}/healthz")

    def start_daemon(self, city: City) -> None:
        self._spawn([*_sesshu(), "linkage", "serve"], city.env(), city.root / "linkage.log")

    def _spawn(self, args: list[str], env: dict, log: Path) -> None:
        out = open(log, "ab")
        self.processes.append(subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT))

    def _wait_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError("a linkage process ended early: see the logs under " + str(self.root))
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer")

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.processes.clear()
        for city in (self.a, self.b):
            if hasattr(city, "db"):
                city.db.dispose()


# Two residents of A who move to B. 秩父 太郎 is under a DV support measure at A: 自動応答不可.
HANAKO_A, HANAKO_B = "3141592653", "5772156649"
TARO_A, TARO_B = "2718281828", "1618033988"
HANAKO_NUMBER, TARO_NUMBER = "876543210989", "765432109875"  # valid check digits, synthetic
PERMITS = [{"requester": "112089", "task": "tokuso_sesshu", "provider": "112020", "info": "vaccination_history",
            "legal_basis": "番号法第19条第8号・別表第二 115の2の項（別表第二省令 第59条の2）"}]


def load_people(world: "World") -> None:
    """A's registry and ledger (the two have moved out), B's registry (they moved in)."""
    world.a.load_registry([
        f"{HANAKO_A},{HANAKO_NUMBER},熊谷 花子,クマガヤ ハナコ,女,2024-04-10,,熊谷市宮町1-1,,,,,転出,転出,2025-03-31",
        f"{TARO_A},{TARO_NUMBER},秩父 太郎,チチブ タロウ,男,2023-05-01,,熊谷市本町2-2,,,,,転出,転出,2025-03-31"])
    world.a.load_records([
        f"{HANAKO_A},HIB,,1,,2024-06-10,,,,,,,,HB001,0.5,,,,,,",
        f"{HANAKO_A},HIB,,2,,2024-07-10,,,,,,,,HB002,0.5,,,,,,",
        f"{HANAKO_A},HIB,,3,,2024-08-10,,,,,,,,HB003,0.5,,,,,,",
        f"{HANAKO_A},BCG,,1,,2024-09-02,,,,,,,,BC001,,,,,,,",
        f"{TARO_A},MR,1,1,,2024-05-02,,,,,,,,MR001,0.5,,,,,,"])
    world.b.load_registry([
        f"{HANAKO_B},{HANAKO_NUMBER},熊谷 花子,クマガヤ ハナコ,女,2024-04-10,,深谷市仲町3-3,,,,,住民,転入,2025-04-01",
        f"{TARO_B},{TARO_NUMBER},秩父 太郎,チチブ タロウ,男,2023-05-01,,深谷市西島4-4,,,,,住民,転入,2025-04-01"])


def personal_strings() -> list[str]:
    """What must never be readable in the hub's storage."""
    return ["熊谷 花子", "クマガヤ", "秩父 太郎", "チチブ", HANAKO_A, HANAKO_B, TARO_A, TARO_B, HANAKO_NUMBER,
            TARO_NUMBER, "HB001", "2024-06-10", "宮町", "仲町"]


def hub_storage(world: "World") -> bytes:
    """The hub database's bytes (after a WAL checkpoint, with any WAL left)."""
    import sqlite3

    con = sqlite3.connect(world.hub_db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return b"".join(p.read_bytes() for p in sorted(world.hub_db_path.parent.glob("hub.db*")))


def publish_copies(city: City, preparer: Actor, checker: Actor, approver: Actor) -> int:
    """Three people: one prepares the 副本 batch, a second checks it, a supervisor approves it."""
    from sesshu.approvals import service as approvals
    from sesshu.linkage import service as linkage

    batch = linkage.prepare_batch(city.db, actor=preparer)
    approval_id = linkage.check_batch(city.db, city.settings, actor=checker, batch_id=batch.id,
                                      expected_version=batch.version)
    approvals.approve(city.db, city.settings, actor=approver, approval_id=approval_id, expected_version=1)
    return batch.id


def json_of(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout)
