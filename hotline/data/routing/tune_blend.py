"""Choose the blend's weights on a validation slice of the TRAINING corpus (issue 19).

    python hotline/data/routing/tune_blend.py

The slice is one request family in seven (a hash of the training snippet the row was made
from, so frames and typos of one snippet never sit on both sides); the model is trained on the
other six and every weight combination is scored on the slice. Top-1 is read on request-like
rows only (the catalogue-keyword rows are lists, not calls), with hard rows counted as a third,
the mix the held-out set is specified to have. Among the combinations within a fifth of a point
of the best, the fewest wrong "clear owner" decisions wins. The held-out set is not read here.
"""
from __future__ import annotations

import hashlib
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from hotline.data.routing.phrases_train import NO_KEYWORD, SNIPPETS  # noqa: E402
from hotline.domain.routing import blend as rb  # noqa: E402
from hotline.domain.routing.model import corpus_rows, train  # noqa: E402
from hotline.domain.routing.router import Router  # noqa: E402
from hotline.store.routing_models import make_router  # noqa: E402

GRID = {"MODEL_WEIGHT": [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8],
        "CLEAR_AGREE": [0.65, 0.75, 0.85, 0.9, 0.95], "CLEAR_MARGIN": [0.0, 0.2, 0.4]}
TOP1_SLACK = 0.002
SNIPS = sorted({s for lst in [*SNIPPETS.values(), *NO_KEYWORD.values()] for s in lst}, key=len, reverse=True)


def family(row: dict) -> str:
    """The training snippet a row was made from (its own text for catalogue keyword rows)."""
    return next((s for s in SNIPS if s in row["text"]), row["text"])


def split(rows: list[dict], every: int = 7) -> tuple[list[dict], list[dict]]:
    val = [r for r in rows if int(hashlib.sha256(family(r).encode()).hexdigest(), 16) % every == 0]
    ids = {id(r) for r in val}
    return [r for r in rows if id(r) not in ids], val


def score(router: Router, cached: list[tuple], params: dict) -> dict:
    for k, v in params.items():
        setattr(rb, k, v)
    top1 = top3 = clear = wrong = 0
    for row, base, probs in cached:
        res = rb.blend(router, base, probs, "tune", 5)
        ranked = [c.unit for c in res.candidates]
        top1 += ranked[:1] == [row["unit"]]
        top3 += row["unit"] in ranked[:3]
        clear += res.decision == "clear_owner"
        wrong += res.decision == "clear_owner" and ranked[0] != row["unit"]
    n = len(cached) or 1
    return {"top1": top1 / n, "top3": top3 / n, "clear": clear / n, "wrong_clear": wrong / n}


def objective(router: Router, cached: list[tuple], params: dict) -> dict:
    plain = [c for c in cached if c[0]["source"] == "template" and c[0]["kind"] == "plain"]
    hard = [c for c in cached if c[0]["kind"] not in ("plain", "catalogue")]
    out = score(router, cached, params)
    out["mix_top1"] = (2 * score(router, plain, params)["top1"] + score(router, hard, params)["top1"]) / 3
    return out


def main() -> int:
    fit, val = split(corpus_rows())
    model = train(fit)
    router = make_router(learned=False)
    cached = [(r, router.route(r["text"], r["category"], r["district"], limit=rb.POOL),
               model.predict(r["text"], r["category"])) for r in val]
    print(f"fit on {len(fit)} rows, validation slice {len(val)} rows")
    results = []
    for combo in itertools.product(*GRID.values()):
        params = dict(zip(GRID, combo, strict=True))
        results.append((params, objective(router, cached, params)))
    best = max(s["mix_top1"] for _, s in results)
    ok = [x for x in results if x[1]["mix_top1"] >= best - TOP1_SLACK]
    # Precision first: among the best top-1, the fewest wrong clear owners; then the most clear
    # owners (each one spares an operator a choice); then the smallest thresholds.
    pick = min(ok, key=lambda x: (round(x[1]["wrong_clear"], 4), -x[1]["clear"],
                                  x[0]["CLEAR_AGREE"], x[0]["CLEAR_MARGIN"]))
    for params, s in sorted(ok, key=lambda x: (x[1]["wrong_clear"], -x[1]["clear"]))[:12]:
        print(params, {k: f"{v:.1%}" for k, v in s.items()})
    print("pick:", pick[0], {k: f"{v:.1%}" for k, v in pick[1].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
