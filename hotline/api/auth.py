"""X-API-Key authentication and role checks.

Roles: `intake`, `admin`, `department:<unit code>`. A missing, unknown or revoked key is 401;
a valid key whose role may not do the thing is 403.
"""
from __future__ import annotations

from fastapi import Depends, Header, Request

from hotline.api.errors import ApiError
from hotline.api.throttle import checked_key
from hotline.store.apikeys import Principal

KEY_HEADER = "X-API-Key"


def authenticate(request: Request, key: str | None) -> Principal:
    if not key:
        raise ApiError(401, f"missing {KEY_HEADER} header")
    p = checked_key(request, key)  # rate per key; wrong keys count against the address
    if p is None:
        raise ApiError(401, "unknown or revoked API key")
    return p


def principal(request: Request, x_api_key: str | None = Header(
        default=None, description="the caller's API key (roles: intake, admin, department:<code>)")) -> Principal:
    return authenticate(request, x_api_key)


def require(*roles: str):
    def dep(p: Principal = Depends(principal)) -> Principal:
        if p.role not in roles:
            raise ApiError(403, f"role {p.role} may not do this (needs {' or '.join(roles)})")
        return p
    return dep
