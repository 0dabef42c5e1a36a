"""The process's own Prometheus counters (prometheus-client, default registry).

Counters live in the process that moves them: the gateway counts HTTP requests and routing
decisions, the worker counts activities and the orders its commit watcher healed. Labels are
codes from closed sets only (route templates, methods, status codes, activity types, routing
decisions): never an order number, a name or anything a citizen wrote.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "hotline_http_requests", "HTTP requests answered by the gateway, by route template and status",
    ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "hotline_http_request_duration_seconds", "time to answer an HTTP request, by route template",
    ["method", "route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
ROUTING_DECISIONS = Counter(
    "hotline_routing_decisions", "owners chosen at intake of a new order, by how (operator, routing:<decision>)",
    ["kind"])
ACTIVITIES = Counter(
    "hotline_activities", "activity executions finished by this worker",
    ["activity", "local", "outcome"])
COMMIT_WRITES = Counter(
    "hotline_commit_writes", "held local-activity writes settled by the commit watcher",
    ["decision"])
ORDERS_HEALED = Counter(
    "hotline_orders_healed", "orders whose writes of a never-committed workflow task were voided "
                             "(their read model rewritten by the order itself when needed)")
