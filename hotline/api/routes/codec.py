"""The codec server: lets an admin's Temporal Web UI (or `temporal --codec-endpoint`) read orders.

Why on the gateway: the server stores only ciphertext (workflows/codec.py), so the UI needs
someone holding the key ring to open payloads, and that someone must check who asks. The
gateway already knows the API keys, so `/codec/decode` and `/codec/encode` speak Temporal's
remote codec protocol (`{"payloads": [{"metadata": {..base64..}, "data": base64}]}` in and out)
to admins only. A browser cannot add an `X-API-Key` header to the UI's requests, so an admin
signs in once at `/codec/login` (an HttpOnly, SameSite=Strict cookie scoped to /codec) and
ticks "include cross-origin credentials" in the UI's codec settings; CLI and proxies send the
key as `X-API-Key` or `Authorization: Bearer <key>`. CORS answers only the UI's origins.
"""
from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from hotline.api.errors import body as error_body
from hotline.api.throttle import checked_key
from hotline.store.apikeys import Principal

log = logging.getLogger("hotline.api")
router = APIRouter(prefix="/codec", tags=["codec"])

COOKIE = "hotline_codec"
COOKIE_MAX_AGE = 8 * 3600
MAX_BODY = 16 * 1024 * 1024  # a whole history's payloads when the UI downloads it
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization, Authorization-Extras, X-API-Key"


def _cors(request: Request) -> dict[str, str] | None:
    """CORS headers for an allowed origin, {} for a same-origin/non-browser call, None if refused."""
    origin = request.headers.get("origin")
    if origin is None:
        return {}
    if origin in request.app.state.ui_origins:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
                "Vary": "Origin"}
    return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers or {})


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


def _admin(request: Request) -> tuple[Principal | None, JSONResponse | None, dict[str, str]]:
    cors = _cors(request)
    if cors is None:
        return None, _error(403, "forbidden", f"origin {request.headers.get('origin')!r} may not use the codec"), {}
    key = _credential(request)
    if not key:
        return None, _error(401, "unauthorized", "sign in at /codec/login or send an admin key "
                            "(X-API-Key or Authorization: Bearer)", cors), cors
    p = checked_key(request, key)
    if p is None:
        return None, _error(401, "unauthorized", "unknown or revoked API key", cors), cors
    if p.role != "admin":
        return None, _error(403, "forbidden", f"role {p.role} may not use the codec (needs admin)", cors), cors
    return p, None, cors


@router.options("/{op}", include_in_schema=False)
async def preflight(op: str, request: Request) -> Response:
    cors = _cors(request)
    if not cors or op not in ("encode", "decode"):
        return Response(status_code=403)
    return Response(status_code=204, headers={**cors, "Access-Control-Allow-Methods": "POST",
                                              "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                                              "Access-Control-Max-Age": "600"})


async def _convert(request: Request, op: str) -> Response:
    p, refused, cors = _admin(request)
    if refused is not None or p is None:  # _admin gives a principal whenever it refuses nothing
        return refused or _error(401, "unauthorized", "sign in at /codec/login", cors)
    codec = request.app.state.codec
    if codec is None:
        return _error(503, "unavailable", "the payload codec is not configured on this gateway", cors)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(413, "too_large", f"the body is larger than {MAX_BODY} bytes", cors)
    try:
        payloads = json_format.Parse(raw or b"{}", Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError):
        return _error(400, "bad_request", 'the body must be {"payloads": [{"metadata": {…}, "data": "…"}]}', cors)
    try:
        out = await (codec.decode if op == "decode" else codec.encode)(list(payloads.payloads))
    except ValueError as exc:  # unknown key id, or a payload that does not authenticate
        return _error(422, "invalid_input", str(exc), cors)
    log.info("codec %s of %d payloads by %s (namespace %s)", op, len(out), p.actor,
             request.headers.get("x-namespace", "-"))
    return JSONResponse(json_format.MessageToDict(Payloads(payloads=out)) or {"payloads": []}, headers=cors)


@router.post("/decode", summary="open sealed payloads (Temporal remote codec protocol; admin)")
async def decode(request: Request) -> Response:
    return await _convert(request, "decode")


@router.post("/encode", summary="seal payloads with the newest key (Temporal remote codec protocol; admin)")
async def encode(request: Request) -> Response:
    return await _convert(request, "encode")


_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>12345 热线 · 解密登录</title>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto">
<h1>Temporal 界面解密登录</h1><p>{message}</p>
<form method="post" action="/codec/login"><label>管理员 API 密钥
<input name="key" type="password" autocomplete="off" required style="width:100%"></label>
<p><button type="submit">登录</button></p></form>
<p>登录后，在 Temporal 界面的“Codec Server”设置中勾选“Include cross-origin credentials”。</p></body></html>"""


@router.get("/login", include_in_schema=False, response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    return HTMLResponse(_PAGE.format(message="请输入管理员密钥，以便在 Temporal 界面中查看工单内容。"))


@router.post("/login", include_in_schema=False, response_class=HTMLResponse)
async def login(request: Request) -> HTMLResponse:
    raw = await request.body()
    key = (parse_qs(raw[:4096].decode("utf-8", "replace")).get("key") or [""])[0].strip()
    p = checked_key(request, key) if key else None
    if p is None or p.role != "admin":
        msg = "密钥无效或不是管理员密钥。" if key else "请输入密钥。"
        return HTMLResponse(_PAGE.format(message=html.escape(msg)), status_code=401)
    resp = HTMLResponse(_PAGE.format(message=f"已登录（{html.escape(p.actor)}），有效期 8 小时。"))
    resp.set_cookie(COOKIE, key, max_age=COOKIE_MAX_AGE, path="/codec", httponly=True, samesite="strict",
                    secure=request.url.scheme == "https")
    return resp


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE, path="/codec")
    return resp
