"""HTTP intake (issue 8): throughput and latency of `POST /api/v1/orders` through the gateway,
against a bare start_workflow loop in the same run.

Run from the repository root:

    python bench/intake.py [--requests 300] [--concurrency 16] [--json PATH]

It starts a Temporal dev server (headless, loopback, state in a temp file), a SQLite database
(migrated, unit catalogue loaded, one `intake` API key made with hotline.store.apikeys.create_key),
the worker (`python worker.py`, sanya policy) and the gateway: `uvicorn gateway:app` — the
production ASGI entry point, i.e. hotline.api.app.create_app over workflows.client.TemporalWorkOrders
and the router on the catalogue in the database — on a free loopback port. Four loops, each
N requests from C concurrent callers, each request timed:

  bare    client.start_workflow of an empty workflow (bench/bare_workflow.py), nothing else:
          the floor of any intake on this server
  shape   the bare workflow started as ours is: update-with-start answered by `dispatched` once
          its first task ran two local activities (empty), on its own unsandboxed worker in this
          process: what the engine costs an intake of our shape with none of our code
  uws     TemporalWorkOrders.start_order as intake ran before the answer came from the start:
          update-with-start, answered by `dispatched` once the workflow's first task computed the
          deadlines and wrote intake and dispatch (still the path of a retried intake)
  engine  TemporalWorkOrders.start_order as the gateway runs it (`on_store`), in this process:
          the dispatched order computed with the calendar, answered once the start is persisted;
          the workflow writes it after the answer. Without HTTP, keys, routing or the reservation
  http    POST /api/v1/orders with the key: everything a caller waits for

For `uws`, `engine` and `http`, the run also waits until every order of the loop has its first
write in the read model (audit rows, notices, the dispatch KPI row) and reports `written/s`:
orders answered AND written per second, loop plus drain; an answer that ran ahead of the work
behind it shows there.

Prints requests/s, p50/p99 of each and the ratios (http/bare, engine/bare, http/engine,
engine/uws, uws/shape); with --json, writes the figures of each loop (and the worker's and
gateway's RSS after them) for bench/charts.py.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import httpx  # noqa: E402
from bare_workflow import ACTIVITIES as BARE_ACTIVITIES  # noqa: E402
from bare_workflow import BareWorkflow  # noqa: E402

BODY = {"channel": "phone", "category": "complaint", "title": "工地夜间施工噪音",
        "description": "小区旁边工地每天晚上十一点还在打桩，吵得睡不着",
        "petitioner": {"name": "王小明", "phone": "13800001234"},
        "location": {"district": "JYQ", "address": "吉阳区迎宾路"}}


class Loop:
    def __init__(self, name: str) -> None:
        self.name, self.lat, self.errors, self.seconds = name, [], [], 0.0
        self.orders: list[str] = []  # the order numbers answered (loops of ours)
        self.drain: float | None = None  # seconds after the last answer until all were written
        self.cpu: dict[str, float] = {}  # ms of CPU per request by part of the stack (loop and drain)

    @property
    def rate(self) -> float:
        return len(self.lat) / self.seconds if self.seconds else 0.0

    def figures(self, concurrency: int) -> dict:
        return {"name": self.name, "requests": len(self.lat) + len(self.errors), "ok": len(self.lat),
                "failed": len(self.errors), "concurrency": concurrency, "seconds": round(self.seconds, 2),
                "throughput_per_s": round(self.rate, 2), **common.latency_ms(self.lat),
                **({"drain_s": round(self.drain, 2), "written_per_s": round(self.written_rate, 2)}
                   if self.drain is not None else {}), **({"cpu_ms": self.cpu} if self.cpu else {})}

    @property
    def written_rate(self) -> float:
        return len(self.lat) / (self.seconds + (self.drain or 0.0)) if self.seconds else 0.0

    def line(self) -> str:
        return (f"   {self.name:6s}: {len(self.lat)} in {self.seconds:.1f} s = {self.rate:.1f}/s, "
                f"p50 {common.ms(common.pct(self.lat, 50))}, p99 {common.ms(common.pct(self.lat, 99))}"
                + (f"; all written {self.drain:.1f} s later = {self.written_rate:.1f} written/s"
                   if self.drain is not None else "")
                + (f", {len(self.errors)} FAILED ({self.errors[0]})" if self.errors else ""))


def written(db, orders: list[str]) -> int:
    """How many of these orders the workflow has written (their first step is in the read model)."""
    from sqlalchemy import func, select

    from hotline.store.tables import OrderRow
    n = 0
    with db.session() as s:
        for i in range(0, len(orders), 500):
            n += s.scalar(select(func.count()).select_from(OrderRow).where(
                OrderRow.order_no.in_(orders[i:i + 500]), OrderRow.last_seq > 0)) or 0
    return n


async def drain(db, loop: Loop, timeout: float = 600) -> None:
    t0 = time.perf_counter()
    while await asyncio.to_thread(written, db, loop.orders) < len(loop.orders):
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{loop.name}: orders not written after {timeout} s")
        await asyncio.sleep(0.05)
    loop.drain = time.perf_counter() - t0


async def run_loop(name: str, n: int, conc: int, call) -> Loop:
    res = Loop(name)
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def caller() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t = time.perf_counter()
            try:
                await call(i)
                res.lat.append(time.perf_counter() - t)
            except Exception as exc:
                res.errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(conc)))
    res.seconds = time.perf_counter() - t0
    return res


async def measured(st, run, timeout: float, spy_dir: str | None, spy_name: str) -> Loop:
    """Await a loop, the stack's CPU read around it (`Loop.cpu`, ms per request) and, given
    `spy_dir`, the gateway and the worker under py-spy; print its line."""
    before = st.cpu()
    spies = [common.py_spy(spy_dir, f"{spy_name}-{who}", pid=proc.pid)
             for who, proc in (("gateway", st.gateway), ("worker", st.worker))] if spy_dir else []
    try:
        loop = await asyncio.wait_for(run, timeout=timeout)
    finally:
        for spy in spies:
            common.py_spy_stop(spy)
    loop.cpu = common.cpu_per_request(before, st.cpu(), len(loop.lat))
    print(loop.line(), flush=True)
    print(common.cpu_line(loop.cpu), flush=True)
    return loop


async def run_ours(name: str, n: int, conc: int, call, db) -> Loop:
    """A loop of ours: `call` returns the order number; then wait for every order's first write."""
    numbers: list[str] = []

    async def numbered(i: int) -> None:
        numbers.append(await call(i))

    res = await run_loop(name, n, conc, numbered)
    res.orders = numbers
    await drain(db, res)
    return res


async def main(args) -> int:
    from hotline.domain.models import IntakeRequest
    from hotline.domain.policy import load_policy
    from hotline.store.apikeys import create_key
    from workflows.client import TemporalWorkOrders

    common.header(f"intake: {args.requests} requests per loop, {args.concurrency} concurrent callers, "
                  f"{args.workers} worker process(es)")
    async with common.HttpStack("intake", workers=args.workers) as st:
        client, queue = st.client, st.queue
        key = create_key(st.db, "intake", label="bench")
        policy = load_policy("sanya")
        uws_orders = TemporalWorkOrders(client, queue, policy)  # no calendar: update-with-start
        work_orders = TemporalWorkOrders.on_store(client, queue, policy, st.db)  # as the gateway
        req = IntakeRequest.model_validate(BODY)
        run_id = uuid.uuid4().hex[:8]

        async def bare(i: int) -> None:
            await client.start_workflow(BareWorkflow.run, id=f"bare-{run_id}-{i}", task_queue=f"{queue}-bare")

        # the bare engine in our intake's shape: update-with-start answered once dispatched, after
        # a first task with two local activities, on its own worker without the sandbox (as ours)
        from concurrent.futures import ThreadPoolExecutor

        from temporalio.client import WithStartWorkflowOperation
        from temporalio.common import WorkflowIDConflictPolicy
        from temporalio.worker import UnsandboxedWorkflowRunner, Worker
        shape_queue = f"{queue}-shape"
        shape_worker = Worker(client, task_queue=shape_queue, workflows=[BareWorkflow], activities=BARE_ACTIVITIES,
                              activity_executor=ThreadPoolExecutor(max_workers=16),
                              workflow_runner=UnsandboxedWorkflowRunner())

        async def shape(i: int) -> None:
            op = WithStartWorkflowOperation(BareWorkflow.run, args=[True, True], id=f"shape-{run_id}-{i}",
                                            task_queue=shape_queue,
                                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            await client.execute_update_with_start_workflow(BareWorkflow.dispatched, start_workflow_operation=op)

        async def via_uws(i: int) -> str:
            order_no = f"SY8{int(run_id, 16) % 10**5:05d}{i:08d}"
            await uws_orders.start_order(order_no, req, "ZJJ", "operator", [])  # answers once dispatched
            return order_no

        async def via_engine(i: int) -> str:
            order_no = f"SY9{int(run_id, 16) % 10**5:05d}{i:08d}"
            await work_orders.start_order(order_no, req, "ZJJ", "operator", [])  # answers once started
            return order_no

        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{st.port}", limits=limits, timeout=60) as http:
            async def via_http(i: int) -> str:
                r = await http.post("/api/v1/orders", json=BODY, headers={"X-API-Key": key})
                if r.status_code != 201:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
                return r.json()["order_no"]

            async with shape_worker:
                # warm-up: connections, imports, the worker's sandbox, SQLite pages
                for fn in (bare, shape, via_uws, via_engine, via_http):
                    await run_loop("warm", 5, 5, lambda i, fn=fn: fn(10**6 + i))
                await asyncio.sleep(2)  # the warm-up's orders written
                loops = []
                for name, fn in (("bare", bare), ("shape", shape), ("uws", via_uws), ("engine", via_engine),
                                 ("http", via_http)):
                    ours = name in ("uws", "engine", "http")
                    run = run_ours(name, args.requests, args.concurrency, fn, st.db) if ours \
                        else run_loop(name, args.requests, args.concurrency, fn)
                    spy = args.pyspy if name in ("engine", "http") else None
                    loops.append(await measured(st, run, args.timeout, spy, f"intake-{name}"))
        bare_l, shape_l, uws_l, engine_l, http_l = loops
        print("== result")
        for lp in loops:
            print(lp.line())
            print(common.cpu_line(lp.cpu))
        print(f"   ratio http/bare = {http_l.rate / bare_l.rate:.2f}, engine/bare = {engine_l.rate / bare_l.rate:.2f} "
              f"(throughput); http/engine = {http_l.rate / engine_l.rate:.2f}; engine/uws = "
              f"{engine_l.rate / uws_l.rate:.2f}; uws/shape = {uws_l.rate / shape_l.rate:.2f}")
        print(f"   written/s, answered and written: http/bare = {http_l.written_rate / bare_l.rate:.2f}, "
              f"engine/bare = {engine_l.written_rate / bare_l.rate:.2f}")
        print(f"   p50 added by the gateway over the engine: "
              f"{common.ms(common.pct(http_l.lat, 50) - common.pct(engine_l.lat, 50))}")
        if args.json:
            common.write_json(args.json, "intake", {"requests": args.requests, "concurrency": args.concurrency,
                                                    "workers": args.workers},
                              {"loops": [lp.figures(args.concurrency) for lp in loops],
                               "rss_mib": {"worker": common.finite(sum(common.rss_mib(w.pid) for w in st.workers)),
                                           "gateway": common.finite(common.rss_mib(st.gateway.pid))}})
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--workers", type=int, default=1, choices=[1, 2, 3, 4],
                    help="worker processes on the one task queue (the compose file runs two)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per loop")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON (for bench/charts.py)")
    ap.add_argument("--pyspy", metavar="DIR", help="py-spy the gateway and the worker during the engine and http "
                    "loops (raw stacks to DIR; bench/profile_summary.py sums them)")
    sys.exit(asyncio.run(main(ap.parse_args())))
