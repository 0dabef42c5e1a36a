"""Errors as {"error": {"code", "message"}} with the right status, never a stack trace.

Under /open311/ errors take the GeoReport v2 shape instead: [{"code", "description"}] (JSON or
XML after the path's format suffix, hotline/api/open311/render.py, which imports nothing else of
the API: the routes import this module).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.api.open311.render import render

log = logging.getLogger("hotline.api")

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_input",
         429: "rate_limited", 503: "unavailable"}
OPEN311_PREFIX = "/open311/"


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 details: list[str] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code or CODES.get(status, "error")
        self.details, self.headers = details, headers


class Open311Error(Exception):
    """An error of the GeoReport v2 endpoint: rendered as [{"code", "description"}]."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def reject_nul(value: Any, path: str = "body") -> None:
    """NUL characters cannot be stored (PostgreSQL refuses them): refuse them at the door."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(422, f"{path}: NUL characters are not allowed")
    elif isinstance(value, dict):
        for k, v in value.items():
            reject_nul(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            reject_nul(v, f"{path}.{i}")


async def text_body(request: Request, what: str, limit: int, code: str) -> str:
    """A document posted as the raw body (catalogue, calendar schedule): UTF-8, bounded, not blank."""
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, f"the {what} is larger than {limit} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"the {what} must be UTF-8 text") from None
    if not text.strip():
        raise ApiError(422, f"the body must be the {what}'s YAML text", code=code)
    return text


def body(code: str, message: str, details: list[str] | None = None) -> dict:
    err: dict = {"code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


def _loc(e: Mapping[str, Any]) -> str:
    return ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header", "form"))


def describe(errors: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    parts = []
    for e in errors[:limit]:
        loc = _loc(e)
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts) or "invalid request"


def _is_json_syntax(exc: RequestValidationError) -> bool:
    return any(e.get("type") == "json_invalid" for e in exc.errors())


def open311_response(request: Request, status: int, description: str) -> Response:
    return error_response(request.url.path, status, description)


def error_response(path: str, status: int, message: str, headers: dict[str, str] | None = None,
                   code: str | None = None, details: list[str] | None = None) -> Response:
    """The error in the shape the path speaks: GeoReport's under /open311/, ours elsewhere."""
    if path.startswith(OPEN311_PREFIX):
        resp = render(path, [{"code": status, "description": message}], status, root="errors")
        resp.headers.update(headers or {})
        return resp
    return JSONResponse(body(code or CODES.get(status, "error"), message, details), status_code=status,
                        headers=headers)


class CatchAll:
    """The last resort: an unexpected exception becomes one 503 line and the connection stays
    usable. (Starlette's own catch-all answers, then re-raises, and the server drops the
    connection without a `Connection: close`.)"""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            path = scope.get("path", "")
            # The caller gets one line; the log never gets the petitioner's data.
            # Only the exception's type at ERROR: messages of drivers and validators can quote input.
            log.error("unexpected error on %s %s: %s", scope.get("method"), path, type(exc).__name__)
            log.debug("unexpected error details", exc_info=exc)
            await error_response(path, 503, "the service could not complete the request; try again")(
                scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_middleware(CatchAll)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return error_response(request.url.path, exc.status, exc.message, exc.headers, exc.code, exc.details)

    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error):
        return open311_response(request, exc.status, exc.description)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        if request.url.path.startswith(OPEN311_PREFIX):
            return open311_response(request, 400, describe(exc.errors()))
        if _is_json_syntax(exc):
            return JSONResponse(body("bad_request", "the body is not valid JSON"), status_code=400)
        return JSONResponse(body("invalid_input", describe(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(request.url.path, exc.status_code, str(exc.detail), getattr(exc, "headers", None))
