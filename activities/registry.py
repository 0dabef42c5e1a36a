"""All activities of the worker, wired with their dependencies (one place for tests and production)."""
from __future__ import annotations

from temporalio.client import Client

from activities.deadlines import DeadlineActivities
from activities.notify import NotifyActivities
from activities.routing import RoutingActivities
from activities.store import StoreActivities
from activities.supervision import SupervisionActivities
from hotline.policy import Policy
from hotline.routing import Router
from hotline.store import Database


def build_activities(db: Database, client: Client | None, task_queue: str, policy: Policy,
                     router: Router, calendar_overrides: dict | None = None) -> list:
    store = StoreActivities(db)
    notify = NotifyActivities(db)
    deadlines = DeadlineActivities(calendar_overrides)
    routing = RoutingActivities(router)
    supervision = SupervisionActivities(db, client, task_queue, policy)
    return [store.record_step, notify.notify, deadlines.compute_deadlines, routing.recommend_return,
            supervision.send_strike, supervision.flag_staff, supervision.record_ledger_event]
