"""Fault points for the crash tests: kill this very process at a named point.

Set HOTLINE_CRASH_AT to a comma-separated list of point names (e.g. `notify:reply,
ledger:criticism`) in a worker's environment and it dies with SIGKILL when it reaches one,
exactly as a machine failure would, with no cleanup. Unset (always, in production) it is a no-op.
"""
from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    spec = os.environ.get("HOTLINE_CRASH_AT")
    if spec and name in spec.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
