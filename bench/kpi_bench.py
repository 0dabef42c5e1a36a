"""KPI report speed (issue 7): the full report over 1,000,000 orders on PostgreSQL, under 2 s.

Run from the repository root:  python bench/kpi_bench.py [--orders 1000000] [--runs 5]
Uses DATABASE_URL if it names a PostgreSQL database (its KPI tables must be empty), else
starts a throw-away PostgreSQL cluster from Debian's server binaries in a temporary folder
(as the test suite does) and removes it afterwards.

The data: two years of orders (the default ends 2026-11-01), generated inside PostgreSQL with
generate_series, with the shares the simulator uses: a dispatch per order plus redispatches
after approved returns, ~2.5% return requests (fewer and less often rejected in the second
year), callbacks for ~88% of replies, criticisms and referrals in the ledger. The audit log
(`actions`) is left empty: no KPI reads it. `hotline.simulation.scenario` writes the same tables with
full lifecycles, but at ~1,500 orders a second it would take ten minutes to reach a million.
After loading, VACUUM ANALYZE does at once what autovacuum does within minutes in production:
statistics, and the visibility map that lets the KPI indexes answer without the tables.

Measured, each the median of --runs after one warm-up run:
  * the full report (`hotline.reporting.kpi.build_report`: every KPI for the period and last year's,
    the per-unit ranking, the monthly invalid returns) for one month — the monthly briefing —
    and for a whole year (half of all orders in the period, the other half in last year's);
  * baseline in the same run: `SELECT count(*) FROM orders`, the cheapest question one can ask
    of the million orders; the ratio report / count says what the report costs beyond it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from hotline.domain.catalogue import default_catalogue_path, load_catalogue  # noqa: E402
from hotline.reporting.kpi import build_report  # noqa: E402
from hotline.store import Database  # noqa: E402
from hotline.store.units import import_catalogue  # noqa: E402

# owners weighted as in hotline.simulation.scenario (district governments and the busy bureaus most)
OWNERS = ["YZQ"] * 7 + ["TYQ"] * 9 + ["JYQ"] * 10 + ["HTQ"] * 5 + ["YCQ"] * 3 + ["ZJJ"] * 9 + ["JTJ"] * 7 + \
    ["SWJ"] * 5 + ["ZFJ"] * 8 + ["HBJ"] * 4 + ["SJJ"] * 8 + ["LWJ"] * 5 + ["GAJ"] * 5 + ["ZRJ"] * 3 + \
    ["WJW"] * 4 + ["JYJ"] * 4 + ["RSJ"] * 5 + ["MZJ"] * 3 + ["YLJ"] * 5 + ["GDJ"] * 3 + ["JTTZ"] * 2

LOAD = [
    "SELECT setseed(0.2021)",
    # orders: created evenly over the two years (+ jitter), replied within 0.2-6 days unless too recent
    """INSERT INTO orders (order_no, workflow_id, stage, owner, category, urgency, channel, title, district,
        petitioner_name, petitioner_phone, created_at, dispatched_at, signed_at, replied_at, reply_by,
        replied_on_time, resolved, closed_at, close_reason, overdue, reopens, return_count, extension_days,
        state, last_seq, updated_at)
    SELECT no, 'order-' || no, CASE WHEN replied THEN 'closed' ELSE 'handling' END, owner,
        (ARRAY['consultation','help','complaint','report','suggestion'])[1 + floor(random() * 5)::int],
        'normal', 'phone', '测试工单', NULL, '王先生', '13800001234', created, created + interval '10 s',
        created + interval '10 s' + sign_delay, CASE WHEN replied THEN created + handling END,
        created + interval '5 days', CASE WHEN replied THEN random() < 0.92 END,
        CASE WHEN replied THEN random() < 0.88 END,
        CASE WHEN replied THEN created + handling + interval '1 day' END, CASE WHEN replied THEN 'resolved' END,
        false, 0, 0, 0,
        json_build_object('order_no', no, 'owner', owner, 'stage', CASE WHEN replied THEN 'closed' ELSE 'handling' END,
                          'title', '测试工单', 'actions', json_build_array()),
        8, created + handling
    FROM (SELECT 'SY' || lpad(i::text, 14, '0') AS no, owner, created, sign_delay, handling,
                 created + handling < :end_at AS replied
          FROM (SELECT i, (:owners)[1 + floor(random() * cardinality(:owners))::int] AS owner,
                       :start_at + (i::float8 / :n) * (:end_at - :start_at) + random() * interval '1 hour' AS created,
                       -ln(1 - random()) * interval '30 min' AS sign_delay,
                       (0.2 + random() * 5.8) * interval '1 day' AS handling
                FROM generate_series(1, :n) AS i) g) o""",
    """INSERT INTO dispatches (order_no, seq, unit_code, dispatched_at, sign_by, signed_at, signed_on_time)
    SELECT order_no, 2, owner, dispatched_at, dispatched_at + interval '2 h', signed_at,
           signed_at <= dispatched_at + interval '2 h' FROM orders""",
    # return requests: 3% of orders before the reform, 1.9% after; rejected 62% → 40%
    """INSERT INTO return_requests (order_no, seq, unit_code, claimed_unit, reason, basis, requested_at,
        recommendation, decision, reviewer, review_reason, reviewed_at)
    SELECT order_no, 4, owner, 'ZJJ', '不属于本单位职责', '权责清单', signed_at + interval '1 h', '{}',
           CASE WHEN random() < CASE WHEN after THEN 0.40 ELSE 0.62 END THEN 'reject' ELSE 'approve' END,
           'admin:bench', '审核', signed_at + interval '4 h'
    FROM (SELECT *, created_at >= :reform AS after FROM orders) o
    WHERE random() < CASE WHEN after THEN 0.019 ELSE 0.03 END""",
    """INSERT INTO dispatches (order_no, seq, unit_code, dispatched_at, sign_by, signed_at, signed_on_time)
    SELECT order_no, 6, claimed_unit, reviewed_at, reviewed_at + interval '2 h', reviewed_at + interval '20 min', true
    FROM return_requests WHERE decision = 'approve'""",
    """INSERT INTO callbacks (order_no, seq, unit_code, at, answered, resolved, satisfaction, unrated)
    SELECT order_no, 12, owner, replied_at + random() * interval '6 h', r < 0.88,
           CASE WHEN r < 0.88 THEN random() < 0.85 END,
           CASE WHEN r >= 0.88 THEN NULL WHEN s < 0.72 THEN 'satisfied' WHEN s < 0.9 THEN 'basically_satisfied'
                ELSE 'dissatisfied' END, r >= 0.88
    FROM (SELECT order_no, owner, replied_at, random() AS r, random() AS s FROM orders
          WHERE replied_at IS NOT NULL) o""",
    """INSERT INTO supervision_events (key, unit_code, year, kind, at, order_no, detail)
    SELECT 'bench:' || kind || ':' || id, unit_code, extract(year FROM reviewed_at)::int, kind, reviewed_at,
           order_no, '{}'
    FROM (SELECT id, unit_code, reviewed_at, order_no,
                 CASE WHEN id % 20 = 0 THEN 'referral' ELSE 'criticism' END AS kind
          FROM return_requests WHERE decision = 'reject' AND id % 2 = 0) r""",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres() -> tuple[str, callable]:
    """A throw-away cluster as tests/conftest.py starts one; returns (url, stop)."""
    found = shutil.which("pg_ctl")
    bindir = (str(Path(os.path.realpath(found)).parent) if found
              else sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
    base = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
        for parent in base.parents:
            if str(parent) in ("/", tempfile.gettempdir()):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    port = free_port()
    subprocess.run(prefix + [f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--locale=C"], check=True, capture_output=True)
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                             f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                             "-c shared_buffers=256MB -c max_wal_size=4GB", "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    admin = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE hotline_bench"))
    admin.dispose()
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/hotline_bench", stop


def load(db: Database, n: int) -> float:
    t0 = time.perf_counter()
    params = {"n": n, "owners": OWNERS, "start_at": "2024-11-01T00:00:00+08:00", "end_at": "2026-11-01T00:00:00+08:00",
              "reform": "2025-11-01T00:00:00+08:00"}
    with db.engine.begin() as conn:
        for sql in LOAD:
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            sql = sql.replace(":start_at", "CAST(:start_at AS timestamptz)").replace(
                ":end_at", "CAST(:end_at AS timestamptz)").replace(":reform", "CAST(:reform AS timestamptz)")
            conn.execute(text(sql), used)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0


def timed(fn, runs: int) -> float:
    fn()  # warm-up: connections, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="leave the throw-away cluster running (prints its URL)")
    args = ap.parse_args(argv[1:])
    url, stop = os.environ.get("DATABASE_URL"), None
    if not url or not url.startswith("postgresql"):
        url, stop = start_postgres()
    try:
        db = Database(url)
        db.migrate()
        with db.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM orders")).scalar():
                print("error: the database already holds orders; point DATABASE_URL at an empty one", file=sys.stderr)
                return 2
        import_catalogue(db, load_catalogue(default_catalogue_path()))
        print(f"loading {args.orders:,} orders into PostgreSQL ...", flush=True)
        seconds = load(db, args.orders)
        with db.engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("orders", "dispatches", "return_requests", "callbacks", "supervision_events")}
            version = conn.execute(text("SHOW server_version")).scalar()
        print(f"loaded in {seconds:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

        def count() -> None:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM orders")).scalar()

        baseline = timed(count, args.runs)
        month = timed(lambda: build_report(db, "2026-10-01", "2026-11-01"), args.runs)
        year = timed(lambda: build_report(db, "2025-11-01", "2026-11-01"), args.runs)
        unit = timed(lambda: build_report(db, "2025-11-01", "2026-11-01", unit="ZJJ"), args.runs)
        r = build_report(db, "2025-11-01", "2026-11-01")
        inv = r["kpis"]["invalid_returns"]
        load1 = os.getloadavg()[0]
        print(f"PostgreSQL {version}, {os.cpu_count()} CPUs (load average {load1:.1f} during the runs), "
              f"median of {args.runs} runs after a warm-up")
        print(f"  baseline SELECT count(*) FROM orders   {baseline:7.3f} s")
        for label, t in (("report, one month (2026-10)", month), ("report, one year (2025-11..2026-10)", year),
                         ("report, one year, unit ZJJ", unit)):
            verdict = "OK" if t < 2 else "OVER the 2 s target"
            print(f"  {label:<38} {t:7.3f} s   ×{t / baseline:5.1f} the count   {verdict}")
        print(f"  (year report: {inv['value']:,} invalid returns vs {inv['last_year']:,} last year, "
              f"YoY {inv['yoy'] * 100:+.0f}%)")
        db.dispose()
        return 0 if max(month, year, unit) < 2 else 1
    finally:
        if stop and not args.keep:
            stop()
        elif stop:
            print(f"kept running: DATABASE_URL={url}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
