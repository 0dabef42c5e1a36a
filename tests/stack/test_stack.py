"""The run command's promise: the embedded stack comes up, serves the UI and the API, and
after a stop and a restart every open order is still there and still Running."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _binary, free_port

ORDER = {"channel": "phone", "category": "complaint", "title": "工地夜间施工噪音",
         "description": "小区旁边工地每天晚上十一点还在打桩", "petitioner": {"name": "王小明", "phone": "13800001234"},
         "location": {"district": "JYQ"}}


def _start(env: dict) -> tuple[subprocess.Popen, list[str]]:
    p = subprocess.Popen([sys.executable, "stack.py"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    lines: list[str] = []
    end = time.monotonic() + 120
    while time.monotonic() < end:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "Ctrl-C stops everything" in line:
            return p, lines
    p.kill()
    raise AssertionError("stack did not come up:\n" + "\n".join(lines))


def _stop(p: subprocess.Popen) -> int:
    p.send_signal(signal.SIGTERM)
    rest = p.communicate(timeout=90)[0]
    assert "stopped" in rest
    return p.returncode


def _workflows(port: int, query: str) -> list[dict]:
    out = subprocess.run([_binary("temporal"), "workflow", "list", "--address", f"127.0.0.1:{port}",
                          "--query", query, "-o", "json"], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout or "[]")


def test_run_stop_rerun_keeps_orders_running(tmp_path: Path):
    tport, uport, hport, mport = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "HOTLINE_VAR_DIR": str(tmp_path / "var"), "HOTLINE_TEMPORAL_PORT": str(tport),
           "HOTLINE_UI_PORT": str(uport), "HOTLINE_HTTP_PORT": str(hport), "HOTLINE_WORKER_METRICS_PORT": str(mport)}
    env.pop("TEMPORAL_ADDRESS", None)
    env.pop("DATABASE_URL", None)
    env.pop("HOTLINE_CODEC_KEYS", None)  # as on a fresh machine: the first start makes a key ring
    p, lines = _start(env)
    ring = tmp_path / "var" / "codec-keys"
    try:
        key = next(line.split()[3] for line in lines if "dev admin key" in line)
        assert ring.exists() and oct(ring.stat().st_mode & 0o777) == "0o600"
        assert any("codec key ring" in line for line in lines)
        first_ring = ring.read_text()
        base = f"http://127.0.0.1:{hport}"
        # the UI is told to decrypt through the gateway, which answers admins only
        ui = httpx.get(f"http://127.0.0.1:{uport}/api/v1/settings", timeout=10)
        assert ui.status_code == 200 and ui.json()["Codec"]["Endpoint"] == f"http://localhost:{hport}/codec", ui.text
        assert httpx.post(f"{base}/codec/decode", json={"payloads": []}, timeout=10).status_code == 401
        assert httpx.post(f"{base}/codec/decode", json={"payloads": []}, headers={"X-API-Key": key},
                          timeout=10).json() == {"payloads": []}
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{uport}/", timeout=10).status_code == 200
        r = httpx.post(f"{base}/api/v1/orders", json=ORDER, headers={"X-API-Key": key}, timeout=30)
        assert r.status_code == 201, r.text
        order_no = r.json()["order_no"]
        found = _workflows(tport, f'OrderNo="{order_no}"')
        assert [w["execution"]["workflowId"] for w in found] == [f"order-{order_no}"]
        # where the metrics are, printed and served (issue 16)
        printed = next(line for line in lines if line.split()[:1] == ["metrics"])
        assert f"http://localhost:{hport}/metrics" in printed and f"http://127.0.0.1:{mport}/metrics" in printed
        assert 'route="/api/v1/orders",status="201"' in httpx.get(f"{base}/metrics", timeout=10).text
        assert "temporal_workflow_task_execution_latency" in httpx.get(f"http://127.0.0.1:{mport}/metrics",
                                                                       timeout=10).text
        # the console's address and a first account to sign in with (issue 15)
        assert any(f"http://localhost:{hport}/console" in line for line in lines)
        login, password = next(line.split()[2:5:2] for line in lines if "console account" in line)
        with httpx.Client(base_url=base, timeout=30) as web:
            token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/console/login").text).group(1)
            signed = web.post("/console/login", data={"login": login, "password": password, "csrf_token": token})
            assert signed.status_code == 303 and web.get("/console/office").status_code == 200
    finally:
        assert _stop(p) == 0
    p, lines = _start(env)
    try:
        assert not any("dev admin key" in line for line in lines), "the key is shown only once"
        assert not any(password in line for line in lines), "so is the console account's password"
        assert any("starter.py user create" in line for line in lines)  # how to make more accounts
        assert ring.read_text() == first_ring, "the key ring is never replaced: old orders need it"
        found = _workflows(tport, f'OrderNo="{order_no}" AND ExecutionStatus="Running"')
        assert len(found) == 1
        r = httpx.get(f"http://127.0.0.1:{hport}/api/v1/orders/{order_no}", headers={"X-API-Key": key}, timeout=30)
        assert r.status_code == 200 and r.json()["stage"] == "dispatched"
    finally:
        assert _stop(p) == 0
