"""Replays the histories the fault runs kept (tests/histories/known_sdk_race/*.json) with today's workflows.

    python bench/replay_check.py [HISTORY.json ...]

tests/histories/known_sdk_race/update_accepted_after_timer_fire.json was written live by our own worker in
`bench/faults.py --only server`: the sign-for timer fired (event 36) and, in the same workflow
task, the `sign` update was accepted; the live run recorded the timer's follow-up first
(event 40 ActivityTaskScheduled notify, 41 UpdateAccepted sign, 42 ActivityTaskScheduled
compute_deadlines). Replaying it with the same code fails: "[TMPRL1100] Nondeterminism error:
Update machine does not handle this event: HistoryEvent(id: 40, ActivityTaskScheduled)"
(temporalio 1.35.0, sandboxed or not). update_accepted_after_two_timer_fires.json is the same
fault from a later run (contact and coordination timers, then the `return_review` update).
Prints one line per history: replays / FAILS and why; exits 1 when any fails.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402,F401  (puts the repository on the path)
from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402

from workflows.hosted import WORKFLOWS  # noqa: E402


async def main(paths: list[Path]) -> int:
    # the project's key ring (HOTLINE_CODEC_KEYS, ..._FILE or var/codec-keys): encrypted histories
    # open with it, histories saved before encryption pass through it unchanged
    from hotline.runtime.settings import load_codec_keys
    from workflows.codec import data_converter
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter(load_codec_keys()),
                        runtime=common.quiet_runtime())
    failed = 0
    for p in paths:
        hist = WorkflowHistory.from_json(p.stem, p.read_text())
        res = await replayer.replay_workflow(hist, raise_on_replay_failure=False)
        if res.replay_failure:
            failed += 1
            msg = str(res.replay_failure).split("message: ", 1)[-1].split(", source")[0]
            print(f"FAILS   {p.name} ({len(hist.events)} events): {msg}")
        else:
            print(f"replays {p.name} ({len(hist.events)} events)")
    return 1 if failed else 0


if __name__ == "__main__":
    files = ([Path(a) for a in sys.argv[1:]]
             or sorted((HERE.parent / "tests" / "histories" / "known_sdk_race").glob("*.json")))
    sys.exit(asyncio.run(main(files)))
