"""Console sign-in without a browser: CSRF on the sign-in form, disabled accounts, throttling,
logout ending the session, and a clerk's page refusing other roles."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from hotline.api.app import create_app
from hotline.console.accounts import create_account, disable_account, reset_password


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(client: TestClient, login: str, password: str, token: str | None = None):
    page = client.get("/console/login")
    data = {"login": login, "password": password, "csrf_token": token if token is not None else _csrf(page.text)}
    return client.post("/console/login", data=data, follow_redirects=False)


def test_sign_in_csrf_disabled_throttle_and_logout(sqlite_db):
    _, pw = create_account(sqlite_db, "李明", "department:ZJJ", login="clerk1")
    app = create_app(sqlite_db, None, None)
    with TestClient(app) as c:
        assert _login(c, "clerk1", pw, token="").status_code == 403  # no CSRF token: refused
        ok = _login(c, "clerk1", pw)
        assert ok.status_code == 303 and ok.headers["location"] == "/console/inbox"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Max-Age=" in cookie
        inbox = c.get("/console/inbox")
        assert inbox.status_code == 200 and "ZJJ 待办工单" in inbox.text
        assert c.get("/console/office").status_code == 403  # the office's pages are not a clerk's
        assert c.post("/console/logout", data={}).status_code == 403  # logout needs the token too
        c.post("/console/logout", data={"csrf_token": _csrf(inbox.text)})
        assert c.get("/console/inbox", follow_redirects=False).status_code == 303  # the session ended

    with TestClient(app) as c:
        disable_account(sqlite_db, "clerk1")
        refused = _login(c, "clerk1", pw)
        assert refused.status_code == 401 and "账号已停用" in refused.text

    with TestClient(app) as c:  # a stolen cookie stops counting after a password reset
        _, pw2 = create_account(sqlite_db, "王五", "admin", login="office1")
        assert _login(c, "office1", pw2).status_code == 303
        assert c.get("/console/office").status_code == 200
        reset_password(sqlite_db, "office1")
        assert c.get("/console/office", follow_redirects=False).status_code == 303

    with TestClient(app) as c:  # five wrong passwords, then the name waits
        create_account(sqlite_db, "赵六", "intake", login="op1", password="right-password-1")
        codes = [_login(c, "op1", "wrong-password").status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        assert _login(c, "op1", "right-password-1").status_code == 429  # not even the right one now
