"""API keys: shown once at creation, stored only as a SHA-256 hash, revocable."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from hotline.domain.actor import Actor
from hotline.domain.codes import UNIT_CODE_BODY
from hotline.store import Database
from hotline.store.tables import ApiKeyRow

ROLE = re.compile(rf"^(intake|admin|department:{UNIT_CODE_BODY})$")  # unit codes as in the catalogue


class ApiKeyError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    role: str  # intake | admin | department
    unit: str | None  # the department's unit code
    label: str | None
    key_id: int

    @property
    def acting_as(self) -> Actor | None:
        """The typed actor of actions taken with this key: its unit, or the named admin. Intake
        keys take no actions on orders."""
        if self.role == "department":
            return Actor.of_unit(self.unit or "")  # a department key without its unit is refused as malformed
        if self.role == "admin":
            return Actor.of_admin(self.label or str(self.key_id))
        return None

    @property
    def actor(self) -> str:
        """Who did it, as recorded: the `by` of actions, the author of imports and reviews."""
        acting = self.acting_as
        return str(acting) if acting is not None else f"intake:{self.key_id}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: Database, role: str, label: str | None = None, known_units: set[str] | None = None) -> str:
    if not ROLE.match(role):
        raise ApiKeyError(f"unknown role {role!r}: use intake, admin or department:<UNIT CODE>")
    if role.startswith("department:") and known_units is not None and role.split(":", 1)[1] not in known_units:
        raise ApiKeyError(f"unknown unit {role.split(':', 1)[1]!r} in role {role!r}")
    key = "hk_" + secrets.token_urlsafe(24)
    with db.session() as s:
        s.add(ApiKeyRow(key_hash=_hash(key), prefix=key[:10], role=role, label=label,
                        created_at=datetime.now(timezone.utc)))
    return key


def revoke_key(db: Database, key_or_prefix: str) -> int:
    with db.session() as s:
        rows = s.scalars(select(ApiKeyRow).where(
            (ApiKeyRow.key_hash == _hash(key_or_prefix)) | (ApiKeyRow.prefix == key_or_prefix),
            ApiKeyRow.revoked_at.is_(None))).all()
        for r in rows:
            r.revoked_at = datetime.now(timezone.utc)
        return len(rows)


def verify_key(db: Database, key: str) -> Principal | None:
    with db.session() as s:
        row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == _hash(key)))
        if row is None or row.revoked_at is not None:
            return None
        role, _, unit = row.role.partition(":")
        return Principal(role=role, unit=unit or None, label=row.label, key_id=row.id)


def ensure_dev_admin_key(db: Database, marker: Path) -> str | None:
    """On the first start of the embedded stack, create an admin key and return it (once)."""
    if marker.exists():
        return None
    key = create_key(db, "admin", label="dev")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("a development admin key was printed at first start; create more with "
                      "`starter.py apikey create --role admin`\n")
    return key
