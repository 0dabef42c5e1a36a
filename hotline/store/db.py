"""Engine and session factory; migrations through Alembic, run programmatically."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hotline.runtime.settings import SettingsError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the gateway read while the worker writes; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # With WAL, NORMAL syncs at checkpoints, not every commit: safe against a process crash
    # (a power cut may lose the last commits; Temporal retries the activities that wrote them).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _private_file(path: Path) -> None:
    """The database holds petitioners' names and phones and webhook secrets: readable by its
    owner only (0600). SQLite gives its -wal and -shm files the same mode as the database."""
    try:
        if path.exists():
            os.chmod(path, 0o600)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # an empty file is an empty database
    except OSError:  # not ours to change (a read-only mount): SQLite reports what matters
        pass


class Database:
    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    _private_file(Path(path))
                self.engine: Engine = create_engine(url, echo=echo)
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise SettingsError(f"DATABASE_URL is malformed: {exc}") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time; threads that collide wait in its busy handler, which
        # sleeps in growing steps (up to 100 ms) however soon the lock frees. Writers of this
        # process queue on a lock instead and go the moment the previous commit is done.
        self._write_lock = threading.RLock() if self.is_sqlite else nullcontext()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def check(self) -> None:
        """Connect once; an unreachable database becomes one clear line."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise SettingsError(
                f"DATABASE_URL: cannot connect to {self.engine.url.render_as_string(hide_password=True)}: {first}"
            ) from None

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_engine"] = self.engine
        command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s:
            with s.begin():
                yield s

    @contextmanager
    def writer(self) -> Iterator[Session]:
        """A transaction for the worker's short writes (activities, outbox)."""
        with self._write_lock, self.session() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def make_database(url: str) -> Database:
    return Database(url)
