"""Console inbox speed (issue 15): a clerk's inbox of 500 open orders of one unit, rendered
server-side, under 100 ms; against a baseline measured in the same run.

From a fresh clone, at the repository root (creates .venv and installs the project if needed):
    source scripts/venv.sh && .venv/bin/python bench/console_inbox.py [--orders 500] [--runs 200]

No Temporal: the pages read only the read model, so the orders are written straight into it
(the same columns and state document the worker's `record_step` writes: every stage a clerk
sees, deadlines, notices, a pending return, co-handler tasks of the unit on other units'
orders, and as many orders again of other units). Everything runs in this process through the
gateway's own ASGI app (fastapi.testclient), so figures include routing, the session and CSRF
checks, the read-model queries, the Jinja2 render and the response, not a network.

Measured, p50/p99 over --runs requests each, after a warm-up of 20:
  * baseline: the JSON API's list of the same unit's orders, all of them in one answer
    (GET /api/v1/orders?owner=ZJJ&limit=500 with the unit's API key);
  * the inbox page as a clerk opens it (GET /console/inbox: the first 50 of the 500, by
    urgency, with the counts, the pager and the co-handler tasks);
  * the whole inbox in one page: the same query and template with all 500 rows (what the page
    would cost without pagination), rendered in process without HTTP.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# the bench sends hundreds of requests a second from one address with one key: no rate limits
os.environ.update(HOTLINE_RATE_PER_IP="off", HOTLINE_RATE_PER_KEY="off", HOTLINE_CONSOLE_SECRET="bench")
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from common import header, pct, sqlite_database  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from hotline.api.app import create_app  # noqa: E402
from hotline.console.accounts import create_account  # noqa: E402
from hotline.domain.models import CoHandlerState, Deadlines, Notice, PendingRequest, Stage  # noqa: E402
from hotline.simulation.life import new_order  # noqa: E402
from hotline.store.apikeys import create_key  # noqa: E402
from hotline.store.recording import state_values as _state_values  # noqa: E402
from hotline.store.tables import OrderRow  # noqa: E402

UNIT = "ZJJ"
OTHERS = ["SWJ", "JTJ", "ZFJ", "HBJ", "YZQ"]
STAGES = [Stage.dispatched, Stage.signed, Stage.handling, Stage.handling, Stage.reopened, Stage.return_review,
          Stage.replied, Stage.callback]


def make_state(i: int, owner: str, now: datetime):
    """One open order as the read model holds it, varied by i (stage, urgency, lateness)."""
    created = now - timedelta(hours=3 * (i % 200), minutes=i % 60)
    st = new_order(f"SY{20261100000000 + i:014d}", created, owner, ("complaint", "help", "report")[i % 3],
                   "urgent" if i % 11 == 0 else "normal", f"第{i}号：小区旁边工地夜间施工噪音",
                   "小区旁边工地每天晚上十一点还在打桩，吵得睡不着，请尽快处理。" * 3, "JYQ", "王小明", "13800001234")
    st.stage = STAGES[i % len(STAGES)]
    st.dispatched_at = created + timedelta(seconds=10)
    late = i % 13 == 0
    base = now - timedelta(hours=2) if late else now + timedelta(hours=1 + i % 90)
    st.deadlines = Deadlines(sign_by=base, contact_by=base + timedelta(hours=2), reply_by=base + timedelta(days=3),
                             callback_by=base + timedelta(days=5), return_until=created + timedelta(hours=24))
    st.overdue = late
    if late:
        st.notices = [Notice(kind="supervision", at=now - timedelta(hours=1), to=owner, reason="超时未办理")]
    if st.stage == Stage.return_review:
        st.pending = PendingRequest(kind="return", by=owner, at=now - timedelta(hours=1),
                                    payload={"reason": "不属于本单位职责", "claimed_unit": "SWJ", "basis": "权责清单"})
    if owner != UNIT and i % 25 == 0:  # a co-handler task of the unit on another unit's order
        st.co_handlers = [CoHandlerState(unit=UNIT, task="配合现场核查", due=now + timedelta(days=1))]
    return st


def seed(db, n: int, now: datetime) -> None:
    rows = []
    for i in range(2 * n):
        owner = UNIT if i < n else OTHERS[i % len(OTHERS)]
        st = make_state(i, owner, now)
        rows.append({"order_no": st.order_no, **_state_values(st, 3)})
    with db.session() as s:
        s.execute(OrderRow.__table__.insert(), rows)


def timed(fn, runs: int) -> list[float]:
    for _ in range(20):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=500, help="open orders of the unit (as many of others)")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    header(f"console inbox: {args.orders} open orders of {UNIT}, {args.runs} renders each")
    from hotline.console import order_pages, web

    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        db = sqlite_database(Path(tmp))
        seed(db, args.orders, datetime.now(timezone.utc))
        account, password = create_account(db, "李明", f"department:{UNIT}", login="clerk")
        key = create_key(db, f"department:{UNIT}", label="bench")
        with TestClient(create_app(db, None, None)) as c:
            token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/console/login").text).group(1)
            assert c.post("/console/login", data={"login": "clerk", "password": password, "csrf_token": token},
                          follow_redirects=False).status_code == 303

            def api():
                r = c.get(f"/api/v1/orders?owner={UNIT}&limit=500", headers={"X-API-Key": key})
                assert r.status_code == 200 and len(r.json()["items"]) == min(args.orders, 500)

            def page():
                r = c.get("/console/inbox")
                assert r.status_code == 200 and f"共 {args.orders} 件未办结" in r.text

            who = web.Viewer(account, csrf="-", sid="-")  # the page header needs a viewer

            def whole():
                total, rows = order_pages.inbox_rows(db, UNIT, 0, args.orders)
                html = web.templates.get_template("inbox.html").render(
                    who=who, rows=rows, total=total, page=1, pages=1, sections=order_pages.SECTIONS,
                    tasks=order_pages.co_tasks(db, UNIT))
                assert html.count('href="/console/orders/SY') >= args.orders

            results = {name: timed(fn, args.runs) for name, fn in
                       (("baseline", api), ("page", page), ("whole", whole))}
        db.dispose()

    base = results["baseline"]
    print(f"{'':<54}{'p50':>9}{'p99':>9}{'ratio p50':>11}")
    for name, label in (("baseline", f"baseline: JSON API list, {min(args.orders, 500)} orders"),
                        ("page", "inbox page as served (GET /console/inbox, 50 rows)"),
                        ("whole", f"whole inbox, {args.orders} rows in one render")):
        v = results[name]
        print(f"{label:<54}{pct(v, 50) * 1000:>7.1f}ms{pct(v, 99) * 1000:>7.1f}ms"
              f"{pct(v, 50) / pct(base, 50):>10.2f}x")
    p99 = pct(results["page"], 99)
    print(f"target: the inbox of {args.orders} orders under 100 ms (page p99) -> {'OK' if p99 < 0.1 else 'MISSED'}; "
          f"unpaginated: {'OK' if pct(results['whole'], 50) < 0.1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
