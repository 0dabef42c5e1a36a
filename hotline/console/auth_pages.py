"""Sign-in, sign-out and the landing page of each role."""
from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hotline.console import web
from hotline.console.accounts import authenticate, end_sessions
from hotline.console.session import COOKIE, MAX_AGE, PRE_COOKIE

router = APIRouter(prefix="/console", include_in_schema=False)
HOME = {"intake": "/console/intake", "department": "/console/inbox", "admin": "/console/office"}


def _safe_next(target: str | None) -> str | None:
    """Only a path of the console itself: never another site after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/console/") or target.startswith("//"):
        return None
    return target


def _login_page(request: Request, status: int = 200, message: str = "", login: str = "") -> Response:
    pre = web.pre_binding(request) or secrets.token_urlsafe(16)
    resp = web.page(request, "login.html", status=status, message=message, login=login,
                    csrf=request.app.state.console.signer.csrf(pre),
                    next=_safe_next(request.query_params.get("next")) or "")
    resp.set_cookie(PRE_COOKIE, pre, max_age=MAX_AGE, path="/console", httponly=True, samesite="lax",
                    secure=request.url.scheme == "https")
    return resp


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    who = web.viewer(request)
    if who is None:
        return web.to_login(request)
    return web.redirect(HOME[who.role])


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    data = await web.form(request)
    if not web.csrf_ok(request, data, web.pre_binding(request)):
        return _login_page(request, 403, "表单已失效，请重新登录。")
    login_name, password = data.get("login", "").strip()[:64], data.get("password", "")[:256]
    address = (request.client.host if request.client else "unknown")
    throttle = request.app.state.console.throttle
    wait = throttle.wait(login_name, address)
    if wait:
        return _login_page(request, 429, f"尝试次数过多，请 {int(wait) + 1} 秒后再试。", login_name)
    db = request.app.state.db
    account = await asyncio.to_thread(authenticate, db, login_name, password) if login_name and password else None
    if account is None:
        throttle.failed(login_name, address)
        return _login_page(request, 401, "用户名或密码错误，或账号已停用。", login_name)
    cookie, _ = request.app.state.console.signer.issue(account.id, account.epoch)
    target = _safe_next(data.get("next")) or HOME[account.principal.role]
    resp = web.redirect(target)
    resp.set_cookie(COOKIE, cookie, max_age=MAX_AGE, path="/", httponly=True, samesite="lax",
                    secure=request.url.scheme == "https")
    resp.delete_cookie(PRE_COOKIE, path="/console")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = web.viewer(request)
    data = await web.form(request)
    if who is not None:
        if not web.csrf_ok(request, data, who.sid):
            return web.error_page(request, 403, "表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。", who)
        end_sessions(request.app.state.db, who.account.id)  # the cookie stops counting anywhere
    resp = web.redirect("/console/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp
