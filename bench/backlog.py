"""Backlog (issue 8): many open work orders waiting on their timers, then updates at a steady
rate on random ones.

Run from the repository root:

    python bench/backlog.py [--orders 50000] [--start-concurrency 64] [--rate 20] [--seconds 60] [--json PATH]
    python bench/backlog.py --orders 5000 --rates 5,10,15,20,30 --seconds 60 --json PATH

It starts a Temporal dev server (headless, loopback, state in a temp file given with
--db-filename, so its size can be read), a SQLite database, and the worker as production runs
it (`python worker.py`, sanya policy: the first deadline, sign-for, is 2 h away, so every
order stays open and waiting on its sign-for, reminder and handling-deadline timers).

1. Start: N orders through the engine's own path, `TemporalWorkOrders.on_store(...).start_order`
   as the gateway runs it: the dispatched order computed with the calendar, answered once the
   start is persisted (no routing, number reservation or HTTP); many at once; then it waits
   until the worker has run every order's intake and dispatch (the read model says so).
2. Updates: `sign` by the owner on random distinct orders, sent open-loop at a steady
   rate (a new one every 1/rate s, whatever the earlier ones are doing), each timed from
   send to its result. Most hit an order no longer in the worker's cache (1,000 by default),
   so the worker replays its history first: the worst case a backlog brings.
Prints the worker's RSS (after start, during updates, peak), the server's RSS and DB size,
update latency p50/p99/max. Targets: worker RSS < 1 GiB, p99 < 500 ms at 20 updates/s.

--rates R1,R2,... is the rising-rate mode: one update phase per offered rate, in that order, on
the same backlog (each phase takes its own orders from it, so N must cover the sum of
rate × seconds); per rate it prints p50/p99/max and the achieved rate (answers per second over
the longer of the offered window and the time to the last answer), then the highest rate held:
p99 < 1 s and none failed.
--json PATH writes the figures of the start and of every phase for bench/charts.py.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
from sqlalchemy import text  # noqa: E402

from hotline.domain.codes import order_workflow_id  # noqa: E402
from hotline.domain.models import IntakeRequest, SignAction  # noqa: E402
from hotline.domain.policy import load_policy  # noqa: E402
from workflows.client import TemporalWorkOrders  # noqa: E402

CATEGORIES = ["complaint", "help", "report", "consultation", "suggestion"]


def intake(i: int) -> IntakeRequest:
    return IntakeRequest.model_validate({
        "channel": "phone", "category": CATEGORIES[i % len(CATEGORIES)], "urgency": "normal",
        "title": f"工地夜间施工噪音 {i}", "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
        "petitioner": {"name": "王小明", "phone": "13800001234"},
        "location": {"district": "JYQ", "address": "吉阳区迎宾路"}})


async def start_order(engine: TemporalWorkOrders, order_no: str, req: IntakeRequest, owner: str) -> None:
    """The engine's intake, answered from the start; retried when the server pushes back."""
    for attempt in range(20):
        try:
            await engine.start_order(order_no, req, owner, "operator", [])
            return
        except Exception:  # resource exhausted under a burst: back off and try again
            await asyncio.sleep(min(0.1 * 2 ** attempt, 5))
    raise RuntimeError(f"could not start {order_no}")


def dispatched_count(db) -> int:
    with db.engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM orders WHERE stage = 'dispatched'")).scalar()


async def main(args) -> int:
    rates = args.rates or args.rate
    common.header(f"backlog: {args.orders} open orders, then `sign` updates at "
                  f"{'/'.join(f'{r:g}' for r in rates)}/s for {args.seconds:g} s each")
    needed = sum(int(r * args.seconds) for r in rates)
    if needed > args.orders:
        print(f"   note: the phases need {needed} orders, only {args.orders} are started: the last phases run short")
    policy = load_policy("sanya")
    owners = ["ZJJ", "ZFJ", "SWJ", "JYQ", "TYQ", "HTQ", "YZQ"]
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        tmp = Path(tmp)
        server = common.DevServer(db_file=tmp / "temporal.db", log=tmp / "temporal.log").start()
        worker = None
        try:
            client = await common.connect(server.address)
            await common.wait_namespace_ready(client)
            db = common.sqlite_database(tmp)
            from hotline.store.units import unit_codes
            known = unit_codes(db)
            owners = [o for o in owners if o in known] or sorted(known)[:5]
            queue = f"backlog-{uuid.uuid4().hex[:6]}"
            worker = common.worker_process(server.address, db.url, queue, policy="sanya", log=tmp / "worker.log")
            engine = TemporalWorkOrders.on_store(client, queue, policy, db)

            # ---------------------------------------------------------------- 1. start
            base = int(time.time()) % 10**6
            orders = [(f"SY{base:06d}{i:08d}", owners[i % len(owners)]) for i in range(args.orders)]
            accepted = 0
            seen = 0  # orders dispatched, as last read from the read model
            pending = iter(enumerate(orders))

            async def starter_loop() -> None:
                # --start-concurrency of these take the orders in turn (one coroutine per order
                # waiting its turn would cost the driver a core at 50,000). Orders in flight
                # (started, not yet dispatched) stay under --window, well below the worker's
                # workflow cache: a burst past it evicts workflows still running, each of which
                # is then replayed from its history.
                nonlocal accepted
                for i, (order_no, owner) in pending:
                    while i >= seen + args.window:
                        await asyncio.sleep(0.2)
                    await start_order(engine, order_no, intake(i), owner)
                    accepted += 1

            t0 = time.perf_counter()
            starter = asyncio.gather(*(starter_loop() for _ in range(args.start_concurrency)))
            last_print, done_at, t_accepted = t0, None, None
            while True:
                await asyncio.sleep(0.5)
                n = seen = dispatched_count(db)
                now = time.perf_counter()
                if t_accepted is None and accepted == args.orders:
                    t_accepted = now - t0
                if now - last_print > 30:
                    print(f"   {now - t0:6.0f} s: {accepted} started, {n} dispatched, "
                          f"worker RSS {common.rss_mib(worker.pid):.0f} MiB", flush=True)
                    last_print = now
                if n >= args.orders:
                    done_at = now - t0
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with {worker.returncode}")
                if now - t0 > args.start_timeout:
                    print(f"   start phase stopped at the time limit: {n} of {args.orders} dispatched")
                    starter.cancel()  # the rest are never started (their starters wait for the window)
                    break
            try:
                await starter
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(10)  # orders started just before the limit get dispatched
            n_open = dispatched_count(db)
            print(f"-- start: {args.orders} started in {t_accepted or float('nan'):.0f} s; "
                  f"{n_open} dispatched (intake + dispatch recorded) after {done_at or now - t0:.0f} s "
                  f"= {n_open / (done_at or now - t0):.1f} orders/s")
            await asyncio.sleep(5)  # let the outbox dispatcher and the cache settle
            rss_open = common.rss_mib(worker.pid)
            print(f"   worker RSS with {n_open} open orders: {rss_open:.0f} MiB; dev server RSS "
                  f"{common.rss_mib(server.pid):.0f} MiB; server DB {common.file_size_mib(server.db_file):.0f} MiB; "
                  f"app DB {common.file_size_mib(tmp / 'hotline.db'):.0f} MiB", flush=True)

            # ---------------------------------------------------------------- replay cost
            # What a cache miss costs the worker: replaying one open order's history.
            replay = await replay_ms(client, order_workflow_id(orders[0][0]))
            print(f"   replay of one open order's history ({replay.pop('events')} events), ms each: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in replay.items()), flush=True)

            # ---------------------------------------------------------------- 2. updates
            rng = random.Random(8)
            pool = orders[:n_open]
            rng.shuffle(pool)
            summary = []
            for rate in rates:
                spy = common.py_spy(args.pyspy, f"backlog-worker-{rate:g}per_s", pid=worker.pid) if args.pyspy else None
                pids = {"server": server.pid, "worker": worker.pid, "bench": os.getpid()}
                cpu0 = {k: common.cpu_seconds(p) for k, p in pids.items()}
                res = await updates(engine, worker, pool, rate, args.seconds, rss_open)
                # CPU per update by process over the phase (its drain included): where the time goes
                res[-1]["cpu_ms"] = common.cpu_per_request(cpu0, {k: common.cpu_seconds(p) for k, p in pids.items()},
                                                           len(res[0]))
                print(common.cpu_line(res[-1]["cpu_ms"]).replace("per request", "per update"), flush=True)
                if spy:
                    common.py_spy_stop(spy)
                summary.append((rate, *res))
            server_db = common.file_size_mib(server.db_file)
            rss_server = common.rss_mib(server.pid)
            print("== result")
            print(f"   open orders: {n_open} (started at {n_open / (done_at or now - t0):.1f} orders/s)")
            print(f"   dev server: RSS {rss_server:.0f} MiB, DB {server_db:.0f} MiB "
                  f"({server_db * 1024 / max(n_open, 1):.1f} KiB per open order)")
            for rate, lat, errors, rss_peak, _rss_after, _ in summary:
                p99 = common.pct(lat, 99)
                print(f"   at {rate:g} updates/s: worker RSS {rss_open:.0f} MiB open, peak {rss_peak:.0f} MiB "
                      f"(target < 1024 MiB: {'met' if rss_peak < 1024 else 'NOT met'}); latency "
                      f"p50 {common.ms(common.pct(lat, 50))}, p99 {common.ms(p99)}, {len(errors)} failed "
                      f"(target p99 < 500 ms: {'met' if p99 < 0.5 and not errors else 'NOT met'})")
            held = [rate for rate, lat, errors, *_ in summary if lat and not errors and common.pct(lat, 99) < 1.0]
            if args.rates:
                print(f"   rising rate: {'offered/s':>9}  {'achieved/s':>10}  {'p50':>9}  {'p99':>9}  {'max':>9}")
                for rate, lat, errors, _, _, timing in summary:
                    print(f"                {rate:9g}  {timing['achieved_rate']:10.1f}  "
                          f"{common.ms(common.pct(lat, 50)):>9}  "
                          f"{common.ms(common.pct(lat, 99)):>9}  {common.ms(max(lat) if lat else float('nan')):>9}"
                          + (f"  ({len(errors)} failed)" if errors else ""))
                print("   highest rate held (p99 < 1 s, none failed): "
                      + (f"{max(held):g} updates/s" if held else "none of those offered"))
            if args.json:
                start_s = done_at or now - t0
                common.write_json(args.json, "backlog", {
                    "orders": args.orders, "rates": rates, "seconds": args.seconds,
                    "mode": "rising" if args.rates else "rate",
                    "start_concurrency": args.start_concurrency, "window": args.window}, {
                    "start": {"orders": args.orders, "open": n_open, "seconds": common.finite(start_s),
                              "throughput_per_s": common.finite(n_open / start_s, 2),
                              "rss_worker_open_mib": common.finite(rss_open),
                              "rss_server_mib": common.finite(rss_server),
                              "server_db_mib": common.finite(server_db),
                              "app_db_mib": common.finite(common.file_size_mib(tmp / "hotline.db"))},
                    "replay_ms": {k: common.finite(v) for k, v in replay.items()},
                    "phases": [{"offered_rate": rate, "requests": timing["sent"], "ok": len(lat), "failed": len(errors),
                                "sent_rate": common.finite(timing["sent_rate"], 2),
                                "achieved_rate": common.finite(timing["achieved_rate"], 2),
                                "answered_in_s": common.finite(timing["answered_in"]),
                                **common.latency_ms(lat), "rss_peak_mib": common.finite(rss_peak),
                                "rss_after_mib": common.finite(rss_after),
                                "held": rate in held, "cpu_ms": timing.get("cpu_ms")}
                               for rate, lat, errors, rss_peak, rss_after, timing in summary],
                    "highest_rate_held": max(held) if held else None})
            db.dispose()
        finally:
            if worker is not None:
                common.stop_process(worker)
            server.stop()
    return 0


async def replay_ms(client, workflow_id: str, n: int = 20) -> dict:
    """Milliseconds to replay one open order's history, per history, in one replayer (so the
    replay worker's own start-up is not counted): sandboxed as the worker runs it, sandboxed
    with bytecode cached (what PYTHONDONTWRITEBYTECODE=1 prevents: the sandbox imports
    workflows/work_order.py afresh for every workflow instance), and unsandboxed."""
    from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

    from workflows.hosted import WORKFLOWS

    hist = await client.get_workflow_handle(workflow_id).fetch_history()
    out: dict = {"events": len(hist.events)}

    async def timed(**extra) -> float:
        # the client's converter: the payloads are encrypted with its key ring
        rp = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter, runtime=common.quiet_runtime(),
                      **extra)
        await rp.replay_workflow(hist)  # warm-up

        async def copies():
            for _ in range(n):
                yield hist
        t = time.perf_counter()
        async with rp.workflow_replay_iterator(copies()) as results:
            async for r in results:
                if r.replay_failure:
                    raise r.replay_failure
        return (time.perf_counter() - t) / n * 1000

    out["sandboxed"] = await timed()
    saved = sys.pycache_prefix, sys.dont_write_bytecode
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as d:
        sys.pycache_prefix, sys.dont_write_bytecode = d, False
        try:
            out["sandboxed, bytecode cached"] = await timed()
        finally:
            sys.pycache_prefix, sys.dont_write_bytecode = saved
    out["unsandboxed"] = await timed(workflow_runner=UnsandboxedWorkflowRunner())
    return out


async def updates(engine, worker, pool: list, rate: float, seconds: float, rss_open: float):
    """`sign` on distinct random orders, open loop at `rate` per second for `seconds`."""
    targets = [pool.pop() for _ in range(min(len(pool), int(rate * seconds)))]
    lat: list[float] = []
    errors: list[str] = []
    rss_peak = rss_open

    async def update(order_no: str, owner: str) -> None:
        t = time.perf_counter()
        try:
            await engine.act(order_no, "sign", SignAction(by=owner))
            lat.append(time.perf_counter() - t)
        except Exception as exc:
            errors.append(f"{order_no}: {type(exc).__name__}: {str(exc)[:120]}")

    tasks = []
    t1 = time.perf_counter()
    for k, (order_no, owner) in enumerate(targets):
        delay = t1 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(update(order_no, owner)))
        if k % max(1, int(rate)) == 0:
            rss_peak = max(rss_peak, common.rss_mib(worker.pid))
    sent_in = time.perf_counter() - t1
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    answered_in = time.perf_counter() - t1
    rss_after = common.rss_mib(worker.pid)
    rss_peak = max(rss_peak, rss_after)
    print(f"-- updates at {rate:g}/s: {len(targets)} `sign` sent in {sent_in:.0f} s "
          f"({len(targets) / sent_in:.1f}/s), {len(lat)} ok, {len(errors)} failed, all answered after "
          f"{answered_in:.0f} s")
    print(f"   latency p50 {common.ms(common.pct(lat, 50))}, p90 {common.ms(common.pct(lat, 90))}, "
          f"p99 {common.ms(common.pct(lat, 99))}, max {common.ms(max(lat) if lat else float('nan'))}; "
          f"worker RSS peak {rss_peak:.0f} MiB", flush=True)
    for e in errors[:3]:
        print(f"   error: {e}")
    await asyncio.sleep(3)
    # achieved: answers per second over the phase, the queue's drain included; the phase lasts at
    # least its offered window (N/rate), so a rate held in step reads as itself, not a bit above
    window = max(answered_in, len(targets) / rate)
    timing = {"sent": len(targets), "sent_rate": len(targets) / sent_in if sent_in else float("nan"),
              "answered_in": answered_in, "achieved_rate": len(lat) / window if window else 0.0}
    return lat, errors, rss_peak, rss_after, timing


def rates_list(raw: str) -> list[float]:
    try:
        rates = [float(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected rates per second as 5,10,15") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"{raw!r}: expected positive rates per second as 5,10,15")
    return rates


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--orders", type=int, default=50000)
    ap.add_argument("--start-concurrency", type=int, default=64)
    ap.add_argument("--window", type=int, default=400, help="orders in flight at most while starting")
    ap.add_argument("--rate", type=float, nargs="+", default=[20.0],
                    help="one update phase per rate (updates/s), each on its own orders")
    ap.add_argument("--rates", type=rates_list, metavar="R1,R2,...",
                    help="rising-rate mode: one update phase per offered rate, in turn (replaces --rate)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON (for bench/charts.py)")
    ap.add_argument("--pyspy", metavar="DIR", help="sample the worker process with py-spy during each update phase")
    ap.add_argument("--start-timeout", type=float, default=7200, help="seconds allowed for the start phase")
    sys.exit(asyncio.run(main(ap.parse_args())))
