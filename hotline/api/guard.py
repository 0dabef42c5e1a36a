"""The gateway's door (issue 13, "no limits"): rate per client address, body size and JSON
nesting, all checked before any route, parser or key lookup runs.

- Every request of one address takes a token of its bucket (the public Open311 endpoints one
  more, of a smaller bucket); an empty bucket is 429 with `Retry-After`. Health probes pass.
- A declared `Content-Length` beyond the limit is 413 at once, the body unread.
- Otherwise the body is counted as the app reads it, chunk by chunk: the read that crosses the
  limit fails with 413, so a 50 MB body is never held in memory. JSON bodies (and bodies
  without a type, which FastAPI reads as JSON) are measured for nesting on the way (400).
  Routes that take larger documents name their own limit (`larger`, by path prefix).

Per-key limits and failed keys are counted where the key is checked (hotline/api/throttle.py).
Client addresses are the connection's; behind a proxy, run uvicorn with `--proxy-headers`.
"""
from __future__ import annotations

import math

from starlette.exceptions import HTTPException

from hotline.api.errors import OPEN311_PREFIX, error_response
from hotline.api.jsondepth import DepthMeter
from hotline.runtime.ratelimit import Buckets
from hotline.runtime.settings import Limits

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


class Guard:
    def __init__(self, app, limits: Limits, larger: dict[str, int] | None = None) -> None:
        self.app, self.limits, self.larger = app, limits, dict(larger or {})
        self.per_ip = Buckets(limits.per_ip) if limits.per_ip else None
        self.open311 = Buckets(limits.open311_per_ip) if limits.open311_per_ip else None

    def _limit(self, path: str) -> int:
        return max([self.limits.max_body] + [n for prefix, n in self.larger.items() if path.startswith(prefix)])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        ip = (scope.get("client") or ("unknown",))[0]
        for buckets, what in ((self.per_ip, "this address"), (self.open311 if path.startswith(OPEN311_PREFIX)
                                                              else None, "this address on Open311")):
            wait = buckets.take(ip) if buckets else 0.0
            if wait:
                return await error_response(path, 429, f"too many requests from {what}; retry later",
                                            retry_after(wait))(scope, receive, send)

        headers = {k.lower(): v for k, v in scope.get("headers", ())}
        limit = self._limit(path)
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > limit:
            return await error_response(path, 413, f"the body is larger than {limit} bytes",
                                        {"Connection": "close"})(scope, receive, send)
        meter = DepthMeter() if _is_json(headers.get(b"content-type", b"").decode("latin-1")) else None
        max_depth, seen = self.limits.max_json_depth, 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    # An HTTPException, so FastAPI's body reading passes it on to the error handlers.
                    raise HTTPException(413, f"the body is larger than {limit} bytes", {"Connection": "close"})
                if meter is not None and meter.feed(chunk) > max_depth:
                    raise HTTPException(400, f"the body nests deeper than {max_depth} levels of [ and {{")
            return message

        await self.app(scope, counted_receive, send)
