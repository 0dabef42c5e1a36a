"""X-API-Key authentication and role checks."""
from __future__ import annotations

from fastapi import Depends, Header, Request

from hotline.api.errors import ApiError
from hotline.apikeys import Principal, verify_key


def principal(request: Request, x_api_key: str | None = Header(default=None)) -> Principal:
    if not x_api_key:
        raise ApiError(401, "missing X-API-Key header")
    p = verify_key(request.app.state.db, x_api_key)
    if p is None:
        raise ApiError(401, "unknown or revoked API key")
    return p


def require(*roles: str):
    def dep(p: Principal = Depends(principal)) -> Principal:
        if p.role not in roles:
            raise ApiError(403, f"role {p.role} may not do this (needs {' or '.join(roles)})")
        return p
    return dep
