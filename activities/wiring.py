"""All activities of the worker, wired with their dependencies (one place for tests and production)."""
from __future__ import annotations

from temporalio.client import Client

from activities.deadlines import DeadlineActivities
from activities.notify import NotifyActivities
from activities.routing import RoutingActivities
from activities.routing_retrain import RoutingRetrainActivities
from activities.store import StoreActivities
from activities.supervision import SupervisionActivities
from hotline.domain.policy import Policy
from hotline.domain.routing.router import Router
from hotline.services.calendar_admin import CalendarSource
from hotline.store import Database


def build_activities(db: Database, client: Client | None, task_queue: str, policy: Policy,
                     router: Router, calendar_overrides: dict | None = None) -> list:
    """`calendar_overrides=None` computes deadlines on the shipped override table merged with the
    schedules entered in the database (re-read as they change); a mapping fixes the table (tests)."""
    store = StoreActivities(db)
    notify = NotifyActivities(db)
    deadlines = DeadlineActivities(CalendarSource(db) if calendar_overrides is None else calendar_overrides)
    routing = RoutingActivities(router)
    supervision = SupervisionActivities(db, client, task_queue, policy)
    return [store.record_step, store.record_action, store.sync_read_model, notify.notify,
            deadlines.compute_deadlines, routing.recommend_return,
            supervision.send_strike, supervision.flag_staff, supervision.record_ledger_event,
            RoutingRetrainActivities(db).retrain_routing_model]
