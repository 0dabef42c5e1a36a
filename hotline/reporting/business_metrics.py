"""Business gauges read from the database at scrape time (never from a running workflow).

Open orders by stage and owner, overdue orders by owner, the outbox's backlog and the age of
its oldest waiting row, failed deliveries, and the strikes, criticisms and referrals on the
ledgers. One scrape is a handful of GROUP BY queries on indexed columns; the answer is kept a
few seconds so several scrapers (or a dashboard refresh) do not multiply them. Labels are unit
codes, stages, channels and ledger kinds: closed sets, nothing personal.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hotline.store import Database
from hotline.store.tables import OrderRow, OutboxRow, SupervisionEventRow

log = logging.getLogger("hotline.runtime.metrics")

WAITING = ("pending", "sending")  # outbox rows not yet delivered (held rows wait for their commit)
LEDGER_KINDS = ("strike", "criticism", "referral", "staff_referral")
CHANNELS = ("sms", "webhook")  # delivered by the dispatcher (inbox rows are delivered when written)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


class BusinessCollector(Collector):
    def __init__(self, db: Database, ttl: float = 2.0) -> None:
        self.db, self.ttl = db, ttl
        self._lock = threading.Lock()
        self._at = 0.0
        self._cached: list[GaugeMetricFamily] = []

    def collect(self):
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                try:
                    self._cached = self._read()
                except Exception as exc:  # a scrape must not fail with the database; the gauge says so
                    log.warning("business metrics: %s", type(exc).__name__)
                    self._cached = [self._up(0)]
                self._at = time.monotonic()
            return list(self._cached)

    @staticmethod
    def _up(value: int) -> GaugeMetricFamily:
        return GaugeMetricFamily("hotline_business_metrics_up", "1 when the business gauges were read "
                                 "from the database at this scrape", value=value)

    def _read(self) -> list[GaugeMetricFamily]:
        now = datetime.now(timezone.utc)
        with self.db.session() as s:
            open_rows = s.execute(select(OrderRow.stage, OrderRow.owner, func.count())
                                  .where(OrderRow.stage != "closed").group_by(OrderRow.stage, OrderRow.owner)).all()
            overdue_rows = s.execute(select(OrderRow.owner, func.count())
                                     .where(OrderRow.stage != "closed", OrderRow.overdue.is_(True))
                                     .group_by(OrderRow.owner)).all()
            backlog = s.execute(select(OutboxRow.channel, func.count(), func.min(OutboxRow.created_at))
                                .where(OutboxRow.status.in_(WAITING)).group_by(OutboxRow.channel)).all()
            failed = s.execute(select(OutboxRow.channel, func.count())
                               .where(OutboxRow.status == "failed").group_by(OutboxRow.channel)).all()
            ledger = s.execute(select(SupervisionEventRow.kind, func.count())
                               .where(SupervisionEventRow.kind.in_(LEDGER_KINDS))
                               .group_by(SupervisionEventRow.kind)).all()
        open_orders = GaugeMetricFamily("hotline_orders_open", "open work orders by stage and owner unit",
                                        labels=["stage", "owner"])
        for stage, owner, n in open_rows:
            open_orders.add_metric([stage, owner], n)
        overdue = GaugeMetricFamily("hotline_orders_overdue", "open work orders past their handling deadline "
                                    "(督办), by owner unit", labels=["owner"])
        for owner, n in overdue_rows:
            overdue.add_metric([owner], n)
        waiting = GaugeMetricFamily("hotline_outbox_backlog", "notices waiting to be delivered, by channel",
                                    labels=["channel"])
        oldest = GaugeMetricFamily("hotline_outbox_oldest_age_seconds",
                                   "age of the oldest notice waiting to be delivered (0: none waits)")
        ages = [0.0]
        counts = {c: 0 for c in CHANNELS}  # every channel present, at 0 too: a series to alert on
        for channel, n, first in backlog:
            counts[channel] = n
            if first is not None:
                ages.append(max(0.0, (now - _aware(first)).total_seconds()))
        for channel, n in counts.items():
            waiting.add_metric([channel], n)
        oldest.add_metric([], max(ages))
        failures = GaugeMetricFamily("hotline_outbox_failed", "notices whose delivery failed for good, by channel",
                                     labels=["channel"])
        for channel, n in {**{c: 0 for c in CHANNELS}, **dict(failed)}.items():
            failures.add_metric([channel], n)
        issued = GaugeMetricFamily("hotline_supervision_issued", "strikes, notified criticisms (通报批评) and "
                                   "discipline referrals on the units' ledgers, all years", labels=["kind"])
        counts = dict(ledger)
        for kind in LEDGER_KINDS:  # every kind present, at 0 too: alerts can take increase() from the start
            issued.add_metric([kind], counts.get(kind, 0))
        return [open_orders, overdue, waiting, oldest, failures, issued, self._up(1)]
