"""Units' webhook secrets at rest (issue 13): sealed with the key ring in the database, still
read when written in clear before, sealed by the migration, re-sealed on rotation; and a unit
given a webhook URL with no secret is refused when the catalogue is imported, not discovered
later by a row that never goes out."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from hotline.api.app import create_app
from hotline.domain.catalogue import default_catalogue_path, load_catalogue
from hotline.domain.contracts import NotificationRequest
from hotline.runtime import keyring
from hotline.store import Database
from hotline.store.db import MIGRATIONS
from hotline.store.outbox import OutboxDispatcher, enqueue
from hotline.store.sealed import UnsealError, is_sealed, seal, unseal
from hotline.store.tables import OutboxRow, UnitRow
from hotline.store.webhooks import SIGNATURE_HEADER, verify
from tests.api.test_api import H, api_client, prepare
from tests.conftest import TEST_KEYS
from tests.harness import router
from tests.store.test_webhooks import Receiver

ROOT = Path(__file__).resolve().parents[2]


def stored(db: Database, unit: str) -> str | None:
    """The column as the database holds it (what a dump or a replica shows)."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT webhook_secret FROM units WHERE code = :c"), {"c": unit}).scalar()


def deliver_one(db: Database, unit: str) -> OutboxRow:
    key = f"SY20261126000001:dispatch:{unit}:{os.urandom(3).hex()}"
    with db.session() as s:
        enqueue(s, NotificationRequest(key=key, order_no="SY20261126000001", kind="dispatch", to=unit,
                                       subject="new work order SY20261126000001"))
    OutboxDispatcher(db).run_once()
    with db.session() as s:
        return s.scalar(select(OutboxRow).where(OutboxRow.key == key))


def test_seal_opens_with_every_key_of_the_ring_and_only_for_its_purpose():
    old = keyring.generate("old")
    sealed = seal(old, "webhook_secret", "whs_abc")
    assert is_sealed(sealed) and "whs_abc" not in sealed and ":old:" in sealed
    rotated = old.rotated("new")
    assert unseal(rotated, "webhook_secret", sealed) == "whs_abc"  # the old key still opens it
    assert ":new:" in seal(rotated, "webhook_secret", "whs_abc")  # the newest seals
    assert unseal(rotated, "webhook_secret", "whs_plain") == "whs_plain"  # a row from before sealing
    with pytest.raises(UnsealError, match="'old'.*not in the key ring"):
        unseal(keyring.generate("other"), "webhook_secret", sealed)
    with pytest.raises(UnsealError, match="does not open"):
        unseal(old, "api_key", sealed)  # bound to its purpose


@pytest.mark.parametrize("db_name", ["sqlite_db", "pg_db"])
async def test_a_rotated_secret_is_stored_sealed_and_signs_deliveries(request, db_name):
    db = request.getfixturevalue(db_name)
    keys = prepare(db)
    async with api_client(create_app(db, None, router())) as c:
        r = await c.post("/api/v1/units/ZJJ/webhook-secret", headers=H(keys["admin"]))
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    raw = stored(db, "ZJJ")
    assert raw.startswith(f"sealed:v1:{TEST_KEYS.current[0]}:") and secret not in raw
    if db.is_sqlite:  # nowhere in the file either
        assert secret.encode() not in Path(db.url.split("///", 1)[1]).read_bytes()
    with Receiver() as rx:
        with db.session() as s:
            s.get(UnitRow, "ZJJ").webhook_url = f"{rx.url}/hooks/ZJJ"
        assert deliver_one(db, "ZJJ").status == "delivered"
        post = rx.delivered()[0]
    assert verify(secret, post["body"], post["headers"][SIGNATURE_HEADER])  # signed with the clear secret


def test_a_secret_stored_in_clear_before_is_read_and_the_migration_seals_it(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection_engine"] = db.engine
    command.upgrade(cfg, "0005")  # a database from before sealing
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO units (code, name, type, districts, places, webhook_url, webhook_secret) "
                          "VALUES ('ZJJ', '住建局', 'department', '[]', '[]', NULL, 'whs_from_before')"))
    with db.session() as s:  # the new code reads the old row as it is
        assert s.get(UnitRow, "ZJJ").webhook_secret == "whs_from_before"
    db.migrate()  # 0006: the column widened, the clear secret sealed
    raw = stored(db, "ZJJ")
    assert is_sealed(raw) and "whs_from_before" not in raw
    with db.session() as s:
        assert s.get(UnitRow, "ZJJ").webhook_secret == "whs_from_before"
    command.downgrade(cfg, "0005")  # and back: opened again to fit the old column
    assert stored(db, "ZJJ") == "whs_from_before"
    db.dispose()


def test_a_secret_sealed_with_a_retired_key_says_which_key_is_missing(sqlite_db):
    prepare(sqlite_db)
    retired = keyring.generate("retired-1")
    with Receiver() as rx:
        with sqlite_db.engine.begin() as conn:
            conn.execute(text("UPDATE units SET webhook_url = :u, webhook_secret = :s WHERE code = 'ZJJ'"),
                         {"u": f"{rx.url}/hooks/ZJJ", "s": seal(retired, "webhook_secret", "whs_gone")})
        row = deliver_one(sqlite_db, "ZJJ")
        assert rx.posts == []  # never signed with the ciphertext
    assert row.status == "pending" and "'retired-1', not in the key ring" in row.last_error


async def test_a_webhook_url_without_a_secret_is_refused_at_import(sqlite_db, monkeypatch):
    monkeypatch.delenv("HOTLINE_WEBHOOK_SECRET", raising=False)
    db, keys = sqlite_db, prepare(sqlite_db)
    catalogue = default_catalogue_path().read_text(encoding="utf-8")
    hooked = catalogue.replace("webhook_url: null", "webhook_url: https://zjj.example.gov.cn/hooks", 1)
    assert hooked != catalogue
    code = next(u.code for u in load_catalogue(hooked).units if u.webhook_url)
    async with api_client(create_app(db, None, router())) as c:
        admin = {**H(keys["admin"]), "Content-Type": "application/yaml"}
        r = await c.post("/api/v1/units/import", headers=admin, content=hooked.encode())
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_catalogue" and "nothing changed" in err["message"]
        assert any(f"unit {code}: webhook_url" in d and "no signing secret" in d for d in err["details"]), err
        with db.session() as s:
            assert s.get(UnitRow, code).webhook_url is None  # nothing changed
        # the way out the message names: a secret first, then the URL; the secret survives the import
        r = await c.post(f"/api/v1/units/{code}/webhook-secret", headers=H(keys["admin"]))
        secret = r.json()["secret"]
        r = await c.post("/api/v1/units/import", headers=admin, content=hooked.encode())
        assert r.status_code == 200, r.text
    with db.session() as s:
        unit = s.get(UnitRow, code)
        assert unit.webhook_url == "https://zjj.example.gov.cn/hooks" and unit.webhook_secret == secret
    assert is_sealed(stored(db, code))


def test_the_deployments_secret_counts_and_the_cli_refuses_too(tmp_path, monkeypatch):
    monkeypatch.delenv("HOTLINE_WEBHOOK_SECRET", raising=False)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    Database(url).migrate()
    hooked = tmp_path / "units.yaml"
    hooked.write_text(default_catalogue_path().read_text(encoding="utf-8").replace(
        "webhook_url: null", "webhook_url: https://zjj.example.gov.cn/hooks", 1), encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("HOTLINE_WEBHOOK_SECRET", None)
    run = subprocess.run([sys.executable, "starter.py", "units", "import", str(hooked)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "refused, nothing changed" in run.stderr and "no signing secret" in run.stderr
    run = subprocess.run([sys.executable, "starter.py", "units", "import", str(hooked)], cwd=ROOT,
                         env={**env, "HOTLINE_WEBHOOK_SECRET": "whs_deployment"}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
