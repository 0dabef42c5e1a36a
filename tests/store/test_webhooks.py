"""Webhooks to units (SPEC §8 Notifications) against a real HTTP receiver on 127.0.0.1:
HMAC-SHA256 signatures that verify, retries with backoff until the receiver recovers, each fact
delivered exactly once, and the petitioner's name and phone in no webhook at all."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

import hotline.store.outbox as outbox
from hotline.domain.contracts import NotificationRequest
from hotline.store.outbox import OutboxDispatcher, enqueue
from hotline.store.tables import OutboxRow, UnitRow
from hotline.store.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.api.test_api import NAME, ORDER, PHONE, H, live_api, prepare
from tests.harness import settled


class Receiver:
    """A department's webhook endpoint: answers 500 to the first `fail_first` posts, then 200."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first, self.posts, self.lock = fail_first, [], threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if receiver.fail_first > 0 else 200
                    receiver.fail_first -= 1
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                           "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        return [p for p in self.posts if p["status"] == 200]


def hook(db, unit: str, url: str, secret: str | None = None) -> None:
    with db.session() as s:
        row = s.get(UnitRow, unit)
        row.webhook_url = f"{url}/hooks/{unit}"
        if secret is not None:
            row.webhook_secret = secret


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def test_failing_receiver_is_retried_with_backoff_then_delivered_once(sqlite_db, monkeypatch):
    prepare(sqlite_db)
    clock = Clock()
    monkeypatch.setattr(outbox, "now_utc", clock)
    with Receiver(fail_first=3) as rx:
        hook(sqlite_db, "ZJJ", rx.url, secret="whs_test")
        req = NotificationRequest(key="SY20261126000001:dispatch:ZJJ:dispatch2", order_no="SY20261126000001",
                                  kind="dispatch", to="ZJJ", subject="new work order SY20261126000001: 工地噪音")
        with sqlite_db.session() as s:
            assert enqueue(s, req) is True
        with sqlite_db.session() as s:
            assert enqueue(s, req) is False  # the activity retried: the same fact is not written twice
        d = OutboxDispatcher(sqlite_db)
        start, waits = clock.now, []
        for _ in range(20):
            d.run_once()
            with sqlite_db.session() as s:
                row = s.scalar(select(OutboxRow).where(OutboxRow.key == req.key))
            if row.status == "delivered":
                break
            waits.append((row.next_attempt_at.replace(tzinfo=timezone.utc) - clock.now).total_seconds())
            clock.now += timedelta(seconds=1)
            d.run_once()  # not due yet: nothing is sent before the backoff has passed
            clock.now = row.next_attempt_at.replace(tzinfo=timezone.utc)
        assert row.status == "delivered" and row.attempts == 4
        assert waits == [2, 4, 8], "exponential backoff between attempts"
        assert [p["status"] for p in rx.posts] == [500, 500, 500, 200]
        assert {p["headers"][DELIVERY_HEADER] for p in rx.posts} == {req.key}
        for p in rx.posts:
            sig = p["headers"][SIGNATURE_HEADER]
            at = int(sig.split(",")[0].removeprefix("t="))
            mac = hmac.new(b"whs_test", f"{at}.".encode() + p["body"], hashlib.sha256).hexdigest()
            assert sig == f"t={at},v1={mac}" and verify("whs_test", p["body"], sig, now=at + 1)
            assert not verify("another", p["body"], sig, now=at)
            assert not verify("whs_test", p["body"] + b" ", sig, now=at)
            # a captured delivery replayed later is refused (5 minutes of tolerance by default)
            assert not verify("whs_test", p["body"], sig, now=at + 301)
            assert not verify("whs_test", p["body"], f"t={at + 600},v1={mac}", now=at + 600)
        clock.now += timedelta(hours=1)
        assert d.run_once() == 0 and len(rx.posts) == 4
    assert clock.now - start < timedelta(hours=2)


def test_two_dispatchers_deliver_each_message_once(sqlite_db):
    prepare(sqlite_db)
    with Receiver() as rx:
        hook(sqlite_db, "SWJ", rx.url, secret="whs_swj")
        with sqlite_db.session() as s:
            for i in range(30):
                enqueue(s, NotificationRequest(key=f"k{i}", order_no=None, kind="reminder", to="SWJ", subject=f"#{i}"))
        ds = [OutboxDispatcher(sqlite_db) for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            assert sum(pool.map(lambda d: d.run_once(), ds)) == 30
        keys = [p["headers"][DELIVERY_HEADER] for p in rx.delivered()]
        assert sorted(keys) == sorted(f"k{i}" for i in range(30))


async def test_workflow_webhooks_are_signed_once_per_fact_and_carry_no_petitioner(ts_env, sqlite_db):
    keys = prepare(sqlite_db)
    with Receiver() as rx:
        async with live_api(ts_env.client, sqlite_db) as (c, h):
            secrets = {}
            for unit in ("ZJJ", "SWJ", "JTJ", "HOTLINE"):
                hook(sqlite_db, unit, rx.url)
                r = await c.post(f"/api/v1/units/{unit}/webhook-secret", headers=H(keys["admin"]))
                assert r.status_code == 200
                secrets[unit] = r.json()["secret"]
            no = (await c.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER)).json()["order_no"]
            due = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
            steps = [("return-request", "ZJJ", {"reason": "供水不归我局", "claimed_unit": "SWJ", "basis": "权责清单"}),
                     ("return-review", "admin", {"decision": "approve", "reason": "属水务局职责"}),
                     ("sign", "SWJ", {}), ("contact", "SWJ", {"note": f"已联系{NAME} {PHONE}"}),
                     ("coordination-plan", "SWJ", {"plan": "联合处置", "co_handlers": [
                         {"unit": "JTJ", "task": "道路开挖审批", "due": due}]}),
                     ("co-handler-done", "JTJ", {"note": "已审批"}),
                     ("reply", "SWJ", {"result": f"已处理，已电话告知{NAME}", "resolved": True})]
            for action, who, body in steps:
                r = await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys[who]), json=body)
                assert r.status_code == 200, (action, r.text)
            assert r.json()["owner"] == "SWJ"
            await settled(sqlite_db, no)  # each notice goes out once its workflow task committed
            d = OutboxDispatcher(sqlite_db)
            d.run_once()
            d.run_once()
            # a worker crash replays the notify activity: the outbox keeps one message per fact
            with sqlite_db.session() as s:
                rows = s.scalars(select(OutboxRow).where(OutboxRow.order_no == no)).all()
                again = [NotificationRequest(key=o.key, order_no=o.order_no, kind=o.kind, to=o.recipient,
                                             subject=o.body["subject"]) for o in rows if o.channel == "webhook"]
            with sqlite_db.session() as s:
                assert not any(enqueue(s, r) for r in again)
            assert d.run_once() == 0

        hooks = [o for o in rows if o.channel == "webhook"]
        assert {o.status for o in hooks} == {"delivered"}
        got = rx.delivered()
        assert len(got) == len(hooks) == len(rx.posts)
        assert sorted(p["headers"][DELIVERY_HEADER] for p in got) == sorted(o.key for o in hooks)
        by_unit: dict[str, list[dict]] = {}
        for p in got:
            unit = p["path"].rsplit("/", 1)[-1]
            assert verify(secrets[unit], p["body"], p["headers"][SIGNATURE_HEADER]), unit
            assert NAME not in p["body"].decode() and PHONE not in p["body"].decode(), (unit, p["body"].decode())
            by_unit.setdefault(unit, []).append(json.loads(p["body"]))
        kinds = {u: sorted(b["kind"] for b in bodies) for u, bodies in by_unit.items()}
        assert kinds["ZJJ"] == ["dispatch", "return-approved"]  # released: no longer the owner
        assert "co-handling" in kinds["JTJ"] and "dispatch" in kinds["SWJ"] and "co-handler-done" in kinds["SWJ"]
        assert "return-request" in kinds["HOTLINE"] and "reply" in kinds["HOTLINE"]
        assert all(b["order_no"] == no and b["key"] for bodies in by_unit.values() for b in bodies)


@pytest.mark.parametrize("sig", [None, "", "sha256=", "md5=abc", "t=abc,v1=00", "t=1", "v1=00"])
def test_verify_rejects_missing_or_foreign_signatures(sig):
    assert verify("s", b"{}", sig) is False


def test_a_unit_without_a_secret_is_sent_nothing(sqlite_db, monkeypatch):
    """Issue 13: with HOTLINE_WEBHOOK_SECRET unset, webhooks were signed with a literal default
    secret, so a forged body verified. Now the delivery waits, saying why."""
    monkeypatch.delenv("HOTLINE_WEBHOOK_SECRET", raising=False)
    prepare(sqlite_db)
    with Receiver() as rx:
        hook(sqlite_db, "ZJJ", rx.url, secret=None)
        req = NotificationRequest(key="SY1:dispatch:ZJJ:x", order_no="SY1", kind="dispatch", to="ZJJ", subject="x")
        with sqlite_db.session() as s:
            enqueue(s, req)
        OutboxDispatcher(sqlite_db).run_once()
        with sqlite_db.session() as s:
            row = s.scalar(select(OutboxRow).where(OutboxRow.key == req.key))
        assert rx.posts == [] and row.status == "pending" and "no secret" in row.last_error
