"""Department actions (issue 14): throughput and latency of `sign` on open work orders through
the gateway, against the same update on a bare workflow and through the engine, in the same run.

Run from the repository root:

    python bench/actions.py [--requests 200] [--concurrency 20] [--json PATH]

It starts the stack of bench/intake.py (common.HttpStack: a dev server, SQLite with the unit
catalogue, `python worker.py` with the sanya policy, `uvicorn gateway:app`), with the gateway's
request-rate limits off (a department key may send 50/s: the figures are to be the engine's, not
the throttle's), one department key per owner unit, and in this process a worker for
bench/bare_workflow.py (sandboxed, as the SDK ships it, unless --bare-unsandboxed). Then it opens
the orders the loops act on: 2N work orders through TemporalWorkOrders.start_order, each answered once
dispatched (under sanya the sign-for deadline is 2 h away, so they all wait for their `sign`),
spread over the owner units, and N bare workflows by update-with-start of `dispatched`. Three
loops, each N `sign`s on distinct open orders from C concurrent callers, each timed:

  bare    BareWorkflow's `sign` update (deadlines, step, two timers; local activities): the floor
          of an update of this shape on this server
  engine  TemporalWorkOrders.act(order, "sign") in this process: the workflow part of the action
          (validator, deadlines recomputed, the step recorded), without HTTP or keys
  http    POST /api/v1/orders/{no}/sign with the owner unit's key: everything a department waits for

Prints actions/s, p50/p99 of each and the ratios http/bare and http/engine; with --json, writes
the figures of each loop for bench/charts.py.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import httpx  # noqa: E402
from bare_workflow import ACTIVITIES as BARE_ACTIVITIES  # noqa: E402
from bare_workflow import BareWorkflow
from intake import BODY, measured, run_loop  # noqa: E402
from sqlalchemy import text  # noqa: E402
from temporalio.client import WithStartWorkflowOperation  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

OWNERS = ["ZJJ", "ZFJ", "SWJ", "JYQ", "TYQ", "HTQ", "YZQ"]
WARM = 5  # warm-up actions per loop
# the gateway's request-rate limits (hotline/runtime/settings.py, load_limits) off for this run
UNTHROTTLED = {"HOTLINE_RATE_PER_IP": "off", "HOTLINE_RATE_PER_KEY": "off"}


def dispatched(db, order_nos: list[str]) -> int:
    """How many of these orders the read model shows dispatched (the gateway checks it first)."""
    with db.engine.connect() as c:
        rows = c.execute(text("SELECT order_no FROM orders WHERE stage = 'dispatched'")).scalars()
        return len(set(rows) & set(order_nos))


async def main(args) -> int:
    from hotline.domain.models import IntakeRequest, SignAction
    from hotline.domain.policy import load_policy
    from hotline.store.apikeys import create_key
    from hotline.store.units import unit_codes
    from workflows.client import TemporalWorkOrders

    n, conc = args.requests, args.concurrency
    common.header(f"actions: `sign`, {n} per loop, {conc} concurrent callers, {args.workers} worker process(es)")
    async with common.HttpStack("actions", gateway_env=UNTHROTTLED, workers=args.workers) as st:
        client, db = st.client, st.db
        known = unit_codes(db)
        owners = [o for o in OWNERS if o in known] or sorted(known)[:5]
        keys = {o: create_key(db, f"department:{o}", label="bench") for o in owners}
        engine = TemporalWorkOrders.on_store(client, st.queue, load_policy("sanya"), db)  # as the gateway
        req = IntakeRequest.model_validate(BODY)
        run_id = int(uuid.uuid4().hex[:8], 16) % 10**5
        bare_queue = f"{st.queue}-bare"
        bare_extra = {"workflow_runner": UnsandboxedWorkflowRunner()} if args.bare_unsandboxed else {}
        bare_worker = Worker(client, task_queue=bare_queue, workflows=[BareWorkflow], activities=BARE_ACTIVITIES,
                             activity_executor=ThreadPoolExecutor(max_workers=16), **bare_extra)

        # the orders each loop acts on: i < WARM for the warm-up, the rest for the timed loop
        orders = {name: [(f"SY8{run_id:05d}{k:02d}{i:06d}", owners[i % len(owners)]) for i in range(n + WARM)]
                  for k, name in enumerate(("engine", "http"))}
        bare_ids = [f"bare-{run_id}-{i}" for i in range(n + WARM)]

        to_open = orders["engine"] + orders["http"]

        async def open_order(i: int) -> None:
            order_no, owner = to_open[i]
            await engine.start_order(order_no, req, owner, "operator", [])  # answers once dispatched

        async def open_bare(i: int) -> None:
            op = WithStartWorkflowOperation(BareWorkflow.run, True, id=bare_ids[i], task_queue=bare_queue,
                                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            await client.execute_update_with_start_workflow(BareWorkflow.dispatched, start_workflow_operation=op)

        async def bare(i: int) -> None:
            await client.get_workflow_handle(bare_ids[i]).execute_update(BareWorkflow.sign, "ZJJ")

        async def via_engine(i: int) -> None:
            order_no, owner = orders["engine"][i]
            await engine.act(order_no, "sign", SignAction(by=owner))

        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        async with bare_worker, httpx.AsyncClient(base_url=f"http://127.0.0.1:{st.port}", limits=limits,
                                                  timeout=120) as http:
            async def via_http(i: int) -> None:
                order_no, owner = orders["http"][i]
                r = await http.post(f"/api/v1/orders/{order_no}/sign", json={}, headers={"X-API-Key": keys[owner]})
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

            # ---------------------------------------------------------------- open the orders
            t0 = time.perf_counter()
            opened = await asyncio.wait_for(run_loop("opened", len(to_open), conc, open_order), timeout=args.timeout)
            opened_bare = await asyncio.wait_for(run_loop("opened bare", n + WARM, conc, open_bare),
                                                 timeout=args.timeout)
            print(opened.line(), flush=True)
            print(opened_bare.line(), flush=True)
            if opened.errors or opened_bare.errors:
                raise RuntimeError("orders could not be opened: the loops would act on missing orders")
            every = [o for o, _ in to_open]
            while dispatched(db, every) < len(every):  # the read model catches up with the answers
                if time.perf_counter() - t0 > args.timeout:
                    raise RuntimeError(
                        f"only {dispatched(db, every)} of {len(every)} orders dispatched in the read model")
                await asyncio.sleep(0.5)

            # ---------------------------------------------------------------- the loops
            # warm-up: connections, the key cache, the worker's caches, SQLite pages
            for fn in (bare, via_engine, via_http):
                await run_loop("warm", WARM, WARM, fn)
            loops = []
            for name, fn in (("bare", bare), ("engine", via_engine), ("http", via_http)):
                spy = args.pyspy if name in ("engine", "http") else None
                loops.append(await measured(st, run_loop(name, n, conc, lambda i, fn=fn: fn(WARM + i)), args.timeout,
                                            spy, f"actions-{name}"))
        bare_l, engine_l, http_l = loops
        print("== result")
        for lp in loops:
            print(lp.line())
            print(common.cpu_line(lp.cpu))
        if bare_l.rate and engine_l.rate:
            print(f"   ratio http/bare = {http_l.rate / bare_l.rate:.2f} (throughput); "
                  f"http/engine = {http_l.rate / engine_l.rate:.2f}")
        print(f"   p50 added by the gateway over the engine: "
              f"{common.ms(common.pct(http_l.lat, 50) - common.pct(engine_l.lat, 50))}")
        if args.json:
            common.write_json(args.json, "actions", {"action": "sign", "requests": n, "concurrency": conc,
                                                     "bare_unsandboxed": args.bare_unsandboxed,
                                                     "workers": args.workers},
                              {"open": opened.figures(conc), "loops": [lp.figures(conc) for lp in loops],
                               "rss_mib": {"worker": common.finite(sum(common.rss_mib(w.pid) for w in st.workers)),
                                           "gateway": common.finite(common.rss_mib(st.gateway.pid))}})
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--requests", type=int, default=200, help="actions per loop")
    ap.add_argument("--workers", type=int, default=1, choices=[1, 2, 3, 4],
                    help="worker processes on the one task queue (the compose file runs two)")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per loop")
    ap.add_argument("--bare-unsandboxed", action="store_true",
                    help="the bare baseline without the workflow sandbox, as worker.py runs ours")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON (for bench/charts.py)")
    ap.add_argument("--pyspy", metavar="DIR", help="py-spy the gateway and the worker during the engine and http "
                    "loops (raw stacks to DIR; bench/profile_summary.py sums them)")
    sys.exit(asyncio.run(main(ap.parse_args())))
