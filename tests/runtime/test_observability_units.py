"""Issue 16, the parts that need no running stack: the worker-metrics settings, JSON log lines
(masked, with the order number and the trace id), route templates as labels, readiness of a
database that is not migrated."""
from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from hotline.api.app import create_app
from hotline.domain.masking import MaskingFilter
from hotline.runtime.logjson import JsonFormatter
from hotline.runtime.settings import SettingsError, load_settings
from hotline.store import Database
from tests.api.test_api import H, api_client, prepare
from tests.harness import router


def test_worker_metrics_settings():
    s = load_settings({})
    assert (s.worker_metrics_host, s.worker_metrics_port) == ("127.0.0.1", 9191)
    assert load_settings({"HOTLINE_WORKER_METRICS_PORT": "off"}).worker_metrics_port is None
    s = load_settings({"HOTLINE_WORKER_METRICS_PORT": "9300", "HOTLINE_WORKER_METRICS_HOST": "0.0.0.0"})
    assert (s.worker_metrics_host, s.worker_metrics_port) == ("0.0.0.0", 9300)
    for raw, says in (("metrics", "is not a number"), ("0", "is not a valid port"), ("65536", "is not a valid port")):
        with pytest.raises(SettingsError) as err:
            load_settings({"HOTLINE_WORKER_METRICS_PORT": raw})
        assert str(err.value).startswith(f"HOTLINE_WORKER_METRICS_PORT={raw!r}") and says in str(err.value)
    with pytest.raises(SettingsError, match="HOTLINE_WORKER_METRICS_HOST='0.0.0.0; rm'"):
        load_settings({"HOTLINE_WORKER_METRICS_HOST": "0.0.0.0; rm"})


def _line(record: logging.LogRecord) -> dict:
    MaskingFilter().filter(record)  # as the handler runs it, before formatting
    text = JsonFormatter().format(record)
    assert "\n" not in text
    return json.loads(text)


def test_a_log_line_is_json_masked_with_order_and_trace():
    record = logging.LogRecord("hotline.activities", logging.INFO, __file__, 1,
                               "sms to %s: 请回电 13855501234", ("petitioner",), None)
    record.temporal_activity = {"workflow_id": "order-SY20261127000001", "activity_type": "notify"}
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        line = _line(record)
    assert line["message"] == "sms to petitioner: 请回电 138****1234"
    assert line["order_no"] == "SY20261127000001" and line["workflow_id"] == "order-SY20261127000001"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["level"] == "info" and line["logger"] == "hotline.activities" and line["time"].endswith("+00:00")


def test_a_traceback_is_masked_in_its_json_line():
    try:
        raise ValueError("bad phone 13855501234")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = _line(record)
    assert "13855501234" not in json.dumps(line, ensure_ascii=False) and "138****1234" in line["exception"]
    assert "trace_id" not in line  # no span: no id


async def test_requests_are_labelled_by_route_template(sqlite_db):
    from hotline.runtime.metrics import HTTP_REQUESTS
    keys = prepare(sqlite_db)
    sample = HTTP_REQUESTS.labels("GET", "/api/v1/orders/{order_no}", "404")
    unmatched = HTTP_REQUESTS.labels("GET", "unmatched", "404")
    before, before_unmatched = sample._value.get(), unmatched._value.get()
    async with api_client(create_app(sqlite_db, None, router())) as c:
        r = await c.get("/api/v1/orders/SY20261127999999", headers=H(keys["admin"]))
        assert r.status_code == 404
        assert (await c.get("/no/such/path/SY20261127999999")).status_code == 404
        metrics = (await c.get("/metrics")).text
    assert sample._value.get() - before == 1 and unmatched._value.get() - before_unmatched == 1
    assert "SY20261127999999" not in metrics
    assert 'hotline_orders_open' in metrics or "hotline_business_metrics_up 1.0" in metrics


async def test_readyz_refuses_a_database_behind_the_code(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated
    try:
        async with api_client(create_app(db, object(), router())) as c:
            r = await c.get("/readyz")
        assert r.status_code == 503
        assert any("run the migrations" in p for p in r.json()["problems"]), r.json()
    finally:
        db.dispose()
