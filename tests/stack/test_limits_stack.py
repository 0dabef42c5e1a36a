"""Issue 13 on the running stack (Temporal dev server, a real worker, the gateway served by
uvicorn on a port): what a tester did from outside, over real sockets. Bad input gets a 4xx in
the error shape and the connection stays usable; the server's own refusals speak JSON; a huge
body is refused before it is read; wrong keys and floods get 429 while others are served."""
from __future__ import annotations

import asyncio
import json
import select
import socket
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest_asyncio
import uvicorn

from hotline.api.app import create_app
from hotline.runtime.settings import Limits, Rate
from hotline.store import Database
from tests.api.test_api import ORDER, prepare
from tests.conftest import free_port
from tests.harness import router, running_worker, seed_order_numbers


@asynccontextmanager
async def served(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    port: int  # the gateway with the default limits
    tight_port: int  # the same stack, Open311 limited to a burst of 20 per address
    keys: dict
    order_no: str


@pytest_asyncio.fixture(scope="module")
async def stack(dev_env, tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'hotline.db'}")
    db.migrate()
    seed_order_numbers(db)
    keys = prepare(db)
    async with running_worker(dev_env.client, db, search_attributes=True) as h:
        app = create_app(db, h.engine, router())
        tight = create_app(db, h.engine, router(), limits=Limits(open311_per_ip=Rate(0.5, 20)))
        async with served(app) as port, served(tight) as tight_port:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
                r = await c.post("/api/v1/orders", json=ORDER, headers={"X-API-Key": keys["intake"]})
                assert r.status_code == 201, r.text
            yield Stack(port, tight_port, keys, r.json()["order_no"])
    db.dispose()


# ---------------------------------------------------------------- raw HTTP/1.1


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _raw(port: int, *requests: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send the requests one after another on one connection; every answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        out = []
        for req in requests:
            sock.sendall(req)
            out.append(_read_response(sock))
        return out


def _get(path: str, key: str | None = None, extra: bytes = b"") -> bytes:
    auth = f"X-API-Key: {key}\r\n".encode() if key else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: hotline\r\n" + auth + extra + b"\r\n"


def _error(resp) -> dict:
    status, headers, body = resp
    assert headers["content-type"].startswith("application/json"), headers
    err = json.loads(body)["error"]
    assert set(err) >= {"code", "message"}, err
    return err


# ---------------------------------------------------------------- bad input


async def test_bad_dates_and_deep_json_are_4xx_and_the_connection_stays_open(stack):
    admin = stack.keys["admin"]
    nested = b"[" * 2000
    post = (b"POST /open311/v2/requests.json HTTP/1.1\r\nHost: hotline\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(nested)).encode() + b"\r\n\r\n" + nested)
    got = await asyncio.to_thread(
        _raw, stack.port,
        _get("/api/v1/kpi?from=0001-01-01T00:00:00%2B14:00&to=2026-01-01", admin),
        _get("/api/v1/kpi?from=2026-01-01&to=9999-12-31T23:59:59-14:00", admin),
        post,
        _get(f"/api/v1/orders/{stack.order_no}", admin))  # the same connection still serves
    for resp in got[:2]:
        assert resp[0] == 422 and "out of range" in _error(resp)["message"]
    status, _, body = got[2]
    assert status == 400 and "nests deeper" in json.loads(body)[0]["description"]  # GeoReport's shape
    assert got[3][0] == 200 and json.loads(got[3][2])["order_no"] == stack.order_no
    assert all(h.get("connection") != "close" for _, h, _ in got)


async def test_request_lines_the_server_refuses_get_the_json_error_shape(stack):
    for line in (b"GET /api/v1/orders/\xe5\xb7\xa5\xe5\x9c\xb0 HTTP/1.1", b"GET /api/v1/a b HTTP/1.1",
                 b"GET /open311/v2/requests.json?q=\xff HTTP/1.1"):
        [resp] = await asyncio.to_thread(_raw, stack.port, line + b"\r\nHost: hotline\r\n\r\n")
        assert resp[0] == 400 and "percent-encoded" in _error(resp)["message"]
    # percent-encoded, the app sees it and answers in its shape
    [resp] = await asyncio.to_thread(_raw, stack.port, _get("/api/v1/orders/%E5%B7%A5%FF", stack.keys["admin"]))
    assert resp[0] == 422 and "order_no" in _error(resp)["message"]


async def test_a_50_mb_body_is_refused_unread_before_the_key_is_checked(stack):
    head = (b"POST /api/v1/orders HTTP/1.1\r\nHost: hotline\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n")
    [resp] = await asyncio.to_thread(_raw, stack.port, head)  # the body is never sent
    assert resp[0] == 413 and "larger than" in _error(resp)["message"]

    def stream_chunked() -> tuple[int, int]:
        """50 MB without a length: the answer comes long before the end, and the server stops reading."""
        sent = 0
        with socket.create_connection(("127.0.0.1", stack.port), timeout=60) as sock:
            sock.sendall(b"POST /open311/v2/requests.json HTTP/1.1\r\nHost: hotline\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
            try:
                while sent < 50 * 2**20 and not select.select([sock], [], [], 0)[0]:
                    sock.sendall(chunk)
                    sent += 0x10000
            except (BrokenPipeError, ConnectionResetError):
                pass
            return _read_response(sock)[0], sent
    status, sent = await asyncio.to_thread(stream_chunked)
    assert status == 413 and sent < 50 * 2**20


# ---------------------------------------------------------------- limits


async def test_600_wrong_keys_are_not_all_answered(stack):
    # a fresh connection per guess: a kept-alive one may be closed by the server's idle timeout
    # just as the next guess is written on it (a reset, not an answer, and nothing under test)
    attacker = httpx.AsyncHTTPTransport(local_address="127.0.0.3",
                                        limits=httpx.Limits(max_connections=20, max_keepalive_connections=0))
    async with httpx.AsyncClient(transport=attacker, base_url=f"http://127.0.0.1:{stack.port}", timeout=60) as c:
        got = await asyncio.gather(*[c.get("/api/v1/orders", headers={"X-API-Key": f"hk_guess-{i}"})
                                     for i in range(600)])
    statuses = Counter(r.status_code for r in got)
    assert set(statuses) == {401, 429} and statuses[429] > 0, statuses
    limited = next(r for r in got if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["error"]["code"] == "rate_limited"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.port}", timeout=60) as c:  # another address
        r = await c.get(f"/api/v1/orders/{stack.order_no}", headers={"X-API-Key": stack.keys["ZJJ"]})
        assert r.status_code == 200


async def test_an_open311_flood_is_cut_and_an_owner_is_still_served(stack):
    base = f"http://127.0.0.1:{stack.tight_port}"
    flood = httpx.AsyncHTTPTransport(local_address="127.0.0.4", limits=httpx.Limits(max_connections=20))
    async with httpx.AsyncClient(transport=flood, base_url=base, timeout=60) as f, \
            httpx.AsyncClient(base_url=base, timeout=60) as owner:
        flooding = asyncio.gather(*[f.get("/open311/v2/requests.json") for _ in range(200)])
        mine = await owner.get(f"/api/v1/orders/{stack.order_no}", headers={"X-API-Key": stack.keys["ZJJ"]})
        got = await flooding
    assert mine.status_code == 200
    statuses = Counter(r.status_code for r in got)
    assert set(statuses) == {200, 429} and statuses[429] > 0, statuses
    limited = next(r for r in got if r.status_code == 429)
    assert "Retry-After" in limited.headers and limited.json()[0]["code"] == 429


async def test_an_unexpected_failure_is_503_and_the_connection_is_not_dropped(stack, sqlite_db):
    class Broken:
        async def start_order(self, *args, **kw):
            raise RuntimeError("internal detail")

    keys = prepare(sqlite_db)
    async with served(create_app(sqlite_db, Broken(), router())) as port:
        body = json.dumps(ORDER).encode()
        post = (b"POST /api/v1/orders HTTP/1.1\r\nHost: hotline\r\nContent-Type: application/json\r\n"
                b"X-API-Key: " + keys["intake"].encode() + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body)
        got = await asyncio.to_thread(_raw, port, post, _get("/healthz"))
    assert got[0][0] == 503 and _error(got[0])["code"] == "unavailable"
    assert got[1][0] == 200
