"""Outbox dispatcher cost: enqueue N SMS rows on a file SQLite database and time
`OutboxDispatcher.run_once` until nothing is due (the SMS adapter only records, so this is
the database cost per row).

Run from the repository root:  python bench/outbox_bench.py [--rows 2000] [--limit 100]
`--module path/to/outbox.py` times another version of the module (e.g. a saved copy of the
old one) against the same workload.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotline.domain.contracts import NotificationRequest  # noqa: E402
from hotline.store import Database  # noqa: E402


def load_module(path: str | None):
    if path is None:
        import hotline.store.outbox as mod
        return mod
    spec = importlib.util.spec_from_file_location("outbox_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--module", help="outbox module file to time instead of hotline/store/outbox.py")
    args = ap.parse_args()
    mod = load_module(args.module)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        db = Database(f"sqlite:///{tmp}/hotline.db")
        db.migrate()
        with db.session() as s:
            for i in range(args.rows):
                mod.enqueue(s, NotificationRequest(key=f"bench:{i}", order_no=None, kind="contact",
                                                   to="petitioner", subject=f"#{i}",
                                                   petitioner_phone="13800001234"))
        sms = mod.LoggingSmsAdapter()
        d = mod.OutboxDispatcher(db, sms=sms)
        start, delivered, calls = time.perf_counter(), 0, 0
        while (n := d.run_once(limit=args.limit)) > 0:
            delivered, calls = delivered + n, calls + 1
        elapsed = time.perf_counter() - start
        db.dispose()
    assert delivered == args.rows == len(sms.sent), (delivered, len(sms.sent))
    print(f"{args.module or 'hotline/store/outbox.py'}: {delivered} SMS rows in {elapsed:.3f} s "
          f"({calls} run_once calls, limit {args.limit}; {elapsed / delivered * 1e6:.0f} µs/row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
