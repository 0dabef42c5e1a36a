"""Key checks with limits: each API key has its own request rate, and wrong keys count against
the client address that sent them.

An address that has sent too many wrong keys waits before any key of it is looked at again,
right or wrong: refusing only the wrong ones would tell a guesser which key was right.
A missing key costs nothing to refuse and is not counted.
"""
from __future__ import annotations

from fastapi import Request

from hotline.api.errors import ApiError
from hotline.api.guard import retry_after
from hotline.runtime.ratelimit import Buckets
from hotline.runtime.settings import Limits
from hotline.store.apikeys import Principal, verify_key


class KeyThrottle:
    def __init__(self, limits: Limits) -> None:
        self.per_key = Buckets(limits.per_key) if limits.per_key else None
        self.failures = Buckets(limits.auth_failures) if limits.auth_failures else None


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def checked_key(request: Request, key: str) -> Principal | None:
    """The key's principal, None for an unknown or revoked key; 429 (ApiError) when the address
    is locked out after wrong keys, or the key has used up its rate."""
    t: KeyThrottle | None = getattr(request.app.state, "key_throttle", None)
    ip = _address(request)
    if t is not None and t.failures is not None:
        wait = t.failures.empty_for(ip)
        if wait:
            raise ApiError(429, "too many wrong API keys from this address; retry later", headers=retry_after(wait))
    p = verify_key(request.app.state.db, key)
    if t is None:
        return p
    if p is None:
        if t.failures is not None:
            t.failures.take(ip)
        return None
    wait = t.per_key.take(p.key_id) if t.per_key is not None else 0.0
    if wait:
        raise ApiError(429, "this API key has sent too many requests; retry later", headers=retry_after(wait))
    return p
