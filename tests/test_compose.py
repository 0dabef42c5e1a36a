"""Structure of the production-like stack: docker-compose.yml, Dockerfile, .dockerignore, deploy/.

No Docker engine runs where the suite runs, so nothing is built or started here. Instead the
compose file is parsed (with compose's `${VAR:-default}` interpolation applied, as `docker
compose` would with an empty environment) and its properties are asserted; the shell scripts
of the one-shot Temporal jobs are run against stub `temporal` / `temporal-sql-tool` commands
to check what they would do; the Dockerfile is parsed instruction by instruction.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import tomllib
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# SPEC §8: custom search attributes, so admins can filter orders in the Temporal UI.
SPEC_SEARCH_ATTRIBUTES = {
    "OrderNo": "Keyword",
    "Owner": "Keyword",
    "Category": "Keyword",
    "Urgency": "Keyword",
    "Stage": "Keyword",
    "District": "Keyword",
    "DueAt": "Datetime",
    "Overdue": "Bool",
    "ReturnCount": "Int",
}

ONE_SHOT = {"temporal-schema", "temporal-create-namespace", "app-migrate"}
LONG_RUNNING = {"postgresql", "temporal", "temporal-ui", "worker", "gateway"}
APP_SERVICES = ("app-migrate", "worker", "gateway")
TEMPORAL_SCHEMA_DIR = "/etc/temporal/schema/postgresql/v12"  # where admin-tools ships it


# --------------------------------------------------------------------------- helpers

_VAR = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value, env: dict[str, str]):
    """Compose variable interpolation (`$$`, `${X}`, `${X:-d}`, `${X-d}`, `${X:?e}`)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg")
        current = env.get(name)
        if op == ":-" and not current:
            return arg
        if op == "-" and current is None:
            return arg
        if op in (":?", "?") and not current:
            raise AssertionError(f"compose requires ${name}: {arg}")
        return current or ""

    return _VAR.sub(sub, value)


def load_compose(env: dict[str, str] | None = None) -> dict:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return interpolate(raw, env or {})


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), "depends_on must use the long form with conditions"
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def image_tag(image: str) -> tuple[str, str | None]:
    image = image.split("@", 1)[0]
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, None
    return name, tag


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's ./relative bind mounts."""
    mounts = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            source, target = vol.get("source", ""), vol.get("target", "")
        else:
            source, _, rest = vol.partition(":")
            target = rest.split(":", 1)[0]
        if source.startswith("."):
            mounts.append(((ROOT / source).resolve(), target))
    return mounts


def host_path(service: dict, container_path: str) -> Path:
    """The repository file a container path of the service is bind-mounted from."""
    for host, target in bind_mounts(service):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            return host / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not bind-mounted from the repository")


def as_argv(value) -> list[str]:
    return value if isinstance(value, list) else str(value).split()


def script_of(service: dict) -> Path:
    """Repository path of the shell script a one-shot admin-tools job runs."""
    argv = as_argv(service.get("entrypoint") or []) + as_argv(service.get("command") or [])
    scripts = [a for a in argv if a.endswith(".sh")]
    assert scripts, f"no script in {argv}"
    return host_path(service, scripts[0])


def parse_search_attributes(spec: str) -> dict[str, str]:
    pairs = {}
    for item in spec.split():
        name, sep, typ = item.partition("=")
        assert sep and name and typ, f"bad Name=Type pair {item!r}"
        assert name not in pairs, f"{name} listed twice"
        pairs[name] = typ
    return pairs


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            instr, _, args = full.partition(" ")
            out.append((instr.upper(), args.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def copy_sources(instructions) -> list[str]:
    sources = []
    for ins, args in instructions:
        if ins not in ("COPY", "ADD"):
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        if any(p.startswith("--from") for p in args.split()):
            continue
        sources.extend(parts[:-1])
    return sources


def make_stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- services

def test_all_services_are_defined(services):
    missing = (ONE_SHOT | LONG_RUNNING) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_pulled_images_are_pinned_to_a_version(services):
    for name, svc in services.items():
        if "build" in svc:
            continue
        assert "image" in svc, f"{name} has neither image nor build"
        repo, tag = image_tag(svc["image"])
        assert tag, f"{name}: image {svc['image']!r} has no tag"
        assert tag != "latest", f"{name}: image {svc['image']!r} is not pinned"
        assert re.match(r"^v?\d+(\.\d+)*", tag), f"{name}: tag {tag!r} is not a version"


def test_expected_images(services):
    assert image_tag(services["postgresql"]["image"])[0] == "postgres"
    assert image_tag(services["postgresql"]["image"])[1].split(".")[0] == "16"
    assert image_tag(services["temporal"]["image"])[0] == "temporalio/server"
    assert image_tag(services["temporal-ui"]["image"])[0] == "temporalio/ui"
    for job in ("temporal-schema", "temporal-create-namespace"):
        assert image_tag(services[job]["image"])[0] == "temporalio/admin-tools", job


def test_admin_tools_match_the_server_version(services):
    # The schema directories in admin-tools are those of its own server version.
    server_tag = image_tag(services["temporal"]["image"])[1]
    for job in ("temporal-schema", "temporal-create-namespace"):
        assert image_tag(services[job]["image"])[1] == server_tag, job


def test_no_auto_setup_image_anywhere(compose, dockerfile):
    def strings(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield str(k)
                yield from strings(v)
        elif isinstance(node, list):
            for v in node:
                yield from strings(v)
        elif node is not None:
            yield str(node)

    offenders = [s for s in strings(compose) if "auto-setup" in s or "AUTO_SETUP" in s]
    assert not offenders, f"deprecated auto-setup referenced: {offenders}"
    for ins, args in dockerfile:
        assert "auto-setup" not in args, (ins, args)
    for script in (ROOT / "deploy").rglob("*.sh"):
        assert "auto-setup" not in script.read_text(encoding="utf-8"), script


def test_app_services_are_built_from_the_project_dockerfile(services):
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} is not built from the repository"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context).resolve() == ROOT, f"{name}: build context {context!r}"
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"app services should share one image tag, got {images}"


# --------------------------------------------------------------------------- health & order

def test_every_long_running_service_has_a_healthcheck(services):
    for name in LONG_RUNNING:
        hc = services[name].get("healthcheck")
        assert hc, f"{name} has no healthcheck"
        assert not hc.get("disable"), f"{name} healthcheck disabled"
        test = as_argv(hc.get("test") or [])
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def test_one_shot_jobs_are_not_restarted_forever(services):
    for name in ONE_SHOT:
        restart = str(services[name].get("restart", "no"))
        assert restart in ("no", "on-failure") or restart.startswith("on-failure:"), (
            f"{name} is a one-shot job but restart={restart!r}"
        )
        assert "healthcheck" not in services[name] or services[name]["healthcheck"].get("disable")


def test_long_running_services_restart(services):
    for name in LONG_RUNNING:
        assert services[name].get("restart") in ("always", "unless-stopped"), name


def test_postgresql_health_and_volume(compose, services):
    pg = services["postgresql"]
    assert "pg_isready" in " ".join(as_argv(pg["healthcheck"]["test"]))
    data = [v for v in pg.get("volumes", []) if str(v).endswith(":/var/lib/postgresql/data")]
    assert data, "PostgreSQL data is not on a volume"
    volume = str(data[0]).split(":", 1)[0]
    assert volume in (compose.get("volumes") or {}), f"named volume {volume!r} not declared"


def test_temporal_healthcheck_probes_the_frontend_port(services):
    test = " ".join(as_argv(services["temporal"]["healthcheck"]["test"]))
    assert "7233" in test or "cluster health" in test, test


def test_gateway_healthcheck_hits_healthz(services):
    test = " ".join(as_argv(services["gateway"]["healthcheck"]["test"]))
    assert "/healthz" in test and ":8000" in test, test


def test_depends_on_conditions_follow_the_start_order(services):
    expected = {
        "temporal-schema": {"postgresql": "service_healthy"},
        "temporal": {"temporal-schema": "service_completed_successfully"},
        "temporal-create-namespace": {"temporal": "service_healthy"},
        "temporal-ui": {"temporal": "service_healthy"},
        "app-migrate": {
            "postgresql": "service_healthy",
            "temporal-schema": "service_completed_successfully",
        },
        "worker": {
            "temporal": "service_healthy",
            "temporal-create-namespace": "service_completed_successfully",
            "app-migrate": "service_completed_successfully",
        },
        "gateway": {
            "temporal": "service_healthy",
            "temporal-create-namespace": "service_completed_successfully",
            "app-migrate": "service_completed_successfully",
        },
    }
    for name, wants in expected.items():
        deps = depends_on(services[name])
        for dep, condition in wants.items():
            assert deps.get(dep) == condition, (
                f"{name} must wait for {dep} with {condition}, has {deps.get(dep)!r}"
            )


def test_every_dependency_waits_for_the_right_state(services):
    # On a job: its successful end. On a long-running service: its healthcheck. Never a
    # bare "started", which is how a worker races a server that is not serving yet.
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if dep in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, dep, condition)
            else:
                assert condition == "service_healthy", (name, dep, condition)
                assert services[dep].get("healthcheck"), f"{dep} has no healthcheck to wait on"


def test_start_order_has_no_cycle(services):
    seen: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {' -> '.join(path + (name,))}"
        if seen.get(name):
            return
        for dep in depends_on(services[name]):
            visit(dep, path + (name,))
        seen[name] = 1

    for name in services:
        visit(name, ())


# --------------------------------------------------------------------------- environment

def test_app_services_environment(services):
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env.get("TEMPORAL_ADDRESS") == "temporal:7233", name
        assert env.get("TEMPORAL_NAMESPACE") == "default", name
        assert env.get("HOTLINE_TASK_QUEUE") == "hotline", name
        assert env.get("HOTLINE_POLICY") == "sanya", name
        assert "DATABASE_URL" in env, name


def test_temporal_address_names_the_temporal_server(services):
    for name in (*APP_SERVICES, "temporal-ui", "temporal-create-namespace"):
        host, _, port = env_of(services[name])["TEMPORAL_ADDRESS"].rpartition(":")
        assert host in services, f"{name}: TEMPORAL_ADDRESS host {host!r} is not a service"
        assert image_tag(services[host]["image"])[0] == "temporalio/server", name
        assert port == "7233", name


def test_database_url_points_at_the_postgresql_service(services):
    pg_env = env_of(services["postgresql"])
    for name in APP_SERVICES:
        url = urlsplit(env_of(services[name])["DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg2", f"{name}: {url.scheme}"
        assert url.hostname == "postgresql" and url.hostname in services, name
        assert (url.port or 5432) == 5432, name
        assert url.path == "/hotline", f"{name}: database {url.path!r}, expected /hotline"
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.password == pg_env["POSTGRES_PASSWORD"], name


def test_credentials_can_be_overridden_from_the_environment():
    custom = load_compose({"POSTGRES_USER": "ops", "POSTGRES_PASSWORD": "s3cret"})["services"]
    assert env_of(custom["postgresql"])["POSTGRES_PASSWORD"] == "s3cret"
    assert env_of(custom["temporal"])["POSTGRES_PWD"] == "s3cret"
    assert env_of(custom["temporal-schema"])["SQL_PASSWORD"] == "s3cret"
    for name in APP_SERVICES:
        url = urlsplit(env_of(custom[name])["DATABASE_URL"])
        assert (url.username, url.password) == ("ops", "s3cret"), name


def test_temporal_server_uses_postgresql(services):
    env = env_of(services["temporal"])
    pg_env = env_of(services["postgresql"])
    assert env.get("DB") == "postgres12"
    assert env.get("DB_PORT") == "5432"
    assert env.get("POSTGRES_SEEDS") == "postgresql" and "postgresql" in services
    assert env.get("POSTGRES_USER") == pg_env["POSTGRES_USER"]
    assert env.get("POSTGRES_PWD") == pg_env["POSTGRES_PASSWORD"]
    assert env.get("BIND_ON_IP") == "0.0.0.0", "frontend must listen beyond loopback"


def test_temporal_dynamic_config_file_is_mounted_and_valid(services):
    svc = services["temporal"]
    path = env_of(svc).get("DYNAMIC_CONFIG_FILE_PATH")
    assert path, "DYNAMIC_CONFIG_FILE_PATH not set (the 1.30+ server image ships none)"
    container_path = path if path.startswith("/") else "/etc/temporal/" + path
    config = yaml.safe_load(host_path(svc, container_path).read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert isinstance(values, list) and values, key
        for entry in values:
            assert "value" in entry, f"{key}: entry without value"
    forced = config.get("system.forceSearchAttributesCacheRefreshOnRead", [{"value": False}])
    assert not any(e["value"] for e in forced), "development-only setting in production config"


def test_bind_mounted_paths_exist(services):
    from hotline.devcerts import CLIENTS
    generated = {f"{n}.{ext}" for n in ("ca", "server", *CLIENTS) for ext in ("pem", "key")}
    for name, svc in services.items():
        for host, _ in bind_mounts(svc):
            if host.parent == ROOT / "var" / "certs":  # made by scripts/dev-certs.sh, never committed
                assert host.name in generated and host.name != "ca.key", f"{name} mounts {host.name}"
                continue
            assert host.exists(), f"{name} mounts {host}, which is not in the repository"
            assert ROOT in host.parents or host == ROOT, f"{name} mounts outside the repo"


def test_ui_reaches_temporal_and_is_published(services):
    ui = services["temporal-ui"]
    ports = [str(p) for p in ui.get("ports", [])]
    assert any(re.fullmatch(r"(\S+:)?8233:8080", p) for p in ports), ports
    assert env_of(ui).get("TEMPORAL_ADDRESS") == "temporal:7233"


# --------------------------------------------------------------------------- app services

def test_worker_runs_two_replicas(services):
    worker = services["worker"]
    assert (worker.get("deploy") or {}).get("replicas") == 2
    assert "container_name" not in worker, "a fixed container_name forbids replicas"
    assert not worker.get("ports"), "replicas cannot share a published port"


def test_worker_command(services):
    argv = as_argv(services["worker"]["command"])
    assert argv[0].startswith("python") and argv[1:] in (["worker.py"], ["-m", "worker"]), argv


def test_worker_gets_time_to_drain(services):
    grace = str(services["worker"].get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(\d+)(s|m)", grace)
    assert m, grace
    seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
    assert seconds >= 30, f"stop_grace_period {grace} leaves in-flight activities no time"


def test_gateway_command_and_port(services):
    gw = services["gateway"]
    argv = as_argv(gw["command"])
    assert argv[:2] == ["uvicorn", "hotline.api.app:app"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    assert any(str(p).endswith(":8000") for p in gw.get("ports", [])), gw.get("ports")


def test_app_migrate_runs_the_migration_entry_point(services):
    assert as_argv(services["app-migrate"]["command"]) == ["python", "-m", "hotline.migrate"]


# --------------------------------------------------------------------------- Temporal jobs

def test_search_attributes_of_spec_are_registered(services):
    env = env_of(services["temporal-create-namespace"])
    assert env.get("TEMPORAL_NAMESPACE") == "default"
    assert parse_search_attributes(env["SEARCH_ATTRIBUTES"]) == SPEC_SEARCH_ATTRIBUTES


def test_registered_search_attributes_match_the_workflow_code(services):
    module = pytest.importorskip("workflows.search_attributes")
    in_code = {key.name: key.indexed_value_type.name for key in module.ALL}
    registered = parse_search_attributes(
        env_of(services["temporal-create-namespace"])["SEARCH_ATTRIBUTES"]
    )
    assert {k: v.upper() for k, v in registered.items()} == in_code


def test_schema_job_configuration(services):
    job = services["temporal-schema"]
    env = env_of(job)
    server = env_of(services["temporal"])
    assert env.get("SQL_PLUGIN") == server["DB"] == "postgres12"
    assert env.get("SQL_HOST") == server["POSTGRES_SEEDS"]
    assert env.get("SQL_PORT") == server["DB_PORT"]
    assert env.get("SQL_USER") == server["POSTGRES_USER"]
    assert env.get("SQL_PASSWORD") == server["POSTGRES_PWD"]
    assert env.get("TEMPORAL_SCHEMA_DIR") == TEMPORAL_SCHEMA_DIR
    assert env.get("TEMPORAL_DB") == server.get("DBNAME", "temporal") == "temporal"
    assert (
        env.get("TEMPORAL_VISIBILITY_DB")
        == server.get("VISIBILITY_DBNAME", "temporal_visibility")
        == "temporal_visibility"
    )
    app_db = urlsplit(env_of(services["app-migrate"])["DATABASE_URL"]).path.lstrip("/")
    assert env.get("APP_DB") == app_db, "the application's database is not created"


def _stub_env(tmp_path: Path, service_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
    env.update(service_env)
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["STUB_STATE"] = str(tmp_path / "state")
    return env


@pytest.fixture
def stub_dirs(tmp_path):
    assert shutil.which("sh"), "the job scripts need a POSIX sh"
    (tmp_path / "bin").mkdir()
    (tmp_path / "state").mkdir()
    return tmp_path


SQL_TOOL_STUB = """\
echo "$SQL_PLUGIN $SQL_HOST $SQL_PORT $SQL_USER $SQL_PASSWORD | $*" >> "$STUB_STATE/calls"
"""


def _run_schema_job(stub_dirs: Path, services: dict, schema_root: Path):
    make_stub(stub_dirs / "bin", "temporal-sql-tool", SQL_TOOL_STUB)
    make_stub(stub_dirs / "bin", "nc", "exit 0\n")
    job = services["temporal-schema"]
    env = _stub_env(stub_dirs, env_of(job))
    env["TEMPORAL_SCHEMA_DIR"] = str(schema_root)
    return subprocess.run(
        ["sh", str(script_of(job))], env=env, capture_output=True, text=True, timeout=60
    )


def test_schema_job_creates_and_migrates_both_databases(stub_dirs, services):
    root = stub_dirs / "schema" / "postgresql" / "v12"
    for part in ("temporal", "visibility"):
        (root / part / "versioned").mkdir(parents=True)
    result = _run_schema_job(stub_dirs, services, root)
    assert result.returncode == 0, result.stderr
    calls = (stub_dirs / "state" / "calls").read_text().splitlines()
    conn = {c.split(" | ")[0] for c in calls}
    assert conn == {"postgres12 postgresql 5432 hotline hotline"}, conn
    commands = [c.split(" | ", 1)[1] for c in calls]
    assert commands == [
        "--db temporal create",
        "--db temporal setup-schema -v 0.0",
        f"--db temporal update-schema -d {root}/temporal/versioned",
        "--db temporal_visibility create",
        "--db temporal_visibility setup-schema -v 0.0",
        f"--db temporal_visibility update-schema -d {root}/visibility/versioned",
        "--db hotline create",
    ]


def test_schema_job_fails_without_the_schema_directories(stub_dirs, services):
    result = _run_schema_job(stub_dirs, services, stub_dirs / "nowhere")
    assert result.returncode != 0
    assert not (stub_dirs / "state" / "calls").exists(), "ran temporal-sql-tool anyway"


def test_schema_job_stops_at_the_first_failure(stub_dirs, services):
    root = stub_dirs / "schema"
    for part in ("temporal", "visibility"):
        (root / part / "versioned").mkdir(parents=True)
    make_stub(stub_dirs / "bin", "nc", "exit 0\n")
    job = services["temporal-schema"]
    make_stub(
        stub_dirs / "bin",
        "temporal-sql-tool",
        SQL_TOOL_STUB + 'case "$*" in *setup-schema*) exit 1;; esac\n',
    )
    env = _stub_env(stub_dirs, env_of(job))
    env["TEMPORAL_SCHEMA_DIR"] = str(root)
    result = subprocess.run(["sh", str(script_of(job))], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    calls = (stub_dirs / "state" / "calls").read_text().splitlines()
    assert len(calls) == 2, calls


# A stand-in for the temporal CLI keeping namespaces and search attributes in files.
TEMPORAL_CLI_STUB = r"""
state="$STUB_STATE"
echo "$*" >> "$state/calls"
name=; type=; ns=
args="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2; shift;;
    --type) type=$2; shift;;
    --namespace|-n) ns=$2; shift;;
  esac
  shift
done
case "$args" in
  "operator cluster health"*) echo SERVING;;
  "operator namespace describe"*) grep -qx "$ns" "$state/namespaces" 2>/dev/null || exit 1;;
  "operator namespace create"*) echo "$ns" >> "$state/namespaces";;
  "operator search-attribute list"*)
    echo "          Name             Type"
    echo "  WorkflowId            Keyword"
    echo "  StartTime             Datetime"
    cat "$state/sa.$ns" 2>/dev/null;;
  "operator search-attribute create"*)
    grep -qx "$ns" "$state/namespaces" 2>/dev/null || exit 1
    echo "  $name  $type" >> "$state/sa.$ns";;
  *) exit 2;;
esac
"""


def _run_namespace_job(stub_dirs: Path, services: dict):
    make_stub(stub_dirs / "bin", "temporal", TEMPORAL_CLI_STUB)
    job = services["temporal-create-namespace"]
    return subprocess.run(
        ["sh", str(script_of(job))],
        env=_stub_env(stub_dirs, env_of(job)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _registered(stub_dirs: Path, namespace: str) -> dict[str, str]:
    path = stub_dirs / "state" / f"sa.{namespace}"
    if not path.exists():
        return {}
    return dict(line.split() for line in path.read_text().splitlines() if line.strip())


def test_namespace_job_creates_namespace_and_registers_spec_attributes(stub_dirs, services):
    result = _run_namespace_job(stub_dirs, services)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (stub_dirs / "state" / "namespaces").read_text().split() == ["default"]
    assert _registered(stub_dirs, "default") == SPEC_SEARCH_ATTRIBUTES
    calls = (stub_dirs / "state" / "calls").read_text().splitlines()
    assert all(re.search(r"--address \S+:7233\b", c) for c in calls), calls
    creates = [c for c in calls if c.startswith("operator namespace create")]
    assert len(creates) == 1 and re.search(r"--retention \S+", creates[0]), creates


def test_namespace_job_is_idempotent(stub_dirs, services):
    assert _run_namespace_job(stub_dirs, services).returncode == 0
    second = _run_namespace_job(stub_dirs, services)
    assert second.returncode == 0, second.stderr
    assert (stub_dirs / "state" / "namespaces").read_text().split() == ["default"]
    assert _registered(stub_dirs, "default") == SPEC_SEARCH_ATTRIBUTES  # no duplicates
    creates = [
        c for c in (stub_dirs / "state" / "calls").read_text().splitlines()
        if "search-attribute create" in c
    ]
    assert len(creates) == len(SPEC_SEARCH_ATTRIBUTES)


def test_namespace_job_fails_on_a_type_clash(stub_dirs, services):
    (stub_dirs / "state" / "namespaces").write_text("default\n")
    (stub_dirs / "state" / "sa.default").write_text("  ReturnCount  Keyword\n")
    result = _run_namespace_job(stub_dirs, services)
    assert result.returncode != 0
    assert "ReturnCount" in result.stderr


def test_namespace_job_fails_when_the_cluster_never_serves(stub_dirs, services):
    make_stub(stub_dirs / "bin", "sleep", "exit 0\n")  # no real waiting in the test
    make_stub(stub_dirs / "bin", "temporal", 'echo "$*" >> "$STUB_STATE/calls"; exit 1\n')
    job = services["temporal-create-namespace"]
    result = subprocess.run(
        ["sh", str(script_of(job))],
        env=_stub_env(stub_dirs, env_of(job)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    calls = (stub_dirs / "state" / "calls").read_text().splitlines()
    assert calls and all(c.startswith("operator cluster health") for c in calls)


# --------------------------------------------------------------------------- Dockerfile

def test_dockerfile_uses_python_311_slim(dockerfile):
    bases = []
    args = {}
    for ins, rest in dockerfile:
        if ins == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        if ins == "FROM":
            image = rest.split()[0]
            bases.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), image))
    assert bases, "no FROM"
    assert all(b == "python:3.11-slim" for b in bases), bases


def test_dockerfile_runtime_user_is_not_root(dockerfile):
    stage = final_stage(dockerfile)
    users = [rest.split()[0] for ins, rest in stage if ins == "USER"]
    assert users, "the runtime stage never sets USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"runtime user is {users[-1]}"
    # The user must exist in that stage (created there), or be a numeric non-zero id.
    created = " ".join(rest for ins, rest in stage if ins == "RUN")
    assert user.isdigit() or re.search(rf"useradd\b.*\b{re.escape(user)}\b", created), user
    # And nothing runs after switching back to root.
    last_user_index = max(i for i, (ins, _) in enumerate(stage) if ins == "USER")
    assert all(ins != "USER" for ins, _ in stage[last_user_index + 1:])


def test_dockerfile_installs_the_project_without_dev_extras(dockerfile):
    runs = [rest for ins, rest in dockerfile if ins == "RUN" and "pip install" in rest]
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$|&)", r) for r in runs), runs
    for r in runs:
        assert "[test]" not in r and "[dev]" not in r, r
        assert not re.search(r"pip install\b.*\s-e\s", r), f"editable install: {r}"


def test_dockerfile_copies_every_package_and_module(dockerfile):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = pyproject.get("tool", {}).get("setuptools", {})
    includes = setuptools_cfg.get("packages", {}).get("find", {}).get("include", [])
    modules = setuptools_cfg.get("py-modules", [])
    sources = {s.rstrip("/").removeprefix("./") for s in copy_sources(dockerfile)}
    assert "pyproject.toml" in sources
    for pattern in includes:
        package = pattern.rstrip("*").rstrip(".")
        assert package in sources, f"package {package}/ is not copied into the image"
    for module in modules:
        assert f"{module}.py" in sources, f"{module}.py is not copied into the image"
    readme = pyproject.get("project", {}).get("readme")
    if isinstance(readme, str):
        assert readme in sources, f"{readme} (the project's readme) is not copied"


def test_healthcheck_script_is_in_the_image(dockerfile, services):
    copies = [rest for ins, rest in dockerfile if ins == "COPY"]
    assert any("deploy/healthcheck.py" in c and c.split()[-1].endswith("healthcheck.py") for c in copies)
    for name in ("worker", "gateway"):
        assert "healthcheck.py" in as_argv(services[name]["healthcheck"]["test"]), name


def test_dockerignore_keeps_what_the_dockerfile_copies(dockerfile):
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".git" in patterns and "var" in patterns, "context should exclude .git and var/"
    for source in copy_sources(dockerfile):
        source = source.rstrip("/").removeprefix("./")
        for pattern in patterns:
            if pattern.startswith("!"):
                continue
            assert not fnmatch(source, pattern.rstrip("/")), f"{source} excluded by {pattern!r}"


# --------------------------------------------------------------------------- healthcheck.py

@pytest.fixture(scope="module")
def healthcheck():
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import healthcheck as module
    finally:
        sys.path.pop(0)
    return module


def test_poller_identity_matching(healthcheck):
    assert healthcheck.poller_matches("17@3f2a9c", "3f2a9c")
    assert healthcheck.poller_matches("3f2a9c", "3f2a9c")
    assert not healthcheck.poller_matches("17@3f2a9c0", "3f2a9c")
    assert not healthcheck.poller_matches("17@x3f2a9c", "3f2a9c")


def test_http_check_answers_health(healthcheck):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert healthcheck.check_http(base + "/healthz") is None
        assert healthcheck.check_http(base + "/down") is not None
    finally:
        server.shutdown()
    assert healthcheck.check_http(base + "/healthz", timeout=1) is not None  # nothing listens


def test_worker_check_is_unhealthy_without_temporal(healthcheck):
    pytest.importorskip("temporalio")
    problem = healthcheck.check_worker(
        {"TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_NAMESPACE": "default"}, "abc", timeout=5
    )
    assert problem and "127.0.0.1:1" in problem


# --------------------------------------------------------------------------- mTLS (issue 13)

TEMPORAL_CLIENTS = {  # service -> its TLS variables: CA, certificate, key, server name
    "worker": ("HOTLINE_TEMPORAL_TLS_CA", "HOTLINE_TEMPORAL_TLS_CERT", "HOTLINE_TEMPORAL_TLS_KEY",
               "HOTLINE_TEMPORAL_TLS_SERVER_NAME"),
    "gateway": ("HOTLINE_TEMPORAL_TLS_CA", "HOTLINE_TEMPORAL_TLS_CERT", "HOTLINE_TEMPORAL_TLS_KEY",
                "HOTLINE_TEMPORAL_TLS_SERVER_NAME"),
    "temporal-ui": ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_SERVER_NAME"),
    "temporal-create-namespace": ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CLIENT_CERT_PATH",
                                  "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_NAME"),
}


def mounted_from(svc: dict, container_path: str, certs: Path) -> Path:
    """The generated file (in `certs`) a container path of the service is mounted from."""
    for host, target in bind_mounts(svc):
        if target == container_path:
            assert host.parent == ROOT / "var" / "certs", f"{container_path} not from var/certs"
            return certs / host.name
    raise AssertionError(f"{container_path} is not mounted")


def test_the_temporal_frontend_requires_client_certificates(services):
    env = env_of(services["temporal"])
    assert env.get("TEMPORAL_TLS_REQUIRE_CLIENT_AUTH") == "true"
    for var in ("TEMPORAL_TLS_SERVER_CA_CERT", "TEMPORAL_TLS_SERVER_CERT", "TEMPORAL_TLS_SERVER_KEY",
                "TEMPORAL_TLS_FRONTEND_CERT", "TEMPORAL_TLS_FRONTEND_KEY", "TEMPORAL_TLS_CLIENT1_CA_CERT"):
        assert env.get(var, "").startswith("/certs/"), var
        assert any(t == env[var] for _, t in bind_mounts(services["temporal"])), f"{var} not mounted"
    assert env.get("TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION") == "false"
    assert env.get("TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION") == "false"


def test_every_temporal_client_presents_a_certificate_and_mounts_only_its_own(services):
    for name, names in TEMPORAL_CLIENTS.items():
        env = env_of(services[name])
        ca, cert, key, server_name = (env.get(v) for v in names)
        assert ca and cert and key and server_name == "temporal", (name, ca, cert, key, server_name)
        mounted = {t for _, t in bind_mounts(services[name])}
        assert {ca, cert, key} <= mounted, name
        hosts = {h.name for h, _ in bind_mounts(services[name]) if h.parent == ROOT / "var" / "certs"}
        assert "ca.key" not in hosts and not (hosts & {"server.key"} and name != "temporal"), (name, hosts)


def test_the_ui_and_the_frontend_are_published_on_localhost_only(services):
    for name in ("temporal", "temporal-ui"):
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_compose_certificates_complete_a_mutual_handshake(services, tmp_path):
    """The files each service mounts, generated by the dev-certs script: every client's
    certificate is accepted by the frontend's, under the server name it expects."""
    from hotline.devcerts import generate
    from tests.test_tls import handshake
    import ssl
    certs = tmp_path / "certs"
    generate(certs)
    temporal = services["temporal"]
    env = env_of(temporal)
    assert mounted_from(temporal, env["TEMPORAL_TLS_FRONTEND_CERT"], certs) == certs / "server.pem"
    assert mounted_from(temporal, env["TEMPORAL_TLS_CLIENT1_CA_CERT"], certs) == certs / "ca.pem"
    seen = set()
    for name, names in TEMPORAL_CLIENTS.items():
        svc, cenv = services[name], env_of(services[name])
        ctx = ssl.create_default_context(cafile=str(mounted_from(svc, cenv[names[0]], certs)))
        ctx.load_cert_chain(mounted_from(svc, cenv[names[1]], certs), mounted_from(svc, cenv[names[2]], certs))
        seen.add(handshake(certs, ctx, server_name=cenv[names[3]]))
    assert seen == {"hotline-client", "temporal-ui", "admin-client"}
