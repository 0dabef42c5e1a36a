"""Issue 16: the alert rules, the Prometheus configuration and the Grafana dashboard load and
hold together, and docker-compose.yml provisions them. That every metric they name is one the
services really export is checked against the running stack's /metrics in
tests/stack/test_observability_stack.py (`metric_names` below is what both use)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.deploy.test_compose import bind_mounts, load_compose

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/hotline.json"
PROVISIONING = ROOT / "deploy/grafana/provisioning"

# PromQL words that are not metric names
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}
PROMETHEUS_OWN = {"up"}  # written by Prometheus itself for every target


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (inside {} or after by/without/on/ignoring) or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def alert_rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def names_in_config() -> set[str]:
    return {n for e in [r["expr"] for r in alert_rules()] + dashboard_exprs() for n in metric_names(e)}


def test_metric_names_are_read_from_promql():
    assert metric_names('histogram_quantile(0.95, sum by (le) (rate(a_bucket{job="x"}[5m]))) > 5') == {"a_bucket"}
    assert metric_names("sum(max by (owner) (b)) - sum(max by (owner) (b offset 1h)) > 5") == {"b"}
    assert metric_names('up{job="w"} == 0 or absent(up{job="w"})') == {"up"}
    assert metric_names("sum(rate(c_total[5m])) / sum(rate(d_total[5m])) * 60") == {"c_total", "d_total"}


def test_the_alert_rules_cover_what_the_issue_asks_and_are_complete():
    rules = alert_rules()
    by_name = {r["alert"]: r for r in rules}
    assert len(by_name) == len(rules)
    for rule in rules:
        assert rule["expr"].strip() and re.match(r"^\d+[smh]$", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    expected = {  # the issue's alerts: overdue rising, outbox stuck 10 min, task failures, p95 > 5 s, worker down
        "HotlineOverdueOrdersRising": "hotline_orders_overdue",
        "HotlineOutboxStuck": "hotline_outbox_oldest_age_seconds",
        "HotlineWorkflowTaskFailures": "temporal_workflow_task_execution_failed_total",
        "HotlineWorkflowTaskScheduleToStartSlow": "temporal_workflow_task_schedule_to_start_latency_bucket",
        "HotlineWorkerDown": "up",
    }
    for alert, metric in expected.items():
        assert metric in metric_names(by_name[alert]["expr"]), alert
    assert "> 600" in by_name["HotlineOutboxStuck"]["expr"] and by_name["HotlineOutboxStuck"]["for"] == "10m"
    assert "0.95" in by_name["HotlineWorkflowTaskScheduleToStartSlow"]["expr"]
    assert "> 5" in by_name["HotlineWorkflowTaskScheduleToStartSlow"]["expr"]


def test_prometheus_scrapes_both_services_and_loads_the_rules():
    doc = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert jobs["hotline-gateway"]["static_configs"][0]["targets"] == ["gateway:8000"]
    assert jobs["hotline-worker"]["dns_sd_configs"][0]["port"] == 9191
    assert doc["rule_files"] == ["/etc/prometheus/alerts.yml"]
    # the worker-down alert names the job Prometheus gives the workers
    assert 'job="hotline-worker"' in {r["alert"]: r for r in alert_rules()}["HotlineWorkerDown"]["expr"]


def test_the_dashboard_is_valid_and_uses_the_provisioned_data_source():
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert doc["uid"] and doc["title"] and doc["panels"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    source = yaml.safe_load((PROVISIONING / "datasources/prometheus.yml").read_text(encoding="utf-8"))
    uid = source["datasources"][0]["uid"]
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == uid and target["expr"], panel["title"]
    assert len(dashboard_exprs()) >= 15


def test_compose_provisions_prometheus_and_grafana():
    services = load_compose()["services"]
    prom, graf = services["prometheus"], services["grafana"]
    assert prom["image"].startswith("prom/prometheus:v") and graf["image"].startswith("grafana/grafana:")
    mounted = {str(h.relative_to(ROOT)): t for h, t in bind_mounts(prom) + bind_mounts(graf)}
    assert mounted["deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounted["deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    assert mounted["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((PROVISIONING / "dashboards/hotline.yml").read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == mounted["deploy/grafana/dashboards"]
    for name in ("prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"]), name
    # the workers serve /metrics to Prometheus on the compose network; their health check is /readyz
    worker = services["worker"]
    assert worker["environment"]["HOTLINE_WORKER_METRICS_PORT"] == "9191"
    assert worker["environment"]["HOTLINE_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert "http://127.0.0.1:9191/readyz" in worker["healthcheck"]["test"]
    assert "ports" not in worker
