"""The retrain activity of the weekly schedule (issue 19): the same code as
`starter.py routing retrain` (hotline.services.routing_learning.retrain: train on the corpus plus the
corrections, promote only if not worse), returning what it decided for the workflow's history."""
from __future__ import annotations

from temporalio import activity

from hotline.store import Database


class RoutingRetrainActivities:
    def __init__(self, db: Database, store=None) -> None:
        self.db = db
        self.store = store  # None: the default model directory (as the CLI and the gateway)

    @activity.defn(name="retrain_routing_model")
    def retrain_routing_model(self) -> dict:
        from hotline.services.routing_learning import retrain
        from hotline.store.routing_models import ModelStore
        from hotline.store.units import catalogue_in_force

        rep = retrain(self.db, self.store or ModelStore(), catalogue_in_force(self.db))
        activity.logger.info("routing model %s %s (was %s)", rep["new"],
                             "promoted" if rep["promoted"] else "refused", rep["old"])
        return {k: list(v) if isinstance(v, tuple) else v for k, v in rep.items()}
