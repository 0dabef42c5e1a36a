"""Console sessions, CSRF tokens and sign-in throttling.

A session is a signed cookie (HMAC-SHA256): account id, the account's session epoch, a random
session id and an expiry. HttpOnly and SameSite=Lax, Secure over HTTPS. It ends when it
expires, when the person logs out, or when the account is disabled or its password reset (the
epoch in the database moves on, so every cookie signed before stops counting).

Every form carries a CSRF token bound to the session id (before sign-in: to a random cookie of
its own), checked on every POST, so another site cannot make a signed-in browser act.

The signing secret is HOTLINE_CONSOLE_SECRET, else derived from the payload key ring that every
gateway of a deployment shares (rotating the ring ends sessions), else random per process.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass

from hotline.runtime.ratelimit import Buckets
from hotline.runtime.settings import Rate

log = logging.getLogger("hotline.console")

COOKIE = "hotline_console"
PRE_COOKIE = "hotline_console_pre"  # CSRF binding of the sign-in form
MAX_AGE = 8 * 3600  # one working day
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def load_secret() -> bytes:
    given = os.environ.get("HOTLINE_CONSOLE_SECRET", "")
    if given:
        return hashlib.sha256(given.encode()).digest()
    try:
        from hotline.runtime.settings import load_codec_keys
        _, key = load_codec_keys().current
        return hmac.new(key, b"hotline console sessions v1", hashlib.sha256).digest()
    except Exception:  # no key ring: sessions last as long as this process
        log.warning("no HOTLINE_CONSOLE_SECRET nor key ring: console sessions end when the gateway restarts")
        return secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    account_id: int
    epoch: int
    sid: str
    expires: int


class Signer:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self.secret, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def issue(self, account_id: int, epoch: int, now: float | None = None) -> tuple[str, Session]:
        s = Session(account_id, epoch, secrets.token_urlsafe(16), int((now or time.time()) + MAX_AGE))
        body = _b64(json.dumps([s.account_id, s.epoch, s.sid, s.expires], separators=(",", ":")).encode())
        return f"{body}.{self._mac('session', body)}", s

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or "." not in cookie or len(cookie) > 512:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            account_id, epoch, sid, expires = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        if not isinstance(expires, int) or expires < (now or time.time()):
            return None
        return Session(int(account_id), int(epoch), str(sid), expires)

    def csrf(self, binding: str) -> str:
        return self._mac("csrf", binding)

    def csrf_ok(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(token, self.csrf(binding))


class LoginThrottle:
    """Failed sign-ins, counted per login name and per client address: 5 tries for a name then
    one a minute, 20 for an address then one every 10 s. A refused try does not check the password."""

    def __init__(self) -> None:
        self.by_login = Buckets(Rate(1 / 60, 5))
        self.by_address = Buckets(Rate(1 / 10, 20))

    def wait(self, login: str, address: str) -> float:
        return max(self.by_login.empty_for(login), self.by_address.empty_for(address))

    def failed(self, login: str, address: str) -> None:
        self.by_login.take(login)
        self.by_address.take(address)
