"""Routing accuracy (issue 5) and the learned dispatch (issue 19), in one run.

Run from the repository root:  python bench/routing_eval.py [path/to/eval.yaml]

1. The team's evaluation set (tests/data/routing_eval.yaml) with the evidence router.
2. The held-out set of issue 19 (hotline/data/routing/heldout.jsonl, never trained on) with the
   evidence router and the blended router (the base model of the shipped corpus): top-1/top-3
   overall, on the hard subset and per unit; "clear owner" decisions and how many were wrong;
   the most frequent mistakes of each.
3. 1,000 routings of held-out texts on one core with each router (goal: under 2 s).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from hotline.domain.routing.router import Router  # noqa: E402
from hotline.store.routing_models import make_router  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "routing_eval.yaml"


def load_cases(path: Path = DEFAULT_SET) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def evaluate(router: Router, cases: list[dict]) -> dict:
    """Top-1/top-3 accuracy and the misses. Shared with tests/domain/test_routing.py."""
    top1 = top3 = 0
    confusions = []
    decisions: Counter = Counter()
    for case in cases:
        result = router.route(case["text"], case.get("category"), case.get("district"))
        ranked = [c.unit for c in result.candidates]
        decisions[result.decision] += 1
        if ranked[:1] == [case["expected"]]:
            top1 += 1
        else:
            confusions.append((case["expected"], ranked[0] if ranked else None, ranked[:3],
                               case["text"]))
        if case["expected"] in ranked[:3]:
            top3 += 1
    n = len(cases)
    return {"n": n, "top1": top1 / n, "top3": top3 / n, "confusions": confusions,
            "decisions": dict(decisions)}


def heldout_figures(router: Router, rows: list[dict]) -> dict:
    per_unit: dict[str, list[int]] = {}
    mistakes: Counter = Counter()
    top1 = top3 = hard = hard1 = hard3 = clear = wrong_clear = 0
    for r in rows:
        res = router.route(r["text"], r["category"], r["district"])
        ranked = [c.unit for c in res.candidates]
        ok1, ok3 = ranked[:1] == [r["unit"]], r["unit"] in ranked[:3]
        top1, top3 = top1 + ok1, top3 + ok3
        if r["kind"] != "plain":
            hard, hard1, hard3 = hard + 1, hard1 + ok1, hard3 + ok3
        u = per_unit.setdefault(r["unit"], [0, 0, 0])
        u[0], u[1], u[2] = u[0] + 1, u[1] + ok1, u[2] + ok3
        clear += res.decision == "clear_owner"
        wrong_clear += res.decision == "clear_owner" and not ok1
        if not ok1:
            mistakes[(r["unit"], ranked[0] if ranked else "-")] += 1
    n = len(rows)
    return {"n": n, "top1": top1 / n, "top3": top3 / n, "hard": hard, "hard1": hard1 / hard,
            "hard3": hard3 / hard, "clear": clear, "wrong_clear": wrong_clear,
            "per_unit": per_unit, "mistakes": mistakes}


def speed(router: Router, rows: list[dict], n: int = 1000) -> float:
    """Seconds for n routings of held-out texts, each made distinct so no cache answers."""
    work = [(f"{rows[i % len(rows)]['text']}（{i}）", rows[i % len(rows)]["category"],
             rows[i % len(rows)]["district"]) for i in range(n)]
    router.route(*work[0])  # jieba's dictionary and the model's scorer load once per process
    start = time.perf_counter()
    for w in work:
        router.route(*w)
    return time.perf_counter() - start


def learned(catalogue):
    from hotline.services.routing_learning import _Fixed
    from hotline.store.routing_models import base_model
    model = base_model()
    return make_router(catalogue=catalogue, models=_Fixed(model)), model.version


def report_heldout(catalogue) -> None:
    from hotline.domain.routing.model import corpus_rows
    rows = corpus_rows("heldout.jsonl")
    blended, version = learned(catalogue)
    routers = {"evidence": make_router(catalogue=catalogue, learned=False), "blended": blended}
    figs = {k: heldout_figures(r, rows) for k, r in routers.items()}
    e, b = figs["evidence"], figs["blended"]
    print(f"\nheld-out set: {e['n']} requests, {e['hard']} hard; model {version}")
    print(f"{'':10}{'top-1':>8}{'top-3':>8}{'hard top-1':>12}{'hard top-3':>12}{'clear owner':>13}{'wrong':>7}")
    for k, f in figs.items():
        print(f"{k:10}{f['top1']:>8.1%}{f['top3']:>8.1%}{f['hard1']:>12.1%}{f['hard3']:>12.1%}"
              f"{f['clear']:>13}{f['wrong_clear']:>7} ({f['wrong_clear'] / f['n']:.2%})")
    print("\nper unit (top-1 evidence / blended, top-3 blended):")
    for unit in sorted(b["per_unit"]):
        n, b1, b3 = b["per_unit"][unit]
        print(f"  {unit:>5} n={n:<3} {e['per_unit'][unit][1] / n:>6.0%} {b1 / n:>6.0%} {b3 / n:>6.0%}")
    for k, f in figs.items():
        common = ", ".join(f"{exp}->{got} x{c}" for (exp, got), c in f["mistakes"].most_common(8))
        print(f"most frequent mistakes, {k}: {common}")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    for k, r in routers.items():
        print(f"1,000 routings on one core, {k}: {speed(r, rows):.2f} s (goal < 2 s)")


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SET
    cases = load_cases(path)
    router = make_router(learned=False)
    r = evaluate(router, cases)
    per_unit = Counter(c["expected"] for c in cases)
    print(f"cases: {r['n']} over {len(per_unit)} units")
    print(f"top-1 accuracy: {r['top1']:.1%}  (target >= 85%)")
    print(f"top-3 accuracy: {r['top3']:.1%}  (target >= 95%)")
    print("decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(r["decisions"].items())))
    print(f"confusions ({len(r['confusions'])}): expected -> got [top-3] text")
    for expected, got, top3, text in r["confusions"]:
        print(f"  {expected:>5} -> {str(got):<5} {top3}  {text}")
    report_heldout(router.catalogue)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
