"""The determinism guard (workflows/runner.py): workflows run without the SDK's sandbox, so
every module they import is scanned here for what would make a replay differ.

Workflow code must take time from `workflow.now()`, randomness from `workflow.random()`, and
do its I/O in activities. The scan follows the project's imports from the registered workflows
(transitively) and flags, anywhere in those modules, clocks, randomness, sleeping, threads,
environment reads, files, sockets and database access. A function that does such a thing on the
worker's or the gateway's side only (never from workflow code) is named in `WORKER_SIDE` with
the reason; anything else fails the test.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("hotline", "workflows", "activities")
ENTRY = ("workflows.work_order", "workflows.supervision", "workflows.routing_retrain")
# Workflows refer to their activities by typed method (execute_activity_method): the activity
# modules are imported for the reference only, and their code runs on the worker, outside any
# workflow. Their own imports are not followed either (the store, the outbox: the worker's side).
ACTIVITIES = "activities"

# attribute calls / reads that are non-deterministic or I/O, as `module.name` or `Class.name`
FORBIDDEN_ATTRS = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
    "time.time", "time.time_ns", "time.monotonic", "time.perf_counter", "time.sleep",
    "asyncio.sleep", "asyncio.to_thread", "asyncio.get_event_loop",
    "uuid.uuid1", "uuid.uuid4", "os.environ", "os.getenv", "os.urandom", "os.listdir",
}
# methods that touch the file system, whatever object they are called on
FORBIDDEN_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "exists", "is_file", "is_dir",
                     "glob", "rglob", "iterdir", "mkdir", "unlink", "stat"}
FORBIDDEN_MODULES = {"random", "secrets", "threading", "socket", "subprocess", "sqlalchemy",
                     "requests", "httpx", "urllib.request", "multiprocessing", "concurrent"}
FORBIDDEN_CALLS = {"open", "input", "print"}

# (module, function) -> why it is fine: it runs on the worker or the gateway, never in a workflow
WORKER_SIDE = {
    ("hotline.domain.policy", "load_policy"): "reads the policy file when the worker, gateway or CLI starts; "
                                       "workflows receive the Policy in their input",
    ("hotline.domain.policy", "_read"): "helper of load_policy",
    ("hotline.domain.policy", "_load_bundled"): "helper of load_policy (the policies shipped with the code)",
    ("hotline.domain.policy", "known_policies"): "lists the shipped policy files for error messages and the CLI",
}


def _file(module: str) -> Path | None:
    for p in (ROOT / (module.replace(".", "/") + ".py"), ROOT / module.replace(".", "/") / "__init__.py"):
        if p.exists():
            return p
    return None


def workflow_modules() -> dict[str, Path]:
    """The project's modules reachable by import from the registered workflows."""
    seen: dict[str, Path] = {}
    todo = list(ENTRY)
    while todo:
        name = todo.pop()
        path = _file(name)
        if name in seen or path is None or name.split(".")[0] == ACTIVITIES:
            continue
        seen[name] = path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] in PROJECT:
                todo.append(node.module)
                todo.extend(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                todo.extend(a.name for a in node.names if a.name.split(".")[0] in PROJECT)
    return seen


def _dotted(node: ast.AST) -> str | None:
    """`a.b.c` of an attribute chain, the last two parts (`datetime.now` of `dt.datetime.now`)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        parts.append(node.func.id)  # Path(...).read_text
    return ".".join(reversed(parts[:2])) if len(parts) >= 2 else None


class _Scan(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module, self.where, self.found = module, [], []

    def _flag(self, node: ast.AST, what: str) -> None:
        scope = ".".join(self.where)
        if (self.module, scope) not in WORKER_SIDE and (self.module, scope.split(".")[0]) not in WORKER_SIDE:
            self.found.append(f"{self.module}:{node.lineno} {scope or '<module>'}: {what}")

    def _scoped(self, node) -> None:
        self.where.append(node.name)
        self.generic_visit(node)
        self.where.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name in FORBIDDEN_MODULES or a.name.split(".")[0] in FORBIDDEN_MODULES:
                self._flag(node, f"import {a.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if mod in FORBIDDEN_MODULES or mod.split(".")[0] in FORBIDDEN_MODULES:
            self._flag(node, f"from {mod} import ...")
        for a in node.names:
            if f"{mod.split('.')[-1]}.{a.name}" in FORBIDDEN_ATTRS:
                self._flag(node, f"from {mod} import {a.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = _dotted(node)
        if name in FORBIDDEN_ATTRS:
            self._flag(node, name)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self._flag(node, f"{node.func.id}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_METHODS:
            self._flag(node, f".{node.func.attr}()")
        self.generic_visit(node)


def scan(module: str, source: str) -> list[str]:
    s = _Scan(module)
    s.visit(ast.parse(source))
    return s.found


def test_the_scan_covers_every_module_the_workflows_run():
    mods = workflow_modules()
    for must in ("workflows.work_order", "workflows.order_core", "workflows.timers",
                 "workflows.calendar_follow", "workflows.supervision", "hotline.domain.models",
                 "hotline.domain.transitions", "hotline.domain.contracts"):
        assert must in mods, must
    # client-side modules are not workflow code and must stay out of the workflows' imports
    for client_side in ("workflows.client", "workflows.commits", "workflows.codec", "hotline.store"):
        assert client_side not in mods, client_side


def test_workflow_code_is_deterministic():
    found = [f for name, path in sorted(workflow_modules().items())
             for f in scan(name, path.read_text(encoding="utf-8"))]
    assert not found, "non-deterministic code reachable from workflows:\n" + "\n".join(found)


def test_every_worker_side_exception_still_exists():
    """An allowance outlives its function only by mistake: it would hide the next one of that name."""
    mods = workflow_modules()
    for (module, scope) in WORKER_SIDE:
        assert module in mods, module
        tree = ast.parse(mods[module].read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        names |= {f"{c.name}.{f.name}" for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                  for f in c.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert scope in names, f"{module}.{scope} is allowed but no longer exists"


@pytest.mark.parametrize("source,what", [
    ("from datetime import datetime\ndef f():\n    return datetime.now()", "datetime.now"),
    ("import datetime as dt\ndef f():\n    return dt.datetime.utcnow()", "datetime.utcnow"),
    ("import random\ndef f():\n    return random.random()", "import random"),
    ("import uuid\ndef f():\n    return uuid.uuid4()", "uuid.uuid4"),
    ("import os\nX = os.environ.get('A')", "os.environ"),
    ("def f(p):\n    return open(p).read()", "open()"),
    ("import asyncio\nasync def f():\n    await asyncio.sleep(1)", "asyncio.sleep"),
    ("from pathlib import Path\ndef f():\n    return Path('x').read_text()", ".read_text()"),
    ("def f(path):\n    return path.exists()", ".exists()"),
    ("from sqlalchemy import select", "from sqlalchemy"),
    ("import time\nclass C:\n    def f(self):\n        return time.time()", "time.time"),
])
def test_the_scan_catches(source, what):
    found = scan("workflows.example", source)
    assert found and what in found[0], found


def test_the_scan_leaves_deterministic_code_alone():
    ok = ("from datetime import datetime, timedelta\nfrom temporalio import workflow\n"
          "def f(at: datetime):\n    return workflow.now() + timedelta(days=1), at.isoformat()\n")
    assert scan("workflows.example", ok) == []
