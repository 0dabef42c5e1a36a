"""The bare engine baseline of bench/lifecycle.py: a workflow of exactly the shape of one work
order's happy path, with empty bodies.

WorkOrderWorkflow's happy path (intake → dispatch → sign → contact → reply → callback → close)
is, counted from workflows/work_order.py and workflows/order_core.py:

  updates      5  dispatched, sign, contact, reply, callback
  timers       7  sign-for, reminder, handling deadline (at dispatch); contact, coordination
                  (at sign); callback, answer (at reply) — each started, then cancelled
  activities   8  since the `one-write-per-action` patch (`one_write=True`, the default of
                  bench/lifecycle.py): compute_deadlines ×3, record_action ×5 (one write per
                  action: its steps, notices and read-model row)
              16  before it (`one_write=False`, the `bare16` baseline): record_step ×8,
                  compute_deadlines ×3, notify ×5

BareWorkflow does the same calls in the same order, on the same kind of worker (synchronous
activities in a thread pool), with payloads of a few bytes and no database: whatever our
order takes beyond it is our code (payloads, pydantic, SQLite, search attributes).
`local=True` (the default of `bench/lifecycle.py`) runs the same calls as local activities, as
our orders started since the `serial-local-activities` patch do for their short activities
(strikes and staff flags stay regular, but a prompt order has none).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

TIMEOUT = timedelta(seconds=10)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30))
NEVER = 3600.0  # timers are always cancelled before they fire, as in a prompt order


@activity.defn(name="bare_step")
def bare_step(arg: str) -> None:
    return None


@activity.defn(name="bare_deadlines")
def bare_deadlines(arg: str) -> None:
    return None


@activity.defn(name="bare_notify")
def bare_notify(arg: str) -> None:
    return None


ACTIVITIES = [bare_step, bare_deadlines, bare_notify]


@workflow.defn
class BareWorkflow:
    @workflow.init
    def __init__(self, local: bool = False, one_write: bool = False) -> None:
        self.local = local
        self.one_write = one_write
        self.stage = "intake"
        self.ready = False
        self.timers: dict[str, asyncio.Task] = {}

    async def _write(self, steps: int, notices: int = 0) -> None:
        """An action's steps and notices: one write, or one activity each (`one_write=False`)."""
        if self.one_write:
            await self._act("bare_step")
        else:
            await self._act("bare_step", steps)
            if notices:
                await self._act("bare_notify", notices)

    async def _act(self, name: str, n: int = 1) -> None:
        run = workflow.execute_local_activity if self.local else workflow.execute_activity
        for _ in range(n):
            await run(name, "x", start_to_close_timeout=TIMEOUT, retry_policy=RETRY)

    def _arm(self, name: str, done) -> None:
        async def run() -> None:
            try:
                await workflow.wait_condition(done, timeout=NEVER)
            except asyncio.TimeoutError:
                pass
        self.timers[name] = asyncio.create_task(run())

    def _disarm(self, *names: str) -> None:
        for n in names or list(self.timers):
            t = self.timers.pop(n, None)
            if t is not None and not t.done():
                t.cancel()

    @workflow.run
    async def run(self, local: bool = False, one_write: bool = False) -> str:
        if not self.one_write:
            await self._act("bare_step")                              # intake, its own write before
        await self._act("bare_deadlines")                             # dispatch deadlines
        self.stage = "dispatched"
        self._arm("sign", lambda: self.stage != "dispatched")
        self._arm("reminder", lambda: False)
        self._arm("supervision", lambda: False)
        await self._write(1, 1)                                       # (intake +) dispatch, its notice
        self.ready = True
        await workflow.wait_condition(lambda: self.stage == "closed" and workflow.all_handlers_finished())
        self._disarm()
        return self.stage

    @workflow.update
    async def dispatched(self) -> str:
        await workflow.wait_condition(lambda: self.ready)
        return self.stage

    @workflow.update
    async def sign(self, by: str) -> str:
        self.stage = "signed"
        await self._act("bare_deadlines")
        self._arm("contact", lambda: False)
        self._arm("coordination", lambda: False)
        await self._write(1)
        return self.stage

    @workflow.update
    async def contact(self, by: str) -> str:
        self.stage = "handling"
        await self._write(1, 1)
        return self.stage

    @workflow.update
    async def reply(self, by: str) -> str:
        self.stage = "replied"
        self._disarm("reminder", "supervision", "contact", "coordination")
        if not self.one_write:
            await self._write(1, 2)
        await self._act("bare_deadlines")
        self.stage = "callback"
        self._arm("callback", lambda: False)
        self._arm("answer", lambda: False)
        await self._write(2, 3) if self.one_write else await self._write(1, 1)  # reply + callback start
        return self.stage

    @workflow.update
    async def callback(self, by: str) -> str:
        self._disarm("callback", "answer")
        self.stage = "closed"
        await self._write(2)                                          # callback, close
        return self.stage
