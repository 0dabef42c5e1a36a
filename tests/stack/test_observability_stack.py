"""Issue 16, "Must show", on the real stack (tests/stack/obs_stack.py: the dev server, `python
worker.py`, `uvicorn gateway:app`, the fast policy): the counters and gauges an intake and a
sign move, and by exactly how much; an overdue order in the overdue gauge once its deadline
fires; after a whole lifecycle no metric label and no log line holds the petitioner's name or
phone; health and readiness of both processes."""
from __future__ import annotations

import json

import pytest_asyncio
from temporalio.api.enums.v1 import EventType

from tests.api.test_api import ORDER, H
from tests.harness import settled
from tests.stack.obs_stack import Collector, running_stack, until
from tests.stack.test_privacy_scan import NAME, PHONE, leaks


@pytest_asyncio.fixture(scope="module")
async def collector():
    c = Collector()
    yield c
    c.close()


@pytest_asyncio.fixture(scope="module")
async def stack(dev_env, tmp_path_factory, collector):
    """With tracing on: the standard variable points both processes at the stand-in collector."""
    async for s in running_stack(dev_env, tmp_path_factory.mktemp("obs"), OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                                 OTEL_BSP_SCHEDULE_DELAY="200"):
        yield s


async def _activities_in_history(dev_env, order_no: str) -> int:
    """Activities the order ran, as its history records them: regular ones completed and local
    ones' markers."""
    hist = await dev_env.client.get_workflow_handle(f"order-{order_no}").fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
               or (e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                   and e.marker_recorded_event_attributes.marker_name == "core_local_activity")
               for e in hist.events)


async def test_an_intake_and_a_sign_move_the_counters_by_exactly_that(stack, dev_env):
    g0, w0 = await stack.gateway(), await stack.worker()
    intake = dict(route="/api/v1/orders", method="POST", status="201")
    sign = dict(route="/api/v1/orders/{order_no}/sign", method="POST", status="200")
    r = await stack.http.post(f"{stack.gateway_url}/api/v1/orders", headers=H(stack.keys["intake"]), json=ORDER)
    assert r.status_code == 201, r.text
    no = r.json()["order_no"]
    r = await stack.http.post(f"{stack.gateway_url}/api/v1/orders/{no}/sign", headers=H(stack.keys["ZJJ"]))
    assert r.status_code == 200, r.text
    await settled(stack.db, no)

    g1 = await stack.gateway()
    assert g1.value("hotline_http_requests_total", **intake) - g0.value("hotline_http_requests_total", **intake) == 1
    assert g1.value("hotline_http_requests_total", **sign) - g0.value("hotline_http_requests_total", **sign) == 1
    assert (g1.value("hotline_http_request_duration_seconds_count", route=sign["route"], method="POST")
            - g0.value("hotline_http_request_duration_seconds_count", route=sign["route"], method="POST")) == 1
    assert (g1.value("hotline_routing_decisions_total", kind="operator")
            - g0.value("hotline_routing_decisions_total", kind="operator")) == 1  # ORDER names its owner
    assert g1.value("hotline_routing_decisions_total") - g0.value("hotline_routing_decisions_total") == 1
    assert not any(no in v for v in g1.label_values())  # a route template, never the order's number

    stage = r.json()["stage"]  # what the sign answered: the order as the read model holds it
    assert stage in ("signed", "handling")

    async def gauges_moved():  # the business gauges are read from the database, cached 2 s
        g = await stack.gateway()
        return (g.value("hotline_orders_open", stage=stage, owner="ZJJ")
                - g0.value("hotline_orders_open", stage=stage, owner="ZJJ") == 1) and g
    g2 = await until(gauges_moved, "the order in the open-orders gauge", timeout=10)
    assert g2.value("hotline_orders_open") - g0.value("hotline_orders_open") == 1
    assert g2.value("hotline_orders_overdue") == g0.value("hotline_orders_overdue")
    assert g2.value("hotline_business_metrics_up") == 1

    # the worker: every activity the order's history records, counted once; no task failed
    async def activities_counted():  # read together: a step may still be running
        w, expected = await stack.worker(), await _activities_in_history(dev_env, no)
        counted = w.value("hotline_activities_total") - w0.value("hotline_activities_total")
        return expected >= 3 and counted == expected and w
    w1 = await until(activities_counted, "the worker's activity counter to match the history", timeout=20)
    assert w1.value("hotline_activities_total", outcome="failed") == w0.value("hotline_activities_total",
                                                                                outcome="failed")
    assert w1.value("hotline_orders_healed_total") == w0.value("hotline_orders_healed_total") == 0
    assert w1.value("temporal_workflow_task_execution_failed_total") == \
        w0.value("temporal_workflow_task_execution_failed_total")
    # the SDK's own metrics, from the worker's runtime: tasks were scheduled and ran
    for name in ("temporal_workflow_task_schedule_to_start_latency_count",  # in seconds
                 "temporal_workflow_task_execution_latency_count", "temporal_local_activity_execution_latency_count"):
        assert w1.value(name) > w0.value(name), name
    assert "temporal_sticky_cache_size" in w1.names()


async def test_an_order_left_unanswered_appears_in_the_overdue_gauge(stack):
    body = {**ORDER, "urgency": "urgent", "owner": "SWJ", "category": "complaint"}  # fast: handling in 20 s
    r = await stack.http.post(f"{stack.gateway_url}/api/v1/orders", headers=H(stack.keys["intake"]), json=body)
    assert r.status_code == 201, r.text
    no = r.json()["order_no"]
    g = await stack.gateway()
    assert g.value("hotline_orders_overdue", owner="SWJ") == 0

    async def overdue():
        return (await stack.gateway()).value("hotline_orders_overdue", owner="SWJ") == 1
    await until(overdue, "the order in the overdue gauge", timeout=90)
    r = await stack.http.get(f"{stack.gateway_url}/api/v1/orders/{no}", headers=H(stack.keys["admin"]))
    assert r.json()["overdue"] is True  # the gauge and the read model agree


async def test_no_metric_label_and_no_log_line_holds_the_petitioner(stack):
    body = {**ORDER, "title": f"{NAME}反映工地噪音，电话１３８５５５０１２３４",
            "description": f"我是{NAME}，手机 +86 138 5550 1234", "petitioner": {"name": NAME, "phone": PHONE}}
    r = await stack.http.post(f"{stack.gateway_url}/api/v1/orders", headers=H(stack.keys["intake"]), json=body)
    assert r.status_code == 201, r.text
    no = r.json()["order_no"]
    zjj, admin = H(stack.keys["ZJJ"]), H(stack.keys["admin"])
    for action, who, payload in [
            ("sign", zjj, None),
            ("contact", zjj, {"note": f"已电话联系{NAME}（138.5550.1234）"}),
            ("reply", zjj, {"result": f"已告知{NAME}：工地已停工", "resolved": True}),
            ("callback", admin, {"answered": True, "resolved": True, "satisfaction": "satisfied"})]:
        r = await stack.http.post(f"{stack.gateway_url}/api/v1/orders/{no}/{action}", headers=who, json=payload)
        assert r.status_code == 200, (action, r.text)

    async def closed():
        r = await stack.http.get(f"{stack.gateway_url}/api/v1/orders/{no}", headers=admin)
        return r.json()["stage"] == "closed"
    await until(closed, "the order to close")
    assert leaks(r.text), "the control: the scan finds the petitioner where it is shown"
    await settled(stack.db, no)

    for scrape in (await stack.gateway(), await stack.worker()):
        assert leaks(scrape.text) == []
        assert not any(no in v for v in scrape.label_values())
        assert len(scrape.label_values()) < 500  # bounded: codes, templates, buckets

    gateway_log = (stack.logs / "gateway.log").read_text(encoding="utf-8")
    worker_log = (stack.logs / "worker.log").read_text(encoding="utf-8")
    assert leaks(gateway_log) == [] and leaks(worker_log) == []
    # structured: the gateway's lines (its access log included) are JSON objects
    records = [json.loads(line) for line in gateway_log.splitlines() if line.startswith("{")]
    assert any(f"POST /api/v1/orders/{no}/reply" in rec["message"] for rec in records)
    assert all({"time", "level", "logger", "message"} <= rec.keys() for rec in records)
    worker_records = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    assert any(rec["logger"] == "hotline.worker" for rec in worker_records)


async def test_both_processes_export_their_spans_over_otlp(stack, collector):
    """The spans of the orders above reached the collector from the gateway and the worker, in
    the traces their JSON log lines name, and hold nothing of the petitioner."""
    async def exported():
        text = collector.spans_text()
        return all(f"hotline-{who}" in text for who in ("gateway", "worker")) and "RunActivity:" in text and text
    text = await until(exported, "spans from both services at the collector", timeout=30)
    # intake answered from the start: the gateway's span starts the workflow (no update-with-start)
    assert "POST /api/v1/orders" in text and "StartWorkflow:WorkOrderWorkflow" in text
    assert leaks(text) == []
    logged = {json.loads(line).get("trace_id") for line in (stack.logs / "gateway.log").read_text().splitlines()
              if line.startswith("{")} - {None}
    assert logged, "the gateway's log lines carry the trace id"
    # one intake, one trace across both processes: the gateway's request and the worker's steps
    by_trace: dict[str, set[tuple[str, str]]] = {}
    for service, trace_id, name in collector.spans():
        by_trace.setdefault(trace_id, set()).add((service, name.split(":", 1)[0]))
    joined = [t for t, spans in by_trace.items()
              if ("hotline-gateway", "POST /api/v1/orders") in spans and ("hotline-worker", "RunActivity") in spans]
    assert joined, "no trace holds both the gateway's intake and the worker's activities"
    assert logged & set(by_trace), "the trace ids in the log are those of exported traces"


async def test_health_and_readiness_of_both_processes(stack):
    for url in (stack.gateway_url, stack.worker_url):
        r = await stack.http.get(f"{url}/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok", url
        r = await stack.http.get(f"{url}/readyz")
        assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["problems"] == [], url


async def test_the_alerts_and_the_dashboard_name_only_metrics_the_services_export(stack, dev_env):
    """Run last: after the orders above, and after one workflow task failure — a workflow type
    no worker knows, the kind of failure the alert is for — every series is there to see."""
    from tests.deploy.test_observability_config import PROMETHEUS_OWN, names_in_config

    w0 = await stack.worker()
    handle = await dev_env.client.start_workflow("NoSuchWorkflow", id=f"obs-unknown-{stack.queue}",
                                                 task_queue=stack.queue)
    try:
        async def task_failed():
            w = await stack.worker()
            return (w.value("temporal_workflow_task_execution_failed_total")
                    > w0.value("temporal_workflow_task_execution_failed_total")) and w
        worker = await until(task_failed, "the worker's workflow-task failure counter", timeout=30)
    finally:
        await handle.terminate("an observability test's deliberate failure")
    exported = (await stack.gateway()).names() | worker.names() | PROMETHEUS_OWN
    missing = names_in_config() - exported
    assert not missing, f"named by the alerts or the dashboard, exported by no service: {sorted(missing)}"
