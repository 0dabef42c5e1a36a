"""Routing activity: the return-review recommendation from the responsibility lists (SPEC §6)."""
from __future__ import annotations

from temporalio import activity

from hotline.domain.contracts import ReturnRecommendation, ReturnRecommendationRequest
from hotline.domain.routing.router import Router


class RoutingActivities:
    def __init__(self, router: Router) -> None:
        self.router = router

    @activity.defn(name="recommend_return")
    def recommend_return(self, req: ReturnRecommendationRequest) -> ReturnRecommendation:
        try:
            rec = self.router.recommend_return(req.requesting_unit, req.claimed_unit, req.text,
                                               req.category, req.district)
        except ValueError as exc:
            # A unit the catalogue does not know cannot take the order: retrying cannot help.
            return ReturnRecommendation(decision="reject", reason=f"无法核对权责清单：{exc}",
                                        evidence={"error": str(exc)})
        return ReturnRecommendation(decision=rec.decision, reason=rec.reason,
                                    evidence=_jsonable(rec.evidence))


def _jsonable(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
