"""Routing accuracy on the evaluation set (issue 5): top-1, top-3 and the confusions.

Run from the repository root:  python bench/routing_eval.py [path/to/eval.yaml]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from hotline.catalogue import default_catalogue_path, load_catalogue  # noqa: E402
from hotline.routing import Router  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "routing_eval.yaml"


def load_cases(path: Path = DEFAULT_SET) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def evaluate(router: Router, cases: list[dict]) -> dict:
    """Top-1/top-3 accuracy and the misses. Shared with tests/test_routing.py."""
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


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SET
    cases = load_cases(path)
    router = Router(load_catalogue(default_catalogue_path()))
    r = evaluate(router, cases)
    per_unit = Counter(c["expected"] for c in cases)
    print(f"cases: {r['n']} over {len(per_unit)} units")
    print(f"top-1 accuracy: {r['top1']:.1%}  (target >= 85%)")
    print(f"top-3 accuracy: {r['top3']:.1%}  (target >= 95%)")
    print("decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(r["decisions"].items())))
    print(f"confusions ({len(r['confusions'])}): expected -> got [top-3] text")
    for expected, got, top3, text in r["confusions"]:
        print(f"  {expected:>5} -> {str(got):<5} {top3}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
