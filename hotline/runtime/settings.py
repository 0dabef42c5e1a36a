"""Settings from the environment, with safe defaults for the embedded stack.

Every problem is reported as one `SettingsError` line naming the variable, so start-up
can stop with a clear message instead of a traceback.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("HOTLINE_VAR_DIR", ROOT / "var"))

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


class SettingsError(ValueError):
    """A setting is malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    temporal_address: str | None  # None: start the embedded dev server
    temporal_namespace: str
    task_queue: str
    database_url: str
    policy: str
    http_host: str
    http_port: int
    ui_port: int
    temporal_port: int = 7233  # of the embedded dev server
    workflow_cache: int = 2000  # open orders a worker keeps in memory (~0.3 MiB each)
    ui_origins: tuple[str, ...] = ()  # origins of the Temporal Web UI allowed to call /codec (CORS)
    workflow_sandbox: bool = False  # run workflow code in the SDK's import sandbox (workflows/runner.py)
    worker_metrics_host: str = "127.0.0.1"  # the worker's /metrics, /healthz, /readyz (workflows/telemetry.py)
    worker_metrics_port: int | None = 9191  # None: HOTLINE_WORKER_METRICS_PORT=off

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"localhost:{self.temporal_port}"


def _check_address(value: str) -> str:
    m = _HOST_PORT.match(value)
    if not m or not 0 < int(m.group("port")) < 65536:
        raise SettingsError(
            f"TEMPORAL_ADDRESS={value!r} is malformed: expected host:port, e.g. localhost:7233"
        )
    return value


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not 0 < value < 65536:
        raise SettingsError(f"{name}={raw!r} is not a valid port")
    return value


def _count(env: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.strip().isdigit() or not lo <= int(raw) <= hi:
        raise SettingsError(f"{name}={raw!r} must be a whole number from {lo} to {hi}")
    return int(raw)


def _origins(env: dict, ui_port: int) -> tuple[str, ...]:
    raw = env.get("HOTLINE_UI_ORIGINS")
    if not raw:
        return (f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}")
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    bad = [o for o in origins if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+$", o)]
    if bad or not origins:
        raise SettingsError(f"HOTLINE_UI_ORIGINS={raw!r} is malformed: expected origins like "
                            "https://temporal.example.gov.cn, separated by commas")
    return origins


def _switch(env: dict, name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise SettingsError(f"{name}={env.get(name)!r} must be on or off")


def _metrics_port(env: dict) -> int | None:
    raw = (env.get("HOTLINE_WORKER_METRICS_PORT") or "").strip()
    if raw.lower() == "off":
        return None
    return _int({"HOTLINE_WORKER_METRICS_PORT": raw}, "HOTLINE_WORKER_METRICS_PORT", 9191)


def _bind_host(env: dict, name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.match(r"^[A-Za-z0-9_.\-]+$|^[0-9a-fA-F:]+$", raw):
        raise SettingsError(f"{name}={raw!r} is malformed: expected an address to bind, e.g. 127.0.0.1 or 0.0.0.0")
    return raw


def default_database_url() -> str:
    return f"sqlite:///{VAR_DIR / 'hotline.db'}"


def load_settings(env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    address = env.get("TEMPORAL_ADDRESS") or None
    if address is not None:
        address = _check_address(address.strip())
    db_url = env.get("DATABASE_URL") or default_database_url()
    if "://" not in db_url:
        raise SettingsError(
            f"DATABASE_URL={db_url!r} is malformed: expected e.g. "
            "postgresql+psycopg2://user:pass@host/db or sqlite:///path"
        )
    namespace = env.get("TEMPORAL_NAMESPACE") or "default"
    queue = env.get("HOTLINE_TASK_QUEUE") or "hotline"
    ui_port = _int(env, "HOTLINE_UI_PORT", 8233)
    return Settings(
        temporal_address=address,
        temporal_namespace=namespace,
        task_queue=queue,
        database_url=db_url,
        policy=env.get("HOTLINE_POLICY") or "sanya",
        http_host=env.get("HOTLINE_HTTP_HOST") or "127.0.0.1",
        http_port=_int(env, "HOTLINE_HTTP_PORT", 8000),
        ui_port=ui_port,
        ui_origins=_origins(env, ui_port),
        temporal_port=_int(env, "HOTLINE_TEMPORAL_PORT", 7233),
        workflow_cache=_count(env, "HOTLINE_WORKFLOW_CACHE", 2000, 10, 100_000),
        workflow_sandbox=_switch(env, "HOTLINE_WORKFLOW_SANDBOX", False),
        worker_metrics_host=_bind_host(env, "HOTLINE_WORKER_METRICS_HOST", "127.0.0.1"),
        worker_metrics_port=_metrics_port(env),
    )


@dataclass(frozen=True)
class Rate:
    """A token bucket: `per_second` tokens flow in, at most `burst` are held (a burst's size)."""
    per_second: float
    burst: int


@dataclass(frozen=True)
class Limits:
    """What one caller may send (issue 13): bodies, JSON nesting, request rates. `None`: no limit."""
    max_body: int = 256 * 1024  # bytes of a request body (larger documents name their own limit)
    max_json_depth: int = 32
    per_ip: Rate | None = Rate(100, 400)  # every request of one client address
    open311_per_ip: Rate | None = Rate(50, 200)  # the public Open311 endpoints, per address
    per_key: Rate | None = Rate(50, 200)  # requests of one API key
    auth_failures: Rate | None = Rate(1, 200)  # wrong keys from one address, then it waits
    # the citizens' progress lookup (issue 18): per address, and per order number from anywhere
    track_per_ip: Rate | None = Rate(0.2, 20)
    track_per_order: Rate | None = Rate(1 / 60, 10)


_RATE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)/(?P<unit>s|min|h)(?::(?P<burst>\d+))?$")
_PER = {"s": 1, "min": 60, "h": 3600}


def _rate(env: dict, name: str, default: Rate | None) -> Rate | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw == "off":
        return None
    m = _RATE.match(raw)
    if not m or float(m.group("n")) <= 0:
        raise SettingsError(f"{name}={raw!r} is malformed: expected e.g. 100/s, 30/min:200 (rate[:burst]) or off")
    n = float(m.group("n"))
    burst = int(m.group("burst") or max(1, round(n)))
    if burst < 1:
        raise SettingsError(f"{name}={raw!r}: the burst must be at least 1")
    return Rate(n / _PER[m.group("unit")], burst)


def load_limits(env: dict | None = None) -> Limits:
    """HOTLINE_MAX_BODY (bytes), HOTLINE_MAX_JSON_DEPTH, and rates as `N/s|min|h[:burst]` or `off`:
    HOTLINE_RATE_PER_IP, HOTLINE_RATE_OPEN311, HOTLINE_RATE_PER_KEY, HOTLINE_RATE_AUTH_FAILURES,
    HOTLINE_RATE_TRACK, HOTLINE_RATE_TRACK_ORDER."""
    env = dict(os.environ if env is None else env)
    d = Limits()
    return Limits(
        max_body=_count(env, "HOTLINE_MAX_BODY", d.max_body, 1024, 1 << 30),
        max_json_depth=_count(env, "HOTLINE_MAX_JSON_DEPTH", d.max_json_depth, 2, 1000),
        per_ip=_rate(env, "HOTLINE_RATE_PER_IP", d.per_ip),
        open311_per_ip=_rate(env, "HOTLINE_RATE_OPEN311", d.open311_per_ip),
        per_key=_rate(env, "HOTLINE_RATE_PER_KEY", d.per_key),
        auth_failures=_rate(env, "HOTLINE_RATE_AUTH_FAILURES", d.auth_failures),
        track_per_ip=_rate(env, "HOTLINE_RATE_TRACK", d.track_per_ip),
        track_per_order=_rate(env, "HOTLINE_RATE_TRACK_ORDER", d.track_per_order),
    )


def load_codec_keys(env: dict | None = None):
    """The payload-encryption key ring (hotline/runtime/keyring.py), as a SettingsError when missing."""
    from hotline.runtime import keyring
    try:
        return keyring.load(dict(os.environ if env is None else env), VAR_DIR)
    except keyring.KeyRingError as exc:
        raise SettingsError(str(exc)) from None
