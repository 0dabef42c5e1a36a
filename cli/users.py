"""`starter.py user …`: staff accounts of the web console (create, disable, enable, reset-password, list)."""
from __future__ import annotations

import sys

from hotline.console.accounts import (
    AccountError,
    create_account,
    disable_account,
    enable_account,
    list_accounts,
    reset_password,
    role_for,
)


class UserCliError(Exception):
    pass


def _db():
    from hotline.runtime.settings import load_settings
    from hotline.store import Database
    db = Database(load_settings().database_url)
    db.migrate()
    return db


def _password(args) -> str | None:
    return sys.stdin.readline().rstrip("\n") if getattr(args, "password_stdin", False) else None


def cmd_user(args) -> None:
    db = _db()
    try:
        if args.user_cmd == "create":
            from hotline.services.intake import unit_codes
            role = role_for(args.unit, args.role)
            account, password = create_account(db, args.name, role, args.login, _password(args),
                                               known_units=unit_codes(db) or None)  # no catalogue yet: not checked
            print(f"account {account.login} ({account.name}, {account.role}) created; sign in at /console/login")
            print(f"password (shown once): {password}")
        elif args.user_cmd == "disable":
            disable_account(db, args.login)
            print(f"account {args.login} disabled; its sessions have ended")
        elif args.user_cmd == "enable":
            enable_account(db, args.login)
            print(f"account {args.login} enabled")
        elif args.user_cmd == "reset-password":
            password = reset_password(db, args.login, _password(args))
            print(f"new password of {args.login} (shown once): {password}")
        else:
            for account, disabled in list_accounts(db):
                state = "disabled" if disabled else "active"
                print(f"{account.login:<20} {account.name:<12} {account.role:<20} {state}")
    except AccountError as exc:
        raise UserCliError(str(exc)) from None


def add_commands(sub) -> None:
    u = sub.add_parser("user", help="staff accounts of the web console")
    u.set_defaults(handler=cmd_user)
    us = u.add_subparsers(dest="user_cmd", required=True)
    c = us.add_parser("create", help="a clerk (--unit ZJJ), an operator (--role intake) "
                                     "or the hotline office (--role admin)")
    c.add_argument("--name", required=True, help="the person's name, e.g. 李明")
    c.add_argument("--unit", help="unit code of a department clerk (HOTLINE: the hotline office)")
    c.add_argument("--role", choices=["intake", "admin"])
    c.add_argument("--login", help="sign-in name (default: the name)")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else one is generated)")
    for name in ("disable", "enable"):
        us.add_parser(name).add_argument("login")
    r = us.add_parser("reset-password")
    r.add_argument("login")
    r.add_argument("--password-stdin", action="store_true")
    us.add_parser("list")
