"""What every console page shares: templates, the signed-in person, CSRF checks, forms, errors.

A page answers HTML; a refusal is an HTML page with the status the JSON API would give (401
sends the person to sign in, 403 says why not). Security headers keep the pages out of frames
and scripts to the gateway's own files.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from hotline.console import labels
from hotline.console.accounts import Account, active_account
from hotline.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, PRE_COOKIE
from hotline.store.apikeys import Principal

HERE = Path(__file__).resolve().parent
TZ = ZoneInfo("Asia/Shanghai")
MAX_FORM = 64 * 1024
HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store",
           "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                      "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"}


def local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if dt is None:
        return "—"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(TZ).strftime(fmt)


def countdown(dt: datetime | None, now: datetime | None = None) -> str:
    """`剩 3小时12分` or `超时 1天2小时`, as a clerk reads a deadline."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = (dt - (now or datetime.now(timezone.utc))).total_seconds()
    late, secs = delta < 0, int(abs(delta))  # late from the first instant past, not the first minute
    d, h, m = secs // 86400, secs % 86400 // 3600, secs % 3600 // 60
    text = (f"{d}天{h}小时" if d else f"{h}小时{m}分" if h else f"{m}分")
    return f"超时 {text}" if late else f"剩 {text}"


def ticking(dt: datetime | None) -> Markup:
    """The countdown as text, in an element static/countdown.js keeps ticking (the text stands
    without scripts)."""
    if dt is None:
        return Markup("")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    due = dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    late = " late" if dt < datetime.now(timezone.utc) else ""
    return Markup('<span class="countdown{}" data-due="{}">{}</span>').format(late, due, countdown(dt))


templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True)
templates.filters.update(local=local, countdown=countdown, ticking=ticking)
templates.globals.update(L=labels, values={}, failed=None, error=None)


class Viewer:
    """The signed-in person: account, principal (as an API key of the same role), CSRF token."""

    def __init__(self, account: Account, csrf: str, sid: str) -> None:
        self.account, self.csrf, self.sid = account, csrf, sid
        self.principal: Principal = account.principal

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def unit(self) -> str | None:
        return self.principal.unit


def viewer(request: Request) -> Viewer | None:
    c = request.app.state.console
    s = c.signer.read(request.cookies.get(COOKIE))
    if s is None:
        return None
    account = active_account(request.app.state.db, s.account_id, s.epoch)
    return Viewer(account, c.signer.csrf(s.sid), s.sid) if account is not None else None


def page(request: Request, template: str, status: int = 200, who: Viewer | None = None, **ctx) -> HTMLResponse:
    html = templates.get_template(template).render(request=request, who=who, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, message: str, who: Viewer | None = None) -> HTMLResponse:
    return page(request, "error.html", status=status, who=who, status_code=status, message=message)


def to_login(request: Request) -> Response:
    target = "/console/login?next=" + quote(request.url.path)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


async def form(request: Request) -> dict[str, str]:
    """An url-encoded form, first value of each field (the pages post nothing else)."""
    raw = await request.body()
    if len(raw) > MAX_FORM:
        return {}
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def csrf_ok(request: Request, data: dict[str, str], binding: str | None) -> bool:
    token = data.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    return request.app.state.console.signer.csrf_ok(binding, token)


def signed_in(request: Request, *roles: str) -> Viewer | Response:
    """The viewer if signed in with one of `roles`; else the sign-in redirect or a 403 page."""
    who = viewer(request)
    if who is None:
        return to_login(request)
    if roles and who.role not in roles:
        return error_page(request, 403, f"{labels.ROLES.get(who.role, who.role)}账号无权打开此页面。", who)
    return who


async def posted(request: Request, *roles: str) -> tuple[Viewer | Response, dict[str, str]]:
    """A form post of a signed-in viewer with a valid CSRF token; else the refusal to answer."""
    who = signed_in(request, *roles)
    data = await form(request)
    if isinstance(who, Viewer) and not csrf_ok(request, data, who.sid):
        return error_page(request, 403, "表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。", who), data
    return who, data


def pre_binding(request: Request) -> str | None:
    return request.cookies.get(PRE_COOKIE)
