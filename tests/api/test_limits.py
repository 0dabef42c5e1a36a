"""Issue 13, "bad input → 5xx" and "no limits", on the app itself: body size and nesting, strict
types, dates in a window, the channel set by the route, and the rate limits per address, per
key and for wrong keys. (The same findings on the running stack: tests/stack/test_limits_stack.py.)"""
from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest

from hotline.api.app import create_app
from hotline.domain.catalogue import default_catalogue_path
from hotline.runtime.settings import Limits, Rate, SettingsError, load_limits
from tests.api.test_api import ORDER, H, api_client, assert_error, prepare
from tests.harness import router

NO = "SY20260101000001"
SLOW = 0.001  # tokens a second: nothing refills while a test runs


@pytest.fixture
def keys(sqlite_db):
    return prepare(sqlite_db)


@asynccontextmanager
async def client(db, limits: Limits | None = None, address: str = "127.0.0.1"):
    app = create_app(db, None, router(), limits=limits)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hotline", timeout=60) as c:
        c.app = app
        yield c


def open311_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    [err] = r.json()
    assert err["code"] == status and all(w in err["description"] for w in words), err


# ---------------------------------------------------------------- bodies


async def test_a_body_beyond_the_limit_is_413_before_the_key_is_checked(sqlite_db):
    async with api_client(create_app(sqlite_db, None, router())) as c:
        big = b"{" + b" " * (256 * 1024) + b"}"
        assert_error(await c.post("/api/v1/orders", content=big, headers={"Content-Type": "application/json"}),
                     413, "larger than 262144 bytes")
        r = await c.post("/open311/v2/requests.json", content=b"description=" + b"x" * 300_000,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        open311_error(r, 413, "larger than")


async def test_a_streamed_body_is_refused_after_the_limit_not_read_whole(sqlite_db):
    """No Content-Length: the gateway counts as it reads and stops at the limit (of 50 MB sent,
    it pulls a few chunks), so nothing big is ever held."""
    pulled = 0

    async def fifty_megabytes():
        nonlocal pulled
        for _ in range(800):
            pulled += 1
            yield b"x" * 65536

    async with api_client(create_app(sqlite_db, None, router())) as c:
        r = await c.post("/api/v1/orders", content=fifty_megabytes(), headers={"Content-Type": "application/json"})
        assert_error(r, 413, "larger than")
    assert pulled <= 6  # 256 KiB is four chunks and a bit


async def test_the_limit_is_configurable_and_the_catalogue_import_keeps_its_own(sqlite_db, keys):
    small = Limits(max_body=2048)
    async with client(sqlite_db, small) as c:
        assert_error(await c.post("/api/v1/orders", headers=H(keys["intake"]),
                                  json={**ORDER, "description": "长" * 1000}),
                     413, "2048")
        text = default_catalogue_path().read_text(encoding="utf-8") + "#" * 300_000 + "\n"  # > 256 KiB
    async with client(sqlite_db) as c:
        r = await c.post("/api/v1/units/import", headers=H(keys["admin"]), content=text.encode())
        assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize("path,status", [("/api/v1/orders", 400), ("/api/v1/orders/SY20260101000001/reply", 400),
                                         ("/api/v1/units/import", 400)])
async def test_deep_nesting_is_a_4xx_in_the_error_shape(sqlite_db, keys, path, status):
    async with client(sqlite_db) as c:
        r = await c.post(path, headers={**H(keys["admin"]), "Content-Type": "application/json"}, content=b"[" * 2000)
        assert_error(r, status, "nests deeper than 32")
        # within the limit, and brackets inside strings do not count
        r = await c.post("/api/v1/orders", headers=H(keys["intake"]),
                         json={**ORDER, "title": "[[[[" * 20, "location": {"address": "{" * 100}})
        assert r.status_code == 503, r.text  # valid, and only the missing engine stops it


async def test_deep_yaml_is_refused_by_the_catalogue_reader(sqlite_db, keys):
    async with client(sqlite_db) as c:
        r = await c.post("/api/v1/units/import", content=b"[" * 2000,
                         headers={**H(keys["admin"]), "Content-Type": "application/yaml"})
        assert_error(r, 422, "nothing changed")
        assert "nested too deeply" in r.json()["error"]["details"][0]


async def test_deep_nesting_on_the_public_open311_post_is_400_in_its_shape(sqlite_db):
    async with client(sqlite_db) as c:
        r = await c.post("/open311/v2/requests.json", content=b"[" * 2000, headers={"Content-Type": "application/json"})
        open311_error(r, 400, "nests deeper")
        r = await c.post("/open311/v2/requests.xml", content=b'{"a":' * 40 + b"1" + b"}" * 40,
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.text.startswith("<?xml") and "nests deeper" in r.text


# ---------------------------------------------------------------- types, dates, channel


@pytest.mark.parametrize("action,body,field", [
    ("extension-request", {"days": "5", "reason": "需要更多时间"}, "days"),
    ("extension-request", {"days": 5.0, "reason": "需要更多时间"}, "days"),
    ("extension-request", {"days": True, "reason": "需要更多时间"}, "days"),
    ("reply", {"result": "已处理", "resolved": "true"}, "resolved"),
    ("reply", {"result": "已处理", "resolved": 1}, "resolved"),
])
async def test_no_string_to_number_coercion_on_actions(sqlite_db, keys, action, body, field):
    async with client(sqlite_db) as c:
        assert_error(await c.post(f"/api/v1/orders/{NO}/{action}", headers=H(keys["ZJJ"]), json=body), 422, field)


async def test_callback_flags_are_strict_too(sqlite_db, keys):
    async with client(sqlite_db) as c:
        assert_error(await c.post(f"/api/v1/orders/{NO}/callback", headers=H(keys["admin"]),
                                  json={"answered": "yes"}), 422, "answered")


@pytest.mark.parametrize("query", ["from=0001-01-01T00:00:00%2B14:00&to=2026-01-01",
                                   "from=2026-01-01&to=9999-12-31T23:59:59-14:00",
                                   "from=1999-12-31&to=2026-01-01"])
async def test_kpi_dates_outside_the_window_are_422_not_503(sqlite_db, keys, query):
    async with client(sqlite_db) as c:
        assert_error(await c.get(f"/api/v1/kpi?{query}", headers=H(keys["admin"])), 422, "out of range",
                     "2000-2100")


@pytest.mark.parametrize("due,words", [("9999-12-31T23:59:59+08:00", ("out of range",)),
                                       ("0001-01-01T00:00:00+14:00", ("out of range",)),
                                       ("2090-01-01T00:00:00+08:00", ("within a year",)),
                                       ("2001-01-01T00:00:00+08:00", ("already past",))])
async def test_a_co_handler_due_beyond_a_year_is_refused(sqlite_db, keys, due, words):
    body = {"plan": "联合整治", "co_handlers": [{"unit": "SWJ", "task": "查管网", "due": due}]}
    async with client(sqlite_db) as c:
        assert_error(await c.post(f"/api/v1/orders/{NO}/coordination-plan", headers=H(keys["ZJJ"]), json=body),
                     422, "co_handlers.0.due", *words)


async def test_open311_search_dates_outside_the_window_are_400(sqlite_db):
    async with client(sqlite_db) as c:
        for q in ("start_date=0001-01-01T00:00:00%2B14:00", "end_date=9999-12-31T23:59:59-14:00"):
            open311_error(await c.get(f"/open311/v2/requests.json?{q}"), 400, "out of range")


async def test_a_rest_caller_may_not_claim_the_open311_channel(sqlite_db, keys):
    async with client(sqlite_db) as c:
        assert_error(await c.post("/api/v1/orders", headers=H(keys["intake"]), json={**ORDER, "channel": "open311"}),
                     422, "channel", "Open311 endpoint")


# ---------------------------------------------------------------- rates


async def test_each_key_has_its_own_rate(sqlite_db, keys):
    async with client(sqlite_db, Limits(per_key=Rate(SLOW, 3))) as c:
        for _ in range(3):
            assert (await c.get("/api/v1/units", headers=H(keys["SWJ"]))).status_code == 200
        r = await c.get("/api/v1/units", headers=H(keys["SWJ"]))
        assert_error(r, 429, "API key")
        assert int(r.headers["Retry-After"]) >= 1
        assert (await c.get("/api/v1/units", headers=H(keys["JTJ"]))).status_code == 200  # another key


async def test_each_address_has_its_own_rate_and_probes_pass(sqlite_db, keys):
    async with client(sqlite_db, Limits(per_ip=Rate(SLOW, 5))) as c:
        for _ in range(5):
            assert (await c.get("/api/v1/units", headers=H(keys["SWJ"]))).status_code == 200
        r = await c.get("/api/v1/units", headers=H(keys["JTJ"]))
        assert_error(r, 429, "address")
        assert "Retry-After" in r.headers
        assert (await c.get("/healthz")).status_code == 200
        r = await c.get("/open311/v2/services.json")
        open311_error(r, 429, "too many")
        assert "Retry-After" in r.headers


async def test_the_public_open311_endpoints_have_a_smaller_rate_per_address(sqlite_db, keys):
    limits = Limits(open311_per_ip=Rate(SLOW, 4))
    async with client(sqlite_db, limits) as c:
        got = [(await c.get("/open311/v2/requests.json")).status_code for _ in range(10)]
        assert got[:4] == [200] * 4 and set(got[4:]) == {429}
        assert (await c.get("/api/v1/orders", headers=H(keys["ZJJ"]))).status_code == 200  # the API is not Open311
        r = await c.get("/open311/v2/requests.xml")
        assert r.status_code == 429 and r.text.startswith("<?xml") and "Retry-After" in r.headers


async def test_wrong_keys_lock_the_address_out_right_keys_included(sqlite_db, keys):
    limits = Limits(auth_failures=Rate(SLOW, 10))
    async with client(sqlite_db, limits) as c:
        got = [(await c.get("/api/v1/units", headers=H(f"hk_guess{i}"))).status_code for i in range(30)]
        assert got[:10] == [401] * 10 and set(got[10:]) == {429}
        # locked out: a right key from there waits too (else a 429 would tell a wrong key from a right one)
        r = await c.get("/api/v1/units", headers=H(keys["SWJ"]))
        assert_error(r, 429, "wrong API keys")
        open311_error(await c.post("/open311/v2/requests.json", data={"api_key": keys["intake"]}), 429)
        codec = await c.post("/codec/decode", json={"payloads": []}, headers=H(keys["admin"]))
        assert codec.status_code == 429
        assert (await c.get("/api/v1/units")).status_code == 401  # no key at all: refused, not counted
    # another address is not locked out by it (same limits, its own buckets)
    async with client(sqlite_db, limits, address="10.0.0.9") as c:
        assert (await c.get("/api/v1/units", headers=H(keys["SWJ"]))).status_code == 200


def test_limits_come_from_the_settings_module():
    d = load_limits({})
    assert d.max_body == 256 * 1024 and d.max_json_depth == 32 and d.per_key and d.per_ip and d.auth_failures
    got = load_limits({"HOTLINE_MAX_BODY": "4096", "HOTLINE_RATE_PER_KEY": "30/min:5", "HOTLINE_RATE_PER_IP": "off",
                       "HOTLINE_RATE_AUTH_FAILURES": "10/h", "HOTLINE_MAX_JSON_DEPTH": "8"})
    assert got.max_body == 4096 and got.max_json_depth == 8 and got.per_ip is None
    assert got.per_key == Rate(0.5, 5) and got.auth_failures == Rate(10 / 3600, 10)
    for bad in ({"HOTLINE_RATE_PER_KEY": "fast"}, {"HOTLINE_MAX_BODY": "12"}, {"HOTLINE_RATE_OPEN311": "0/s"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            load_limits(bad)
