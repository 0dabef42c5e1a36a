"""The one-shot Temporal jobs of the compose file, run against stub `temporal` and
`temporal-sql-tool` commands: schema, namespace, search attributes.

Helpers: tests/deploy/compose_support.py.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.compose_support import (
    SPEC_SEARCH_ATTRIBUTES,
    TEMPORAL_SCHEMA_DIR,
    env_of,
    make_stub,
    parse_search_attributes,
    script_of,
)

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
