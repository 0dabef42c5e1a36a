"""API keys through the CLI: `starter.py apikey create` prints the key as its last line, only a
hash is stored, `apikey revoke` takes the key or its printed prefix; roles are checked."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

import starter
from hotline.domain.catalogue import default_catalogue_path
from hotline.store import Database
from hotline.store.apikeys import ApiKeyError, create_key, verify_key
from hotline.store.tables import ApiKeyRow


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    path = tmp_path / "keys.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")

    def run(*argv: str) -> tuple[int, str, str]:
        code = starter.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    run.path = path
    run.db = lambda: Database(f"sqlite:///{path}")
    return run


def test_create_prints_the_key_last_and_stores_only_its_hash(cli):
    code, out, _ = cli("apikey", "create", "--role", "admin", "--label", "ops")
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("hk_") and len(key) > 30
    db = cli.db()
    with db.session() as s:
        rows = s.scalars(select(ApiKeyRow)).all()
    assert len(rows) == 1
    assert rows[0].key_hash == hashlib.sha256(key.encode()).hexdigest() and rows[0].role == "admin"
    db.dispose()
    for f in cli.path.parent.glob(cli.path.name + "*"):  # the database and its WAL
        assert key.encode() not in f.read_bytes(), f"the key itself must never be stored ({f.name})"
    p = verify_key(cli.db(), key)
    assert p.role == "admin" and p.unit is None and p.actor == "admin:ops"


def test_department_and_intake_keys(cli):
    code, _, err = cli("apikey", "create", "--role", "department:NOPE")
    assert code == 2 and "unknown unit" in err
    assert cli("units", "import", str(default_catalogue_path()))[0] == 0
    code, out, _ = cli("apikey", "create", "--role", "department:ZJJ")
    assert code == 0
    p = verify_key(cli.db(), out.strip().splitlines()[-1])
    assert (p.role, p.unit, p.actor) == ("department", "ZJJ", "ZJJ")
    code, out, _ = cli("apikey", "create", "--role", "intake")
    p = verify_key(cli.db(), out.strip().splitlines()[-1])
    assert p.role == "intake" and p.actor.startswith("intake:")


@pytest.mark.parametrize("role", ["root", "department:", "department:zjj", "department:NOPE", "admin:x", ""])
def test_bad_roles_are_refused_and_nothing_is_stored(cli, role):
    cli("units", "import", str(default_catalogue_path()))
    code, out, err = cli("apikey", "create", "--role", role)
    assert code == 2 and err.startswith("error:") and "hk_" not in out
    with cli.db().session() as s:
        assert s.scalars(select(ApiKeyRow)).all() == []


def test_revoke_by_key_or_prefix(cli):
    keys = [cli("apikey", "create", "--role", "admin")[1].strip().splitlines()[-1] for _ in range(2)]
    code, out, _ = cli("apikey", "revoke", keys[0])
    assert code == 0 and "revoked 1" in out
    assert verify_key(cli.db(), keys[0]) is None and verify_key(cli.db(), keys[1]) is not None
    assert cli("apikey", "revoke", keys[0])[0] == 2  # already revoked
    assert cli("apikey", "revoke", keys[1][:10])[0] == 0
    assert verify_key(cli.db(), keys[1]) is None
    assert cli("apikey", "revoke", "hk_unknown")[0] == 2


def test_long_labels_still_make_a_valid_actor(sqlite_db):
    key = create_key(sqlite_db, "admin", label="x" * 120)
    assert len(verify_key(sqlite_db, key).actor) <= 64
    with pytest.raises(ApiKeyError):
        create_key(sqlite_db, "department:ZJJ", known_units={"SWJ"})
