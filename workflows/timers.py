"""Durable deadline timers for a workflow: arm, re-arm, disarm by name.

Each deadline waits with `wait_condition(done, timeout=...)`: when the awaited action happens
in time the timer is cancelled (nothing fires, nothing is left in history but the cancel);
when it does not, `fire` runs once. Re-arming (extension, reopen, redispatch) cancels the old
wait; a fire already under way is never cancelled, so a notice is never cut in half.

With a `guard` (the order's turn: its lock) a due follow-up waits for its turn like any action and checks
`done` again once it holds the lock: a clerk's reply that was being recorded when the deadline
passed wins, and the follow-up does nothing. Cancelling a follow-up still waiting is safe.
"""
from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Awaitable, Callable

from temporalio import workflow


class _Armed:
    def __init__(self) -> None:
        self.task: asyncio.Task | None = None
        self.firing = False


class DeadlineTimers:
    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        self._generation: dict[str, int] = {}
        self._firing: set[asyncio.Task] = set()
        self.guard: Callable[[], AbstractAsyncContextManager] | None = None  # the order's turn

    def generation(self, name: str) -> int:
        return self._generation.get(name, 0)

    def arm(self, name: str, at: datetime, done: Callable[[], bool],
            fire: Callable[[int], Awaitable[None]], summary: str) -> None:
        self.disarm(name)
        gen = self._generation[name] = self._generation.get(name, 0) + 1
        slot = _Armed()

        async def run() -> None:
            delay = (at - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(done, timeout=delay, timeout_summary=summary)
                    return
                except asyncio.TimeoutError:
                    pass
            if self.guard is None:
                if done():
                    return
                slot.firing = True
                await fire(gen)
                return
            async with self.guard():
                if done():
                    return
                slot.firing = True
                await fire(gen)

        slot.task = asyncio.create_task(run())
        self._armed[name] = slot

    def waiting(self, name: str) -> bool:
        """True while the named deadline is armed and has not begun to fire."""
        slot = self._armed.get(name)
        return slot is not None and slot.task is not None and not slot.task.done() and not slot.firing

    def disarm(self, name: str) -> None:
        slot = self._armed.pop(name, None)
        if slot is None or slot.task is None or slot.task.done():
            return
        if slot.firing:
            self._firing.add(slot.task)  # let it finish; close() waits for it
        else:
            slot.task.cancel()

    def disarm_all(self) -> None:
        for name in list(self._armed):
            self.disarm(name)

    def busy(self) -> bool:
        """True while any fire is still running (its notice not yet written)."""
        live = [s.task for s in self._armed.values() if s.firing and s.task and not s.task.done()]
        return bool(live) or any(not t.done() for t in self._firing)
