"""The worker's metrics and readiness on one port (HOTLINE_WORKER_METRICS_PORT, default 9191 on
HOTLINE_WORKER_METRICS_HOST, default 127.0.0.1):

    GET /metrics   the SDK's metrics (workflow-task schedule-to-start and execution latencies,
                   sticky cache, activity latencies and failures, workflow tasks failed …, all
                   `temporal_*`) followed by the worker's own counters (`hotline_*`)
    GET /healthz   200 while the process runs
    GET /readyz    200 when the worker polls, the database answers and is migrated, and the
                   Temporal frontend answers; 503 with the problems otherwise

The SDK's metrics come from a temporalio Runtime with a Prometheus exporter, bound to a free
port on 127.0.0.1 and read back here, so the worker has a single port to scrape. A Runtime is
made once per process: tests that make many clients in one process keep the SDK's default one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger("hotline.telemetry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sdk_runtime() -> tuple[Runtime | None, str | None]:
    """A Runtime exporting the SDK's metrics, and the URL they are read from; (None, None) when
    the exporter cannot start (the worker then runs on the default runtime, without them)."""
    port = _free_port()
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=f"127.0.0.1:{port}", counters_total_suffix=True, durations_as_seconds=True)))
    except Exception as exc:
        log.warning("SDK metrics off: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None, None
    return runtime, f"http://127.0.0.1:{port}/metrics"


class Readiness:
    """The last readiness verdict, written by the worker's loop and read by the HTTP thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.problems: list[str] = ["starting"]
        self.checked_at = 0.0

    def set(self, problems: list[str]) -> None:
        with self._lock:
            self.problems, self.checked_at = list(problems), time.monotonic()

    def get(self, stale_after: float) -> list[str]:
        with self._lock:
            if self.checked_at and time.monotonic() - self.checked_at > stale_after:
                return ["readiness not checked for %.0fs: the worker's event loop is stuck" % stale_after]
            return list(self.problems)


async def watch_readiness(ready: Readiness, worker, db, client, stop: asyncio.Event, every: float = 3.0) -> None:
    from hotline.store.health import database_problems, temporal_problems
    while not stop.is_set():
        problems = [] if worker.is_running else ["worker: not polling"]
        problems += await asyncio.to_thread(database_problems, db)
        problems += await temporal_problems(client)
        ready.set(problems)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except asyncio.TimeoutError:
            pass
    ready.set(["worker: shutting down"])


def _handler(sdk_url: str | None, ready: Readiness):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = b""
                if sdk_url:
                    try:
                        with urllib.request.urlopen(sdk_url, timeout=5) as resp:  # noqa: S310 - our own port
                            body = resp.read()
                    except OSError as exc:
                        log.warning("SDK metrics unreadable: %s", type(exc).__name__)
                self._answer(200, body + generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b'{"status": "ok"}', "application/json")
            elif path == "/readyz":
                problems = ready.get(stale_after=30)
                answer = json.dumps({"status": "not ready" if problems else "ready", "problems": problems})
                self._answer(503 if problems else 200, answer.encode(), "application/json")
            else:
                self._answer(404, b'{"error": {"code": 404, "message": "not found"}}', "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # scrapes every few seconds: not worth a log line
            pass
    return Handler


def serve(host: str, port: int, sdk_url: str | None, ready: Readiness) -> ThreadingHTTPServer | None:
    """Start the worker's status server in a daemon thread; None (and a warning) when the port is
    taken: metrics are not worth a worker that does not run."""
    try:
        server = ThreadingHTTPServer((host, port), _handler(sdk_url, ready))
    except OSError as exc:
        log.warning("worker metrics and readiness off: cannot listen on %s:%d (%s)", host, port, exc.strerror)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-status", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics, readiness on /readyz", host, port)
    return server
