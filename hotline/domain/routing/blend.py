"""The evidence router with the classifier's second opinion blended in (issue 19).

The evidence (responsibility entries and the words that matched) stays what the operator and
the return reviewer read; the classifier may reorder the candidates, add a unit the lists did
not match, lower a "clear owner" to "nearest duty" when it disagrees, and ask the operator to
choose when the top two are close. Each candidate carries a confidence (the blended, calibrated
probability) and the answer names the model version. Without a model the router answers from
the evidence alone and says so.
"""
from __future__ import annotations

from typing import Protocol

from hotline.domain.catalogue import Catalogue
from hotline.domain.routing.model import DISTRICT, RoutingModel
from hotline.domain.routing.results import Candidate, RoutingResult
from hotline.domain.routing.router import Router

MODEL_WEIGHT = 0.65  # share of the classifier in the blend (tune_blend.py)
CHOOSE_MARGIN = 0.12  # top two closer than this: "please choose"
MODEL_ALONE = 0.45  # with no list matched, the model routes by itself above this confidence
CLEAR_AGREE = 0.85  # a clear owner stays clear only if the model gives it at least this
CLEAR_MARGIN = 0.0  # ... and the blended top leads the second by this (tried; not needed)
MODEL_EXTRA = 0.08  # a unit the lists did not match is listed from this confidence on
POOL = 8  # evidence candidates considered before the blend


class ModelSource(Protocol):
    def active(self) -> RoutingModel | None: ...


class LearnedRouter(Router):
    def __init__(self, catalogue: Catalogue, models: ModelSource | None):
        super().__init__(catalogue)
        self.models = models

    def model(self) -> RoutingModel | None:
        try:
            return self.models.active() if self.models is not None else None
        except Exception:  # a broken model file must not stop intake: evidence only
            return None

    def route(self, text: str, category: str | None = None, district: str | None = None,
              limit: int = 5) -> RoutingResult:
        base = super().route(text, category, district, limit=max(limit, POOL))
        model = self.model()
        if model is None:
            return evidence_only(base, limit)
        return blend(self, base, model.predict(text, category), model.version, limit)


def evidence_only(base: RoutingResult, limit: int) -> RoutingResult:
    return base.model_copy(update={
        "candidates": base.candidates[:limit],
        "explanation": base.explanation + "（未加载分类模型：仅按权责清单判断。）",
    })


def _unit_probs(router: Router, probs: dict[str, float], district: str | None) -> dict[str, float]:
    """Label probabilities as unit probabilities: DISTRICT is the government of the district
    (unknown district: nobody; the evidence's fallback covers that case)."""
    out = {k: v for k, v in probs.items() if k != DISTRICT}
    gov = router.catalogue.district_government(district) if district else None
    if gov is not None:
        out[gov.code] = out.get(gov.code, 0.0) + probs.get(DISTRICT, 0.0)
    return out


def blend(router: Router, base: RoutingResult, probs: dict[str, float], version: str,
          limit: int) -> RoutingResult:
    model_p = _unit_probs(router, probs, base.district)
    evidence = {c.unit: c for c in base.candidates}
    if base.decision == "district_fallback":
        ev = {base.candidates[0].unit: 1.0}
    else:
        total = sum(c.score for c in base.candidates if not c.fallback) or 1.0
        ev = {c.unit: c.score / total for c in base.candidates if not c.fallback}
    if base.decision == "district_fallback" or not base.candidates:
        weight = MODEL_WEIGHT if max(model_p.values(), default=0) >= MODEL_ALONE else 0.2
    else:
        weight = MODEL_WEIGHT
    model_top = max(model_p, key=lambda u: model_p[u]) if model_p else None
    units = set(ev) | {u for u, p in model_p.items() if p >= MODEL_EXTRA} | {
        c.unit for c in base.candidates if c.fallback} | ({model_top} if model_top else set())
    conf = {u: weight * model_p.get(u, 0.0) + (1 - weight) * ev.get(u, 0.0) for u in units}
    norm = sum(conf.values()) or 1.0
    conf = {u: p / norm for u, p in conf.items()}
    ranked = sorted(conf, key=lambda u: (-conf[u], u))
    site = base.candidates[0] if base.candidates else None
    if site is not None and base.decision == "nearest_duty" and any(
            e.matched_places for e in site.matched_entries[:1]):
        # The nearest-duty principle at a named project site is a rule, not a guess: the
        # unit whose project is there stays first; the model may reorder the rest.
        ranked.remove(site.unit)
        ranked.insert(0, site.unit)
    candidates = [_candidate(router, evidence.get(u), u, conf[u], model_p.get(u, 0.0))
                  for u in ranked[:limit]]
    return _decide(base, candidates, model_top, model_p, version)


def _candidate(router: Router, ev: Candidate | None, unit: str, conf: float, p: float) -> Candidate:
    if ev is not None:
        return ev.model_copy(update={"confidence": round(conf, 4)})
    u = router.catalogue.unit(unit)
    return Candidate(unit=unit, name=u.name, score=0.0, matched_entries=[],
                     confidence=round(conf, 4),
                     reason=f"权责清单无词语直接匹配；分类模型判断{u.name}相关（模型概率{p:.0%}）。")


def _decide(base: RoutingResult, cands: list[Candidate], model_top: str | None,
            model_p: dict[str, float], version: str) -> RoutingResult:
    top = cands[0]
    tag = f"分类模型{version}"
    close = len(cands) > 1 and (top.confidence or 0) - (cands[1].confidence or 0) < CHOOSE_MARGIN
    notes: list[str] = []
    decision = base.decision
    explanation = base.explanation
    base_top = base.candidates[0].unit if base.candidates else None
    if base.decision == "clear_owner":
        lead = (top.confidence or 0) - (cands[1].confidence or 0 if len(cands) > 1 else 0)
        if (model_top != base_top or top.unit != base_top or close
                or model_p.get(base_top, 0.0) < CLEAR_AGREE or lead < CLEAR_MARGIN):
            decision = "nearest_duty"
            who = cands[0] if top.unit != base_top else next(
                (c for c in cands if c.unit == model_top), cands[0])
            notes.append(f"{tag}与权责清单意见不一致（模型倾向{who.name}，"
                         f"{model_p.get(who.unit, 0):.0%}），不认定明确责任单位，改按就近原则")
    elif base.decision == "district_fallback":
        if top.unit != base_top:
            decision = "nearest_duty"
            notes.append(f"权责清单未匹配；{tag}判断最可能是{top.name}（置信度{top.confidence:.0%}），"
                         "按就近原则建议派给该单位，请话务员核实")
    elif top.unit != base_top and base_top is not None:
        notes.append(f"{tag}将{top.name}排在首位（置信度{top.confidence:.0%}）")
    if close:
        notes.append(f"请话务员选择：{top.name}（{top.confidence:.0%}）与{cands[1].name}"
                     f"（{cands[1].confidence:.0%}）接近")
    if not notes:
        notes.append(f"{tag}意见一致（置信度{top.confidence:.0%}）")
    return base.model_copy(update={
        "candidates": cands, "decision": decision, "model_version": version,
        "please_choose": close, "explanation": explanation + "；".join(notes) + "。",
    })
