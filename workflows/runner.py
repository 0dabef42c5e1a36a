"""Which runner executes workflow code: none by default, the SDK's import sandbox on request.

The sandbox re-imports a workflow's module for every order it starts or replays and runs each
activation through restricted proxies. It cost about 30 % of the worker's CPU per order
(bench/RESULTS.md, Round 4), yet it guarded almost nothing of ours: every module our workflows
use is passed through it (hotline models and transitions, workflows.order_core, timers,
calendar_follow), and calls made inside a passed-through module are not restricted. Only the
lines of work_order.py and supervision.py themselves were checked.

Determinism is guarded instead, over all of that code:
- tests/workflows/test_determinism.py scans every module the workflows import (transitively, within the
  project) for clocks, randomness, I/O, threads and environment reads;
- tests/workflows/test_replay.py replays the saved histories inside the sandbox (the Replayer's default);
- tests/workflows/test_lifecycle.py runs one whole order with `HOTLINE_WORKFLOW_SANDBOX=on`.

`HOTLINE_WORKFLOW_SANDBOX=on` brings the sandbox back for a worker (e.g. while trying new
workflow code against production traffic).
"""
from __future__ import annotations

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    return SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()
