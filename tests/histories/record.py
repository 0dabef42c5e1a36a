"""Records the representative histories replayed by tests/workflows/test_replay.py.

    .venv/bin/python -m tests.histories.record TAG [SCENARIO ...]

With scenario names (e.g. `merged_requests_closed`), only those are run and saved: a release
that adds a path records that path, the others stand as recorded.

Files are named `<scenario>-<TAG>.json` (e.g. the release that changed the workflow) and an
existing file is never overwritten: older histories stand for orders started by older code.

Run it only when a deliberate change (guarded by `workflow.patched`) is released: the saved
histories stand for orders already running in production, and the replay test proves the
current code can still carry them on. Never re-record to make a failing replay pass.
"""
from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from hotline.domain.calendar_schedule import parse_schedule
from hotline.domain.contracts import CalendarChange
from hotline.domain.models import (
    CallbackAction,
    CoHandlerDoneAction,
    ContactAction,
    CoordinationPlanAction,
    ExtensionRequestAction,
    ExtensionReviewAction,
    MergeAction,
    Petitioner,
    ReplyAction,
    ReturnRequestAction,
    ReturnReviewAction,
    SignAction,
    UnmergeAction,
)
from hotline.services.calendar_admin import import_schedule
from hotline.store import Database
from tests.conftest import _binary
from tests.harness import intake as intake_request
from tests.harness import running_worker
from tests.histories.codec_keys import HISTORY_KEYS
from workflows.codec import data_converter

HERE = Path(__file__).parent


TAG = ""
ONLY: set[str] = set()


def want(name: str) -> bool:
    return not ONLY or name in ONLY


async def _save(h, order_no: str, name: str) -> None:
    handle = h.client.get_workflow_handle(f"order-{order_no}")
    hist = await handle.fetch_history()
    path = HERE / f"{name}-{TAG}.json"
    if path.exists():
        raise SystemExit(f"{path.name} exists: choose a new tag")
    path.write_text(hist.to_json(), encoding="utf-8")
    print(f"saved {path.name} ({len(hist.events)} events)")


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(HISTORY_KEYS), test_server_existing_path=_binary("temporal-test-server"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/h.db")
        db.migrate()
        async with running_worker(env.client, db, "fast") as h:
            # 1. the happy path with co-handling, closed after a satisfied callback
            if want("happy_path_closed"):
                await _happy_path(h)
            # 2. every timer fired: sign-for, reminder, supervision, escalation; still open
            if want("timers_fired_open"):
                no, _ = await h.start(owner="HBJ")
                await env.sleep(80)
                await asyncio.sleep(1)
                await _save(h, no, "timers_fired_open")
            # 3. a return approved and redispatched, an extension, a reopen, closed unrated
            if want("return_extension_reopen_unrated"):
                await _return_extension_reopen(h, env)
            # 6. intake answered from the start (deadlines in the input): the happy path, closed,
            #    and every timer fired, open
            if want("happy_path_from_start_closed") or want("timers_fired_from_start_open"):
                async with running_worker(env.client, db, "fast", from_start=True) as g:
                    if want("happy_path_from_start_closed"):
                        await _happy_path(g, await env.get_current_time(), "happy_path_from_start_closed")
                    if want("timers_fired_from_start_open"):
                        no, _ = await g.start(owner="HBJ", created_at=await env.get_current_time())
                        await env.sleep(80)
                        await asyncio.sleep(1)
                        await _save(g, no, "timers_fired_from_start_open")
            # 7. intake answered from the start, and the owner's sign in the order's first task
            #    (sent before any worker ran it): applied after intake, the order left open
            if want("signed_in_first_task_from_start_open"):
                await _signed_in_first_task(env, db)
            # 5. 并单: two requests merged, one unmerged, a callback per petitioner, closed
            if want("merged_requests_closed"):
                await _merged(h)

            # 4. (sanya, calendar from the database) dispatched before the 2027 schedule was
            #    entered, then told to follow it; its moved handling deadline fires. The first
            #    worker keeps serving the open order of 2, or the test server could not skip time.
            if want("calendar_followed_open"):
                await _calendar_followed(env, db)

        db.dispose()
    await env.shutdown()


async def _happy_path(h, created_at: datetime | None = None, name: str = "happy_path_closed") -> None:
    no, handle = await h.start(owner="ZJJ", created_at=created_at)
    await h.act(no, "sign", SignAction(by="ZJJ"))
    await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
    due = (await h.state(no)).signed_at + timedelta(seconds=20)
    await h.act(no, "coordination-plan", CoordinationPlanAction(
        by="ZJJ", plan="联合处置", co_handlers=[{"unit": "ZFJ", "task": "夜间执法", "due": due}]))
    await h.act(no, "co-handler-done", CoHandlerDoneAction(by="ZFJ", note="已执法"))
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="已停工", resolved=True))
    await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                               satisfaction="satisfied"))
    await handle.result()
    await _save(h, no, name)


async def _signed_in_first_task(env, db) -> None:
    from hotline.domain.policy import load_policy
    from hotline.services.deadlines import DeadlineCalculator
    from workflows.client import TemporalWorkOrders
    queue = "record-first-task"
    engine = TemporalWorkOrders(env.client, queue, load_policy("fast"), search_attributes=False,
                                deadlines=DeadlineCalculator().compute)
    no = "SY20260101800001"
    await engine.start_order(no, intake_request(), "ZJJ", "operator", [], await env.get_current_time())
    sign = asyncio.create_task(engine.act(no, "sign", SignAction(by="ZJJ")))
    await asyncio.sleep(1)
    async with running_worker(env.client, db, "fast", queue=queue) as h:
        await sign
        await asyncio.sleep(1)
        await _save(h, no, "signed_in_first_task_from_start_open")


async def _return_extension_reopen(h, env) -> None:
    no, handle = await h.start(owner="SWJ")
    await h.act(no, "return-request", ReturnRequestAction(by="SWJ", reason="非本单位", claimed_unit="ZJJ",
                                                          basis="权责清单"))
    await h.act(no, "return-review", ReturnReviewAction(by="admin:li", decision="approve", reason="同意"))
    await h.act(no, "sign", SignAction(by="ZJJ"))
    await h.act(no, "extension-request", ExtensionRequestAction(by="ZJJ", days=2, reason="检测"))
    await h.act(no, "extension-review", ExtensionReviewAction(by="admin:li", decision="approve", reason="可"))
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="处理中", resolved=False))
    await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=False,
                                               satisfaction="dissatisfied"))
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="已解决", resolved=True))
    await env.sleep(25)
    await handle.result()
    await _save(h, no, "return_extension_reopen_unrated")


async def _merged(h) -> None:
    no, handle = await h.start(owner="ZJJ")
    for i, phone in enumerate(("13900000001", "13900000002")):
        await h.act(no, "merge", MergeAction(by="HOTLINE", operator="intake:1", request_no=f"SY2026010190000{i}",
                                             petitioner=Petitioner(name=f"居民{i}", phone=phone), note="同一事项"))
    await h.act(no, "sign", SignAction(by="ZJJ"))
    await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
    await h.act(no, "reply", ReplyAction(by="ZJJ", result="已疏通", resolved=True))
    await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                               satisfaction="satisfied"))
    await h.act(no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                               satisfaction="basically_satisfied", request_no="SY20260101900000"))
    await h.act(no, "unmerge", UnmergeAction(by="admin:li", request_no="SY20260101900001", reason="错并"))
    await handle.result()
    await _save(h, no, "merged_requests_closed")


async def _calendar_followed(env, db) -> None:
    async with running_worker(env.client, db, "sanya") as h:
        cst = ZoneInfo("Asia/Shanghai")
        now = await env.get_current_time()
        start = datetime(2027, 2, 1, 10, 0, tzinfo=cst)
        while start - now > timedelta(0):  # in steps: one long skip times out
            await env.sleep(min(start - now, timedelta(days=5)))
            now = await env.get_current_time()
        no, _ = await h.start(owner="ZJJ")
        await h.act(no, "sign", SignAction(by="ZJJ"))
        await h.act(no, "contact", ContactAction(by="ZJJ", note="已联系"))
        draft = Path(__file__).resolve().parent.parent / "data" / "calendar_2027_draft.yaml"
        import_schedule(db, parse_schedule(draft.read_text(encoding="utf-8")), "admin:li")
        await h.engine.calendar_changed(no, CalendarChange(years=[2027], notice="草案", by="admin:li"))
        await asyncio.sleep(1)
        for _ in range(4):
            await env.sleep(timedelta(days=5))
        await asyncio.sleep(1)
        await _save(h, no, "calendar_followed_open")


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.histories.record TAG [SCENARIO ...]")
    TAG, ONLY = sys.argv[1], set(sys.argv[2:])
    asyncio.run(main())
