"""The outbox dispatcher claims a batch in one statement and records its outcomes in one
transaction (SPEC §8 Notifications). What must survive the batching: each outcome recorded
per row, the lease (a dead dispatcher's rows come back after LEASE, not before), the limit,
and two dispatchers on one database never delivering a row twice — on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

import hotline.store.outbox as outbox
from hotline.domain.contracts import NotificationRequest
from hotline.store.outbox import LEASE, MAX_ATTEMPTS, OutboxDispatcher, enqueue
from hotline.store.tables import OutboxRow, UnitRow
from tests.store.test_webhooks import Clock, Receiver


class Recorder:
    """An SMS gateway that keeps what it sent; `fail` maps a key to the error it raises."""

    def __init__(self, fail: dict[str, Exception] | None = None, on_send=None) -> None:
        self.sent, self.fail, self.on_send, self.lock = [], fail or {}, on_send, threading.Lock()

    def send(self, phone: str, text: str, key: str) -> str:
        if self.on_send:
            self.on_send(key)
        if key in self.fail:
            raise self.fail[key]
        with self.lock:
            self.sent.append(key)
        return key


class Died(BaseException):
    """The dispatcher's process dies mid-batch (not an Exception: nothing in it catches this)."""


def sms(db, *keys: str) -> None:
    with db.session() as s:
        for k in keys:
            enqueue(s, NotificationRequest(key=k, order_no=None, kind="contact", to="petitioner",
                                           subject=f"text {k}", petitioner_phone="13800001234"))


def unit(db, code: str, url: str | None, secret: str | None = None) -> None:
    with db.session() as s:
        s.add(UnitRow(code=code, name=code, type="department", districts=[], places=[],
                      webhook_url=url, webhook_secret=secret))


def webhook(db, key: str, to: str) -> None:
    with db.session() as s:
        enqueue(s, NotificationRequest(key=key, order_no="SY1", kind="dispatch", to=to, subject=f"hook {key}"))


def rows(db) -> dict[str, OutboxRow]:
    with db.session() as s:
        return {r.key: r for r in s.scalars(select(OutboxRow))}


def signed(secret: str, body: bytes, sig: str) -> bool:
    """`sig` is the HMAC of its own timestamp and this body with this secret."""
    at = int(sig.split(",")[0].removeprefix("t="))
    return sig == f"t={at},v1=" + hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_mixed_batch_records_each_outcome_on_its_own_row(any_db, monkeypatch, caplog):
    clock = Clock()
    monkeypatch.setattr(outbox, "now_utc", clock)
    with Receiver() as ok, Receiver(fail_first=10**6) as down:
        unit(any_db, "OWN", f"{ok.url}/own", secret="whs_own")
        unit(any_db, "DEF", f"{ok.url}/def")  # no secret of its own: the hotline-wide one signs
        unit(any_db, "DOWN", f"{down.url}/down", secret="whs_down")
        webhook(any_db, "w-own", "OWN")
        webhook(any_db, "w-down", "DOWN")
        webhook(any_db, "w-def", "DEF")
        webhook(any_db, "w-last", "DOWN")
        sms(any_db, "s-ok", "s-long")
        with any_db.session() as s:  # one failing row is on its last attempt
            s.scalar(select(OutboxRow).where(OutboxRow.key == "w-last")).attempts = MAX_ATTEMPTS - 1
        gateway = Recorder(fail={"s-long": RuntimeError("x" * 2000)})
        d = OutboxDispatcher(any_db, sms=gateway, default_secret="whs_default")
        with caplog.at_level(logging.ERROR, logger="hotline.store.outbox"):
            assert d.run_once() == 3
        got = rows(any_db)
        for k in ("w-own", "w-def", "s-ok"):
            assert (got[k].status, got[k].attempts, got[k].delivered_at) == ("delivered", 1, clock.now), k
        for k in ("w-down", "s-long"):
            r = got[k]
            assert (r.status, r.attempts, r.delivered_at) == ("pending", 1, None), k
            assert r.next_attempt_at == clock.now + timedelta(seconds=2), "backoff 2**attempts s"
        assert "500" in got["w-down"].last_error and got["s-long"].last_error == "x" * 500
        assert got["w-last"].status == "failed" and got["w-last"].attempts == MAX_ATTEMPTS
        assert [r.getMessage() for r in caplog.records] == \
            [f"outbox w-last gave up after {MAX_ATTEMPTS} attempts: " + got["w-last"].last_error]
        assert gateway.sent == ["s-ok"]
        # the webhooks are exactly today's: body, headers, signature with the unit's secret or the default
        posts = {p["path"]: p for p in ok.posts}
        assert sorted(posts) == ["/def", "/own"] and len(ok.posts) == 2 and len(down.posts) == 2
        for path, key, secret in (("/own", "w-own", "whs_own"), ("/def", "w-def", "whs_default")):
            p = posts[path]
            assert json.loads(p["body"]) == {"key": key, "kind": "dispatch", "order_no": "SY1",
                                             "subject": f"hook {key}"}
            assert p["headers"]["Content-Type"] == "application/json"
            assert p["headers"]["X-Hotline-Delivery"] == key
            assert signed(secret, p["body"], p["headers"]["X-Hotline-Signature"])
        assert all(signed("whs_down", p["body"], p["headers"]["X-Hotline-Signature"]) for p in down.posts)
        # nothing is due until the backoff has passed; then only the failed rows are tried again
        assert d.run_once() == 0 and len(down.posts) == 2 and gateway.sent == ["s-ok"]
        clock.now += timedelta(seconds=2)
        gateway.fail.clear()
        assert d.run_once() == 1 and gateway.sent == ["s-ok", "s-long"] and len(down.posts) == 3
        assert len(ok.posts) == 2


def test_a_dead_dispatchers_rows_come_back_after_the_lease_and_not_before(any_db, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(outbox, "now_utc", clock)
    sms(any_db, "a", "b", "c")

    def die(key):
        raise Died

    try:
        OutboxDispatcher(any_db, sms=Recorder(on_send=die)).run_once()
    except Died:
        pass
    assert {r.status for r in rows(any_db).values()} == {"sending"}  # claimed, never recorded
    gateway = Recorder()
    other = OutboxDispatcher(any_db, sms=gateway)
    clock.now += LEASE - timedelta(microseconds=1)
    assert other.run_once() == 0 and gateway.sent == []  # the lease still holds
    clock.now += timedelta(microseconds=1)
    assert other.run_once() == 3 and gateway.sent == ["a", "b", "c"]
    assert {(r.status, r.attempts) for r in rows(any_db).values()} == {("delivered", 1)}


def test_a_claimed_row_is_not_claimed_again_while_its_lease_runs(any_db, monkeypatch):
    """A second dispatcher running while the first is still delivering its batch gets nothing."""
    clock = Clock()
    monkeypatch.setattr(outbox, "now_utc", clock)
    sms(any_db, "a", "b")
    inner = Recorder()
    second = OutboxDispatcher(any_db, sms=inner)
    seen: list[int] = []
    first = Recorder(on_send=lambda key: seen.append(second.run_once()) if key == "a" else None)
    assert OutboxDispatcher(any_db, sms=first).run_once() == 2
    assert seen == [0] and inner.sent == [] and first.sent == ["a", "b"]


def test_the_limit_bounds_each_batch_oldest_first(any_db):
    keys = [f"k{i:02}" for i in range(25)]
    sms(any_db, *keys)
    gateway = Recorder()
    d = OutboxDispatcher(any_db, sms=gateway)
    assert [d.run_once(limit=10) for _ in range(4)] == [10, 10, 5, 0]
    assert gateway.sent == keys


def test_a_batch_stops_before_its_lease_runs_out_and_hands_the_rest_back(any_db, monkeypatch):
    """Slow deliveries must not outlive the batch's lease: past half of it, no new delivery starts
    and the untried rows are due again at once, still on their first attempt."""
    clock = Clock()
    monkeypatch.setattr(outbox, "now_utc", clock)
    sms(any_db, "a", "b", "c", "d")
    start = clock.now

    def slow(key):
        clock.now += LEASE / 3

    gateway = Recorder(on_send=slow)
    d = OutboxDispatcher(any_db, sms=gateway)
    assert d.run_once() == 2 and gateway.sent == ["a", "b"]
    got = rows(any_db)
    assert [(got[k].status, got[k].attempts) for k in "cd"] == [("pending", 0)] * 2
    assert start + LEASE / 2 <= got["c"].next_attempt_at <= clock.now
    assert d.run_once() == 2 and gateway.sent == ["a", "b", "c", "d"]  # no waiting for the lease


def test_two_concurrent_dispatchers_deliver_every_row_exactly_once(any_db):
    keys = [f"k{i:03}" for i in range(300)]
    sms(any_db, *keys)
    gateway = Recorder()  # shared: a row sent by both dispatchers would show up twice
    ds = [OutboxDispatcher(any_db, sms=gateway) for _ in range(2)]
    start = threading.Barrier(2)

    def drain(d: OutboxDispatcher) -> int:
        start.wait()
        total = 0
        for _ in range(200):  # small batches, so that the two claim again and again side by side
            total += d.run_once(limit=7)
        return total

    with ThreadPoolExecutor(2) as pool:
        totals = list(pool.map(drain, ds))
    assert sorted(gateway.sent) == keys
    assert sum(totals) == len(keys) and all(totals), totals
    assert {(r.status, r.attempts) for r in rows(any_db).values()} == {("delivered", 1)}
