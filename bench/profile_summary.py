"""Summarise a py-spy raw profile (collapsed stacks, `py-spy record --format raw`) by where the
time goes in a worker: our activities, our workflow code, the SDK's sandbox and payload
conversion, the outbox dispatcher, the event loop.

    python bench/profile_summary.py PROFILE.txt [PROFILE2.txt ...]

bench/lifecycle.py --pyspy DIR writes one profile per measured phase.
"""
from __future__ import annotations

import collections
import re

# first match wins: the most specific places first
IDLE = [  # the leaf frame of a thread that is only waiting
    ("idle: event loop waiting in select", ("EpollSelector.select",)),
    ("idle: thread-pool thread waiting for work", ("_worker (concurrent/futures/thread.py",)),
]
CATEGORIES = [
    ("import / start-up", ("_find_and_load", "Router.__init__")),
    ("activity record_step (read model + KPI rows)", ("StoreActivities.record_step",)),
    ("activity notify (outbox insert)", ("NotifyActivities.notify",)),
    ("activity compute_deadlines", ("DeadlineActivities.compute_deadlines",)),
    ("bare activities (empty)", ("bare_step (", "bare_notify (", "bare_deadlines (")),
    ("outbox dispatcher", ("OutboxDispatcher", "_dispatch_outbox")),
    ("payload conversion (pydantic JSON)", ("to_payload", "from_payload", "to_payloads", "from_payloads",
                                            "PydanticJSON", "encode_failure", "to_failure")),
    ("our workflow code", ("workflows/work_order.py", "workflows/order_core.py", "workflows/timers.py",
                           "bare_workflow.py")),
    ("workflow activation (SDK + sandbox)", ("_workflow_instance.py", "workflow_sandbox", "_RunningWorkflow")),
    ("payload visitor (SDK)", ("_visitor.py",)),
    ("activity dispatch (SDK)", ("worker/_activity.py",)),
    ("core bridge poll/complete (SDK)", ("temporalio/bridge/worker.py",)),
    ("client calls (bench driver)", ("temporalio/client.py", "ours_order", "bare_order", "workflows/client.py")),
    ("SQLAlchemy / sqlite3 (other)", ("sqlalchemy/",)),
    ("thread-pool hand-off", ("concurrent/futures/thread.py", "call_soon_threadsafe", "_write_to_self")),
    ("event loop (other)", ("_run_once",)),
]


def categorise(stack: str) -> str:
    leaf = stack.rsplit(";", 1)[-1]
    for name, needles in IDLE:
        if any(n in leaf for n in needles):
            return name
    for name, needles in CATEGORIES:
        if any(n in stack for n in needles):
            return name
    return "other"


def summarise(path: str, top: int = 20, only: str | None = None) -> None:
    cats: collections.Counter = collections.Counter()
    self_t: collections.Counter = collections.Counter()
    ours: collections.Counter = collections.Counter()
    total = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, n = line.rsplit(" ", 1)
        if only and only not in stack:
            continue
        try:
            n = int(n)
        except ValueError:
            continue
        total += n
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
        cats[categorise(stack)] += n
        self_t[frames[-1]] += n
        seen = set()
        for f in frames:  # inclusive time of our own functions
            if any(p in f for p in ("activities/", "workflows/", "hotline/")) and f not in seen:
                ours[f] += n
                seen.add(f)
    busy = total - sum(v for k, v in cats.items() if k.startswith("idle"))
    print(f"== {path}: {total} samples, {busy} busy (not waiting)")
    print("-- by category (% of busy samples; idle shown for reference)")
    for k, v in cats.most_common():
        print(f"   {v / busy * 100:5.1f}%  {v:6d}  {k}")
    print("-- self time, top functions")
    for k, v in self_t.most_common(top):
        print(f"   {v / total * 100:5.1f}%  {k}")
    print("-- inclusive time of our code (activities/, workflows/, hotline/)")
    for k, v in ours.most_common(top):
        print(f"   {v / total * 100:5.1f}%  {k}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("profiles", nargs="+")
    ap.add_argument("--only", help="keep only the stacks that contain this text (e.g. a thread's entry point)")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    for p in a.profiles:
        summarise(p, a.top, a.only)
