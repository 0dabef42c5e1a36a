"""The Dockerfile parsed instruction by instruction, .dockerignore, and deploy/healthcheck.py.

Helpers: tests/deploy/compose_support.py.
"""
from __future__ import annotations

import re
import sys
import threading
import tomllib
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.deploy.compose_support import (
    DOCKERIGNORE,
    ROOT,
    as_argv,
    copy_sources,
    final_stage,
)

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
