"""Runs the whole embedded stack (the README's run command calls this).

Temporal dev server (state under var/, Web UI on :8233, our search attributes registered)
unless TEMPORAL_ADDRESS points at a cluster; database migrated; unit catalogue loaded;
worker and HTTP gateway started. SIGINT/SIGTERM stop everything cleanly, and running it
again resumes every open work order where it was.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hotline.domain.codes import SEARCH_ATTRIBUTES
from hotline.runtime.settings import ROOT, VAR_DIR, SettingsError, load_settings

BIN = Path(sys.executable).parent
# No query ever reaches a worker: one that meets a pending workflow task can record an order's
# history in an order that cannot be replayed (README, "Known SDK race"). Reads use the read
# model; the Temporal UI shows the memo and search attributes, which need no query.
DEV_SERVER_CONFIG = ["--dynamic-config-value", "system.disallowQuery=true"]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, what: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _port_open(host, port):
            return
        if proc.poll() is not None:
            raise SettingsError(f"{what} exited with code {proc.returncode} while starting (log under var/)")
        time.sleep(0.2)
    raise SettingsError(f"{what} did not open {host}:{port} within {timeout:.0f}s")


def codec_endpoint(settings) -> str:
    """The gateway's codec server as the Web UI (on localhost) reaches it."""
    return f"http://localhost:{settings.http_port}/codec"


def start_dev_server(settings) -> subprocess.Popen:
    host, port = settings.effective_temporal_address.rsplit(":", 1)
    if _port_open(host, int(port)):
        raise SettingsError(f"port {port} is already in use: stop the other Temporal server or set TEMPORAL_ADDRESS")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(VAR_DIR / "temporal.db"),
           "--ip", "127.0.0.1", "--port", port, "--ui-port", str(settings.ui_port),
           "--namespace", settings.temporal_namespace, "--log-level", "warn", *DEV_SERVER_CONFIG,
           # payloads are encrypted: the UI opens them through the gateway's codec server (admins)
           "--ui-codec-endpoint", codec_endpoint(settings)]
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    log = open(VAR_DIR / "temporal.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_port("127.0.0.1", int(port), "Temporal dev server", proc)
    _wait_port("127.0.0.1", settings.ui_port, "Temporal Web UI", proc)
    return proc


async def _prepare(settings) -> tuple[str | None, tuple[str, str] | None]:
    """Migrate, load the catalogue, register search attributes on a given cluster, first admin key
    and first console account (each returned once, on the first start)."""
    from hotline.console.accounts import ensure_dev_account
    from hotline.store import Database
    from hotline.store.apikeys import ensure_dev_admin_key
    from hotline.store.units import ensure_catalogue
    from workflows.connect import connect
    from workflows.setup import ensure_routing_retrain_schedule, register_search_attributes

    db = Database(settings.database_url)
    db.check()
    db.migrate()
    ensure_catalogue(db)
    key = ensure_dev_admin_key(db, VAR_DIR / "dev-admin-key")
    account = ensure_dev_account(db, VAR_DIR / "dev-console-account")
    db.dispose()
    client = await connect(settings)
    await register_search_attributes(client, settings.temporal_namespace)
    await ensure_routing_retrain_schedule(client, settings.task_queue)  # weekly (issue 19)
    return key, account


def main() -> int:
    try:
        settings = load_settings()
        from hotline.domain.policy import PolicyError, load_policy
        try:
            load_policy(settings.policy)
        except PolicyError as exc:
            raise SettingsError(f"HOTLINE_POLICY: {exc}") from None
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    procs: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = dict(os.environ)
    try:
        from hotline.runtime.keyring import ensure_dev_keyring
        from hotline.runtime.settings import load_codec_keys
        created = ensure_dev_keyring(env, VAR_DIR)
        load_codec_keys(env)  # a malformed ring stops start-up with one line, before anything runs
        if settings.embedded_temporal:
            procs.append(("temporal", start_dev_server(settings)))
            env["TEMPORAL_ADDRESS"] = settings.effective_temporal_address
        key, account = asyncio.run(_prepare(settings))
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        wlog = open(VAR_DIR / "worker.log", "ab")
        procs.append(("worker", subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT,
                                                 stdout=wlog, stderr=subprocess.STDOUT, start_new_session=True)))
        gateway = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway:app", "--host", settings.http_host,
                                    "--port", str(settings.http_port), "--log-level", "warning"],
                                   env=env, cwd=ROOT, start_new_session=True)
        procs.append(("gateway", gateway))
        _wait_port("127.0.0.1", settings.http_port, "HTTP gateway", gateway, timeout=60)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _shutdown(procs)
        return 2

    print("12345 hotline is running")
    if settings.embedded_temporal:
        print(f"  Temporal Web UI   http://localhost:{settings.ui_port}")
    print(f"  Temporal          {settings.effective_temporal_address} (namespace {settings.temporal_namespace})")
    print(f"  HTTP API          http://localhost:{settings.http_port}/docs")
    print(f"  web console       http://localhost:{settings.http_port}/console")
    print(f"  Open311           http://localhost:{settings.http_port}/open311/v2/discovery.json")
    print(f"  database          {settings.database_url}")
    print(f"  metrics           http://localhost:{settings.http_port}/metrics (gateway)"
          + (f", http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics (worker)"
             if settings.worker_metrics_port else ""))
    if settings.worker_metrics_port:
        print("  health            /healthz, /readyz on the gateway and on the worker's metrics port")
    if key:
        print(f"  dev admin key     {key}   (shown once; stored hashed)")
    if account:
        print(f"  console account   {account[0]} / {account[1]}   (hotline office; password shown once, stored hashed)")
    else:
        print("  console accounts  .venv/bin/python starter.py user create --unit ZJJ --name 李明"
              "   (or --role intake|admin)")
    if created:
        print(f"  codec key ring    {created.relative_to(ROOT) if created.is_relative_to(ROOT) else created}"
              "   (development keys, mode 0600; set HOTLINE_CODEC_KEYS_FILE in production)")
    if settings.embedded_temporal:
        print(f"  UI decryption     http://localhost:{settings.http_port}/codec/login   (admins)")
    print("  logs              var/worker.log, var/temporal.log   — Ctrl-C stops everything", flush=True)
    code = 0
    while not stopping:
        for name, p in procs:
            if p.poll() is not None:
                print(f"error: {name} exited with code {p.returncode}; stopping", file=sys.stderr)
                stopping, code = True, 1
        time.sleep(0.3)
    _shutdown(procs)
    return code


def _shutdown(procs: list[tuple[str, subprocess.Popen]]) -> None:
    # gateway and worker first (the worker finishes in-flight activities), the server last
    for _name, p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
