"""Replay of saved histories: the current workflow code must carry on every order already
running (tests/histories/*.json, recorded by tests/histories/record.py). A change that alters
the commands of a running order without `workflow.patched` fails here."""
from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(f"order-{path.stem}", path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_a_changed_workflow_fails_replay(monkeypatch):
    """The guard works: dropping a step's record activity is caught as non-determinism."""
    from workflows import order_core

    original = order_core.OrderCore._step

    async def skip_dispatch_record(self, action, by, detail=None):
        if action == "dispatch":
            self._seq += 1
            return
        await original(self, action, by, detail)

    monkeypatch.setattr(order_core.OrderCore, "_step", skip_dispatch_record)
    history = WorkflowHistory.from_json("order-x", HISTORIES[0].read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


KNOWN_RACE = sorted((Path(__file__).parent / "histories" / "known_sdk_race").glob("*.json"))


@pytest.mark.xfail(strict=True, reason=(
    "Evidence, never replayable: these orders were recorded while a `state` query reached the "
    "worker between a timer firing and the workflow task that carried an update; the query ran "
    "the timer's follow-up outside the task and its commands went out after the update, which "
    "replay orders first (TMPRL1100). The namespace now refuses queries and nothing queries a "
    "running order (README, 'Known SDK race'), so no new ones are produced. A stuck order of "
    "this kind is recovered with `temporal workflow reset --type LastWorkflowTask`."))
@pytest.mark.parametrize("path", KNOWN_RACE, ids=[p.stem for p in KNOWN_RACE])
async def test_known_sdk_race_histories(path: Path):
    history = WorkflowHistory.from_json(f"order-{path.stem}", path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history, raise_on_replay_failure=True)
