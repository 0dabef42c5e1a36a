"""The weekly routing retrain as a Temporal Schedule (issue 19), on the real dev server: the
time-skipping test server does not implement schedules, so the schedule is triggered instead of
waiting for Sunday, and the run's promotion or refusal is read back from the model store."""
from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from activities.routing_retrain import RoutingRetrainActivities
from hotline.services.routing_learning import add_example
from hotline.store.routing_models import ModelStore
from workflows.hosted import WORKFLOWS
from workflows.routing_retrain import SCHEDULE_ID, SCHEDULE_TIME_ZONE, RoutingRetrainWorkflow
from workflows.setup import ensure_routing_retrain_schedule


async def test_triggering_the_weekly_schedule_retrains_and_records_the_decision(dev_env, sqlite_db, tmp_path):
    assert RoutingRetrainWorkflow in WORKFLOWS
    for i, place in enumerate(["小区", "地铁口", "学校", "医院门口", "公园"]):
        add_example(sqlite_db, "intake_override", f"SY-S{i}", f"{place}共享单车乱停把门口堵死了", "ZFJ",
                    "complaint", None, "JTJ")
    store = ModelStore(tmp_path / "models")
    client, queue = dev_env.client, f"q-{uuid.uuid4().hex[:8]}"
    try:  # a worker process of an earlier test on this shared server may have created it (worker.py)
        await client.get_schedule_handle(SCHEDULE_ID).delete()
    except Exception:
        pass
    retrain = RoutingRetrainActivities(sqlite_db, store).retrain_routing_model
    async with Worker(client, task_queue=queue, workflows=[RoutingRetrainWorkflow], activities=[retrain],
                      activity_executor=ThreadPoolExecutor(max_workers=1)):
        assert await ensure_routing_retrain_schedule(client, queue) is True
        assert await ensure_routing_retrain_schedule(client, queue) is False  # idempotent
        handle = client.get_schedule_handle(SCHEDULE_ID)
        try:
            desc = await handle.describe()
            spec = desc.schedule.spec  # the server keeps the cron line as a calendar
            assert spec.time_zone_name == SCHEDULE_TIME_ZONE and (spec.calendars or spec.cron_expressions)
            await handle.trigger()
            while not (await handle.describe()).info.recent_actions:
                await asyncio.sleep(0.1)
            run = (await handle.describe()).info.recent_actions[0].action
            report = await client.get_workflow_handle(run.workflow_id, run_id=run.first_execution_run_id).result()
        finally:
            await handle.delete()
    assert report["corrections"] == 5 and report["old"] and report["new"] != report["old"]
    assert (store.dir / f"{report['new']}.joblib").exists()  # kept either way, for inspection
    assert store.current_version() == (report["new"] if report["promoted"] else report["old"])
