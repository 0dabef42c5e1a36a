"""Routing speed (issue 5): route 1,000 requests on one core, against a baseline measured in the
same run — jieba segmentation alone of the same texts, which every route() does anyway.

Run from the repository root:  python bench/routing_speed.py [N]
Target: 1,000 requests in under 2 s. Building the router (loading jieba's dictionary and the
catalogue words) happens once per process and is reported separately.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from hotline.store.routing_models import make_router  # noqa: E402

EVAL_SET = ROOT / "tests" / "data" / "routing_eval.yaml"


def workload(n: int) -> list[tuple[str, str | None, str | None]]:
    """n requests cycled from the evaluation set, each made distinct by a suffix so that no
    cache anywhere can answer a repeat."""
    cases = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["cases"]
    out = []
    for i in range(n):
        c = cases[i % len(cases)]
        out.append((f"{c['text']}（来电{i}）", c.get("category"), c.get("district")))
    return out


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 1000
    try:
        import os

        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks
        cores = "1 (pinned)"
    except (AttributeError, OSError):
        cores = "1 (not pinned: no affinity API here)"

    t0 = time.perf_counter()
    router = make_router(learned=False)
    build = time.perf_counter() - t0
    requests = workload(n)
    # Warm both paths once so neither pays first-call costs inside the timing.
    router.route(*requests[0])
    router.segment(requests[0][0])

    t0 = time.perf_counter()
    for text, _cat, _district in requests:
        router.segment(text)
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    for text, cat, district in requests:
        router.route(text, cat, district)
    routing = time.perf_counter() - t0

    print(f"cores: {cores}")
    print(f"router build (once per process): {build:.3f} s")
    print(f"baseline, jieba segmentation alone of {n} texts: {baseline:.3f} s "
          f"({n / baseline:,.0f} texts/s)")
    print(f"routing {n} requests: {routing:.3f} s ({n / routing:,.0f} requests/s)  "
          f"target < 2 s per 1,000 -> {'OK' if routing * 1000 / n < 2 else 'MISSED'}")
    print(f"ratio routing / segmentation: {routing / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
