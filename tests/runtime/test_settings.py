"""Settings: safe defaults, and bad settings stop start-up with one clear line naming them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hotline.runtime.settings import SettingsError, load_settings
from tests.conftest import free_port


def test_defaults_are_the_embedded_stack():
    s = load_settings({})
    assert s.embedded_temporal and s.effective_temporal_address == "localhost:7233"
    assert (s.temporal_namespace, s.task_queue, s.policy) == ("default", "hotline", "sanya")
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("var/hotline.db")


@pytest.mark.parametrize("value", ["bad", "host:", "host:99999", "http://x:7233/", ":7233"])
def test_malformed_temporal_address(value):
    with pytest.raises(SettingsError, match="TEMPORAL_ADDRESS"):
        load_settings({"TEMPORAL_ADDRESS": value})


def _run(script: str, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, script], env=full, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("script", ["worker.py", "stack.py"])
def test_malformed_temporal_address_is_one_line(script, tmp_path):
    r = _run(script, TEMPORAL_ADDRESS="not an address", HOTLINE_VAR_DIR=str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "TEMPORAL_ADDRESS" in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("script", ["worker.py", "stack.py"])
def test_unreachable_database_is_one_line(script, tmp_path):
    url = f"postgresql+psycopg2://hotline@127.0.0.1:{free_port()}/hotline"
    r = _run(script, DATABASE_URL=url, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}", HOTLINE_VAR_DIR=str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DATABASE_URL") and "Traceback" not in r.stderr


def test_unknown_policy_is_one_line(tmp_path):
    r = _run("stack.py", HOTLINE_POLICY="nowhere", HOTLINE_VAR_DIR=str(tmp_path))
    assert r.returncode == 2 and "HOTLINE_POLICY" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["-1", "lots", "5", "1000000"])
def test_bad_workflow_cache_size(value):
    with pytest.raises(SettingsError, match="HOTLINE_WORKFLOW_CACHE"):
        load_settings({"HOTLINE_WORKFLOW_CACHE": value})


def test_workflow_cache_size_default_and_override():
    assert load_settings({}).workflow_cache == 2000
    assert load_settings({"HOTLINE_WORKFLOW_CACHE": "500"}).workflow_cache == 500


def test_workflow_sandbox_switch():
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from workflows.runner import workflow_runner
    assert load_settings({}).workflow_sandbox is False  # shipped: guarded by tests/workflows/test_determinism.py
    for raw, want in (("on", True), ("TRUE", True), ("1", True), ("off", False), ("no", False)):
        assert load_settings({"HOTLINE_WORKFLOW_SANDBOX": raw}).workflow_sandbox is want
    assert isinstance(workflow_runner(True), SandboxedWorkflowRunner)
    assert isinstance(workflow_runner(False), UnsandboxedWorkflowRunner)


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_bad_workflow_sandbox_switch(value):
    with pytest.raises(SettingsError, match="HOTLINE_WORKFLOW_SANDBOX.*on or off"):
        load_settings({"HOTLINE_WORKFLOW_SANDBOX": value})
