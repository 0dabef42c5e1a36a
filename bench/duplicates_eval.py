"""Duplicate-candidate quality (issue 18, 并单): precision and recall at the chosen threshold.

Run from the repository root:  python bench/duplicates_eval.py [path/to/eval.yaml]

The set (tests/data/duplicates_eval.yaml) groups reports by matter. Pairs: every two reports of
one matter are "same"; every two reports of different matters in one district are "different"
(only same-district open orders are ever candidates). Near misses are reported apart: same
place, different problem; same problem, different place.
Precision at 3: each report asks against all other reports of its district as if they were
open orders; of the candidates offered (at most 3, over the threshold), the share that are the
same matter.
"""
from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from hotline.domain.routing.router import Router  # noqa: E402
from hotline.services.duplicates import THRESHOLD, compare, signature  # noqa: E402
from hotline.store.routing_models import make_router  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "duplicates_eval.yaml"


def load_reports(path: Path = DEFAULT_SET) -> list[dict]:
    out = []
    for m in yaml.safe_load(path.read_text(encoding="utf-8"))["matters"]:
        for text in m["reports"]:
            out.append({"matter": m["id"], "district": m["district"], "place": m["place"],
                        "problem": m["problem"], "text": text})
    return out


def evaluate(router: Router, reports: list[dict], threshold: float = THRESHOLD) -> dict:
    """Pair precision/recall, near-miss false positives, precision at 3. Shared with the test."""
    sigs = [signature(router, r["text"], r["district"]) for r in reports]
    tp = fp = fn = tn = 0
    near = {"same_place": [0, 0], "same_problem": [0, 0]}  # [pairs, wrongly offered]
    scores: dict[tuple[int, int], float] = {}
    for i, j in combinations(range(len(reports)), 2):
        a, b = reports[i], reports[j]
        if a["district"] != b["district"]:
            continue
        score, _ = compare(sigs[i], sigs[j])
        scores[(i, j)] = scores[(j, i)] = score
        same, offered = a["matter"] == b["matter"], score >= threshold
        tp, fp = tp + (same and offered), fp + (not same and offered)
        fn, tn = fn + (same and not offered), tn + (not same and not offered)
        if not same and (a["place"] == b["place"]) != (a["problem"] == b["problem"]):
            kind = "same_place" if a["place"] == b["place"] else "same_problem"
            near[kind][0] += 1
            near[kind][1] += offered
    offered3 = right3 = 0
    for i, r in enumerate(reports):
        pool = sorted(((scores[(i, j)], j) for j in range(len(reports))
                       if j != i and (i, j) in scores and scores[(i, j)] >= threshold), reverse=True)[:3]
        offered3 += len(pool)
        right3 += sum(reports[j]["matter"] == r["matter"] for _, j in pool)
    return {"reports": len(reports), "same_pairs": tp + fn, "different_pairs": fp + tn,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "tp": tp, "fp": fp, "fn": fn, "near_misses": {k: tuple(v) for k, v in near.items()},
            "precision_at_3": right3 / offered3 if offered3 else 1.0, "offered_at_3": offered3}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SET
    router = make_router(learned=False)
    reports = load_reports(path)
    for t in sorted({0.4, THRESHOLD, 0.5, 0.55}):
        f = evaluate(router, reports, t)
        mark = "  <- chosen" if t == THRESHOLD else ""
        print(f"threshold {t:.2f}: precision {f['precision']:.3f} recall {f['recall']:.3f} "
              f"(tp {f['tp']} fp {f['fp']} fn {f['fn']}), precision@3 {f['precision_at_3']:.3f}{mark}")
    f = evaluate(router, reports)
    print(f"{f['reports']} reports, {f['same_pairs']} same-matter pairs, {f['different_pairs']} different-matter "
          f"pairs of one district")
    for kind, (n, wrong) in f["near_misses"].items():
        print(f"near misses ({kind.replace('_', ' ')}): {n} pairs, {wrong} offered as duplicates")


if __name__ == "__main__":
    main()
