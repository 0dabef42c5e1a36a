"""A gateway and a worker as their own processes (`uvicorn gateway:app`, `python worker.py`) on
the dev server with the fast policy, logging to files, and the means to read their /metrics."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hotline.store import Database
from tests.api.test_api import prepare
from tests.conftest import free_port
from tests.harness import seed_order_numbers

ROOT = Path(__file__).resolve().parents[2]


class Scrape:
    """One scrape: every sample as (name, labels) → value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [(s.name, dict(s.labels), s.value)
                        for fam in text_string_to_metric_families(text) for s in fam.samples]

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}

    def value(self, name: str, **labels) -> float:
        """The sum over the series of `name` whose labels include `labels` (0 when none)."""
        return sum(v for n, ls, v in self.samples if n == name and all(ls.get(k) == w for k, w in labels.items()))

    def label_values(self) -> set[str]:
        return {v for _, ls, _ in self.samples for v in ls.values()}


@dataclass
class Stack:
    db: Database
    keys: dict[str, str]
    gateway_url: str
    worker_url: str
    logs: Path
    http: httpx.AsyncClient
    queue: str

    async def gateway(self) -> Scrape:
        r = await self.http.get(f"{self.gateway_url}/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text[:300]
        return Scrape(r.text)

    async def worker(self) -> Scrape:
        r = await self.http.get(f"{self.worker_url}/metrics")
        assert r.status_code == 200, r.text[:300]
        return Scrape(r.text)


def start_processes(env: dict, logs: Path, port: int) -> tuple[subprocess.Popen, subprocess.Popen]:
    """`python worker.py` and `uvicorn gateway:app` as the run command starts them, each writing
    its own log file under `logs`."""
    with open(logs / "worker.log", "ab") as wlog, open(logs / "gateway.log", "ab") as glog:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=wlog,
                                  stderr=subprocess.STDOUT)
        gateway = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway:app", "--host", "127.0.0.1",
                                    "--port", str(port), "--log-level", "info"], cwd=ROOT, env=env,
                                   stdout=glog, stderr=subprocess.STDOUT)
    return worker, gateway


async def until(check, what: str, timeout: float = 90.0):
    end = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def stop_process(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def running_stack(dev_env, tmp: Path, **extra_env):
    """An async generator for a fixture: yields a Stack once both report ready."""
    db = Database(f"sqlite:///{tmp / 'hotline.db'}")
    db.migrate()
    keys = prepare(db)
    seed_order_numbers(db)
    port, wport, queue = free_port(), free_port(), f"obs-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "DATABASE_URL": db.url, "HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": "fast",
           "HOTLINE_HTTP_PORT": str(port), "HOTLINE_WORKER_METRICS_PORT": str(wport), **extra_env}
    logs = tmp / "var"
    logs.mkdir()
    worker, gateway = start_processes(env, logs, port)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            stack = Stack(db, keys, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{wport}", logs, http, queue)
            for url in (stack.gateway_url, stack.worker_url):
                async def ready(url=url):
                    try:
                        return (await http.get(f"{url}/readyz")).status_code == 200
                    except httpx.TransportError:
                        assert worker.poll() is None and gateway.poll() is None, (logs / "worker.log").read_text()
                        return False
                await until(ready, f"{url}/readyz")
            yield stack
    finally:
        stop_process(gateway)
        stop_process(worker)
        db.dispose()


class Collector:
    """A stand-in OTLP/HTTP receiver: keeps every export request it is sent (path and body)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans_text(self) -> str:
        return "\n".join(body.decode("utf-8", errors="replace") for path, body in self.received
                         if path == "/v1/traces")

    def spans(self) -> list[tuple[str, str, str]]:
        """(service name, trace id, span name) of every span received."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        out = []
        for path, body in list(self.received):
            if path != "/v1/traces":
                continue
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                out += [(service, span.trace_id.hex(), span.name) for ss in rs.scope_spans for span in ss.spans]
        return out

    def close(self) -> None:
        self.server.shutdown()
