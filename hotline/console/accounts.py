"""Staff accounts of the web console: created, disabled and reset from the CLI, checked at sign-in.

Passwords are hashed with argon2id (argon2-cffi's defaults). An account carries one of the API
keys' role strings (`intake`, `admin`, `department:<code>`), so a signed-in person acts with
exactly the authority of a key of that role (hotline.store.apikeys.Principal).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from hotline.store import Database
from hotline.store.apikeys import ROLE, Principal
from hotline.store.tables import StaffAccountRow

HASHER = PasswordHasher()
# A well-formed hash to verify against when the login is unknown, so both cases take as long.
_DUMMY = HASHER.hash("not-a-password")
LOGIN = re.compile(r"^[^\x00-\x20\x7f/:]{1,64}$")
MIN_PASSWORD = 10


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    name: str
    role: str
    epoch: int

    @property
    def principal(self) -> Principal:
        """The same principal an API key of this role gives; admins act under their own name."""
        kind, _, unit = self.role.partition(":")
        return Principal(role=kind, unit=unit or None, label=self.name, key_id=self.id)


def _account(r: StaffAccountRow) -> Account:
    return Account(id=r.id, login=r.login, name=r.name, role=r.role, epoch=r.session_epoch or 0)


def new_password() -> str:
    return secrets.token_urlsafe(12)


def role_for(unit: str | None, role: str | None) -> str:
    """`--unit ZJJ` is a clerk of ZJJ (HOTLINE: the hotline office); `--role intake|admin` otherwise."""
    if unit and role:
        raise AccountError("give --unit (a department clerk) or --role (intake, admin), not both")
    if unit:
        return "admin" if unit == "HOTLINE" else f"department:{unit}"
    if role in ("intake", "admin"):
        return role
    raise AccountError("give --unit <UNIT CODE> for a department clerk, or --role intake|admin")


def create_account(db: Database, name: str, role: str, login: str | None = None, password: str | None = None,
                   known_units: set[str] | None = None) -> tuple[Account, str]:
    """The account and its first password (generated unless given)."""
    login = (login or name).strip()
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("the name must have 1 to 64 characters")
    if not LOGIN.match(login):
        raise AccountError(f"login {login!r}: 1 to 64 characters, no spaces, '/' or ':'")
    if not ROLE.match(role):
        raise AccountError(f"unknown role {role!r}: use intake, admin or department:<UNIT CODE>")
    if role.startswith("department:") and known_units is not None and role.split(":", 1)[1] not in known_units:
        raise AccountError(f"unknown unit {role.split(':', 1)[1]!r}")
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    with db.session() as s:
        if s.scalar(select(StaffAccountRow.id).where(StaffAccountRow.login == login)) is not None:
            raise AccountError(f"login {login!r} is taken; choose another with --login")
        row = StaffAccountRow(login=login, name=name, role=role, password_hash=HASHER.hash(password),
                              session_epoch=0, created_at=datetime.now(timezone.utc))
        s.add(row)
        s.flush()
        return _account(row), password


def _find(s, login: str) -> StaffAccountRow:
    row = s.scalar(select(StaffAccountRow).where(StaffAccountRow.login == login))
    if row is None:
        raise AccountError(f"no account {login!r}")
    return row


def disable_account(db: Database, login: str) -> None:
    """Refuses sign-in from now on and ends the account's open sessions."""
    with db.session() as s:
        row = _find(s, login)
        row.disabled_at = row.disabled_at or datetime.now(timezone.utc)
        row.session_epoch = (row.session_epoch or 0) + 1


def enable_account(db: Database, login: str) -> None:
    with db.session() as s:
        _find(s, login).disabled_at = None


def reset_password(db: Database, login: str, password: str | None = None) -> str:
    """A new password (generated unless given); every open session of the account ends."""
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    with db.session() as s:
        row = _find(s, login)
        row.password_hash = HASHER.hash(password)
        row.session_epoch = (row.session_epoch or 0) + 1
    return password


def end_sessions(db: Database, account_id: int) -> None:
    with db.session() as s:
        row = s.get(StaffAccountRow, account_id)
        if row is not None:
            row.session_epoch = (row.session_epoch or 0) + 1


def list_accounts(db: Database) -> list[tuple[Account, bool]]:
    with db.session() as s:
        rows = s.scalars(select(StaffAccountRow).order_by(StaffAccountRow.login)).all()
        return [(_account(r), r.disabled_at is not None) for r in rows]


def authenticate(db: Database, login: str, password: str) -> Account | None:
    """The account if the password is right and the account enabled; None otherwise (one answer
    for every failure, so a caller cannot tell a wrong password from a disabled account)."""
    with db.session() as s:
        row = s.scalar(select(StaffAccountRow).where(StaffAccountRow.login == login))
        try:
            HASHER.verify(row.password_hash if row is not None else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled_at is not None:
            return None
        if HASHER.check_needs_rehash(row.password_hash):
            row.password_hash = HASHER.hash(password)
        return _account(row)


def active_account(db: Database, account_id: int, epoch: int) -> Account | None:
    """The session's account, if it is still enabled and the session not ended since."""
    with db.session() as s:
        row = s.get(StaffAccountRow, account_id)
        if row is None or row.disabled_at is not None or (row.session_epoch or 0) != epoch:
            return None
        return _account(row)


DEV_LOGIN = "dev-office"


def ensure_dev_account(db: Database, marker) -> tuple[str, str] | None:
    """On the first start of the embedded stack, a hotline-office account to sign in with:
    (login, password), returned once; only the argon2 hash is kept. None on later starts, or
    when the login is already taken (then `starter.py user create` makes one)."""
    if marker.exists():
        return None
    try:
        account, password = create_account(db, "开发账号（热线办）", "admin", login=DEV_LOGIN)
    except AccountError:
        return None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("a development console account was printed at first start; create more with "
                      "`starter.py user create`, or `starter.py user reset-password dev-office`\n")
    return account.login, password
