"""The hotline worker: all workflows and activities, plus the outbox dispatcher.

SIGTERM/SIGINT shut it down gracefully: no new tasks are polled, running activities get
the graceful-shutdown window to finish (or are retried elsewhere), nothing is lost.
"""
from __future__ import annotations

import asyncio
import compileall
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.wiring import build_activities
from hotline.domain.policy import PolicyError, load_policy
from hotline.runtime import tracing
from hotline.runtime.logjson import configure_logging
from hotline.runtime.settings import Settings, SettingsError, load_settings
from hotline.store import Database
from hotline.store.outbox import OutboxDispatcher
from hotline.store.routing_models import make_router
from workflows import telemetry
from workflows.activity_metrics import ActivityMetrics
from workflows.commits import watch as watch_commits
from workflows.connect import connect
from workflows.hosted import WORKFLOWS
from workflows.runner import workflow_runner

log = logging.getLogger("hotline.worker")


def _compile_workflows() -> None:
    """Write the workflow modules' bytecode once (also under PYTHONDONTWRITEBYTECODE).

    The sandbox imports the workflow module afresh for every order it starts or replays after a
    cache eviction; reading bytecode instead of compiling the source makes a replay ~25 % cheaper.
    A read-only install (the image compiles at build time) is fine as it is.
    """
    import workflows
    try:
        compileall.compile_dir(workflows.__path__[0], quiet=2)
    except OSError:
        pass


def make_worker(client: Client, db: Database, settings: Settings, policy=None, router=None,
                executor: ThreadPoolExecutor | None = None, calendar_overrides: dict | None = None,
                **kwargs) -> Worker:
    policy = policy or load_policy(settings.policy)
    _compile_workflows()
    kwargs.setdefault("workflow_runner", workflow_runner(settings.workflow_sandbox))
    kwargs.setdefault("interceptors", [ActivityMetrics()])  # hotline_activities_total (tracing: the client's)
    if router is None:  # the registry in the database, as imported by the hotline office
        router = make_router(db, learned=False)  # it only recommends on returns: the evidence
    return Worker(
        client, task_queue=settings.task_queue, workflows=WORKFLOWS,
        activities=build_activities(db, client, settings.task_queue, policy, router, calendar_overrides),
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        graceful_shutdown_timeout=timedelta(seconds=20), max_cached_workflows=settings.workflow_cache,
        # No payload of ours is stored outside the history. Above 1 the SDK still passes every
        # payload of every activation through a task and a semaphore looking for external ones:
        # ~20 % of the worker's CPU when orders replay after a cache miss (bench/RESULTS.md Round 7).
        max_workflow_task_external_storage_concurrency=1,
        **kwargs,
    )


async def _dispatch_outbox(dispatcher: OutboxDispatcher, stop: asyncio.Event, batch: int = 100) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(dispatcher.run_once, batch)
            if dispatcher.last_claimed >= batch:
                continue  # a full batch: more are probably due, go round again at once
        except Exception as exc:  # a database outage must not kill the worker; try again soon
            log.warning("outbox dispatcher: %s", str(exc).splitlines()[0])
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def _check_queries_refused(client: Client) -> bool:
    """Warn when the namespace answers queries: one that reaches a worker while a workflow task
    waits can record an order it cannot replay (README, "Known SDK race")."""
    try:
        await client.get_workflow_handle("hotline-query-probe").query("state")
    except Exception as exc:  # the answer we hope for: refused before any worker is asked
        if "not allowed to query" in str(exc).lower():
            return True
    log.warning("the namespace accepts workflow queries; set the dynamic config "
                "system.disallowQuery=true for it (README, 'Known SDK race')")
    return False


async def _ensure_schedules(client: Client, settings: Settings) -> None:
    """The weekly routing retrain (issue 19), created by whichever worker starts first, so a
    deployment set up without stack.py (compose, a real cluster) has it too; an existing one,
    perhaps paused by an operator, is left alone."""
    from workflows.setup import ensure_routing_retrain_schedule
    try:
        if await ensure_routing_retrain_schedule(client, settings.task_queue):
            log.info("weekly routing retrain scheduled on task queue %r", settings.task_queue)
    except Exception as exc:  # never keep the worker from starting over it
        log.warning("routing retrain schedule not ensured: %s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _warn_calendar(db: Database) -> None:
    """Say at start-up when deadlines are about to rest on a guessed calendar (a year unpublished)."""
    from datetime import datetime, timezone

    from hotline.services.calendar_admin import coming_year_status
    try:
        status = coming_year_status(db, datetime.now(timezone.utc))
    except Exception as exc:  # never keep the worker from starting over a warning
        log.warning("calendar status unknown: %s", type(exc).__name__)
        return
    if status.code:
        log.warning("calendar %s: %s", status.code, status.message)


async def main() -> int:
    configure_logging()  # every line masked: phone numbers, ID numbers, e-mail addresses
    try:
        settings = load_settings()
        policy = load_policy(settings.policy)
        db = Database(settings.database_url)
        db.check()
        tracing.setup("hotline-worker")  # only when OTEL_* asks for it
        runtime, sdk_metrics = telemetry.sdk_runtime() if settings.worker_metrics_port else (None, None)
        client = await connect(settings, runtime=runtime)
    except (SettingsError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = make_worker(client, db, settings, policy=policy)
    await _ensure_schedules(client, settings)
    dispatcher = OutboxDispatcher(db)
    outbox_task = asyncio.create_task(_dispatch_outbox(dispatcher, stop))
    commits_task = asyncio.create_task(watch_commits(db, client, stop))  # held writes released or voided
    ready = telemetry.Readiness()
    ready_task = asyncio.create_task(telemetry.watch_readiness(ready, worker, db, client, stop))
    status = (telemetry.serve(settings.worker_metrics_host, settings.worker_metrics_port, sdk_metrics, ready)
              if settings.worker_metrics_port else None)
    log.info("worker on task queue %r, namespace %r, policy %s@%s", settings.task_queue,
             settings.temporal_namespace, policy.name, policy.version)
    _warn_calendar(db)
    await _check_queries_refused(client)
    async with worker:
        await stop.wait()
        log.info("shutting down: finishing in-flight activities")
    await outbox_task
    await commits_task
    await ready_task
    if status is not None:
        status.shutdown()
    tracing.shutdown()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
