"""Issue 16, "Must show": one HTTP intake is one trace — the gateway's HTTP span, the client's
update-with-start, the workflow's run and every activity it ran, each under its parent.

In one process, so an in-memory exporter sees every span: the app (FastAPI instrumentation),
the Temporal client with the SDK's tracing interceptor, and a real worker on that client on the
dev server. Tracing off (no OTEL_* variables) adds no interceptor at all.
"""
from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from hotline.api.app import create_app
from hotline.api.observability import instrument
from hotline.runtime import tracing
from tests.api.test_api import ORDER, H, api_client, prepare
from tests.harness import router, running_worker, seed_order_numbers, settled


def _tree(spans):
    by_id = {s.context.span_id: s for s in spans}
    return by_id, {s.context.span_id: (s.parent.span_id if s.parent else None) for s in spans}


async def test_one_intake_is_one_trace_from_http_to_every_activity(dev_env, sqlite_db):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    keys = prepare(sqlite_db)
    seed_order_numbers(sqlite_db)
    client = Client(**{**dev_env.client.config(), "interceptors": [tracing.interceptor(provider)]})
    async with running_worker(client, sqlite_db) as h:
        app = create_app(sqlite_db, h.engine, router())
        instrument(app, provider)
        async with api_client(app) as c:
            r = await c.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER)
            assert r.status_code == 201, r.text
            no = r.json()["order_no"]
        await settled(sqlite_db, no)
    spans = exporter.get_finished_spans()
    http = [s for s in spans if s.name == "POST /api/v1/orders" and s.parent is None]
    assert len(http) == 1, [s.name for s in spans]
    trace_id = http[0].context.trace_id
    trace = [s for s in spans if s.context.trace_id == trace_id]
    by_id, parent = _tree(trace)
    names = {s.name for s in trace}

    def one(name: str):
        found = [s for s in trace if s.name == name]
        assert len(found) == 1, (name, sorted(names))
        return found[0]

    start = one("StartUpdateWithStartWorkflow:WorkOrderWorkflow")
    run = one("RunWorkflow:WorkOrderWorkflow")
    assert parent[start.context.span_id] == http[0].context.span_id  # the request started the order
    assert parent[run.context.span_id] == start.context.span_id  # the workflow ran under that call

    def ancestors(span) -> list[str]:
        out, pid = [], parent[span.context.span_id]
        while pid is not None:
            out.append(by_id[pid].name)
            pid = parent.get(pid)
        return out

    runs = [s for s in trace if s.name.startswith("RunActivity:")]
    # intake's activities: the dispatch deadlines, and one write of intake, dispatch and its notice
    assert {s.name for s in runs} >= {"RunActivity:compute_deadlines", "RunActivity:record_action"}, sorted(names)
    for act in runs:  # each activity under the workflow's StartActivity of the same type, in the trace
        kind = act.name.split(":", 1)[1]
        up = ancestors(act)
        assert up[0] == f"StartActivity:{kind}", (act.name, up)
        assert up[-1] == "POST /api/v1/orders", (act.name, up)
        # the SDK parents a workflow's spans on the workflow's context: the call that started it
        # (as it does RunWorkflow), or the update being handled
        assert up[1] == start.name or up[1].startswith("HandleUpdate:"), (act.name, up)
        assert start.name in up, (act.name, up)
    # and nothing of this intake went to another trace: every StartActivity has its RunActivity here
    starts = [s for s in trace if s.name.startswith("StartActivity:")]
    assert sorted(s.name.split(":", 1)[1] for s in starts) == sorted(s.name.split(":", 1)[1] for s in runs)


def test_tracing_is_off_without_the_otel_variables():
    assert not tracing.otlp_configured({})
    assert not tracing.otlp_configured({"OTEL_SERVICE_NAME": "x"})
    assert tracing.otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.otlp_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not tracing.otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.otlp_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"})
    assert tracing.setup("hotline-test", env={}) is None and tracing.client_interceptors() == []
