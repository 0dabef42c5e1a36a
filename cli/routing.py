"""`starter.py routing retrain|status`: the routing model's life on the command line (issue 19)."""
from __future__ import annotations


def add_commands(sub) -> None:
    r = sub.add_parser("routing", help="the routing classifier: retrain from corrections, status")
    rsub = r.add_subparsers(dest="routing_cmd", required=True)
    rsub.add_parser("retrain", help="retrain from the corpus plus corrections; promote if not worse")
    rsub.add_parser("status", help="the promoted model and the corrections recorded")
    rsub.add_parser("schedule", help="create the weekly retrain schedule if missing (./run.sh does it)")
    r.set_defaults(handler=cmd_routing)


def cmd_routing(args) -> None:
    if args.routing_cmd == "schedule":
        return _schedule()
    from hotline.services.routing_learning import corrections, retrain
    from hotline.store.routing_models import ModelStore
    from hotline.store.units import catalogue_in_force
    from starter import _db

    db, store = _db(), ModelStore()
    if args.routing_cmd == "status":
        print(f"model: {store.current_version() or 'none (trained at first use)'}  dir: {store.dir}")
        print(f"corrections recorded: {len(corrections(db))}")
        return
    rep = retrain(db, store, catalogue_in_force(db))
    print(f"corrections: {rep['corrections']} ({rep['harvested']} new from reviewed returns), "
          f"{rep['gate_corrections']} held back for the comparison; trained on {rep['trained_on']}")
    print(f"{'':8}{'held-out top-1':>16}{'top-3':>8}{'corrections top-1':>20}{'top-3':>8}")
    for name in ("old", "new"):
        h, c = rep[f"{name}_heldout"], rep[f"{name}_corrections"]
        print(f"{name} {str(rep[name])[:14]:<14}{h[0]:>8.1%}{h[1]:>8.1%}{c[0]:>20.1%}{c[1]:>8.1%}")
    print(f"promoted: {rep['new']}" if rep["promoted"] else f"kept: {rep['old']} (the new model is worse)")


def _schedule() -> None:
    """For a cluster set up without stack.py (compose): the same idempotent call."""
    import asyncio

    from hotline.runtime.settings import load_settings
    from workflows.connect import connect
    from workflows.routing_retrain import SCHEDULE_ID
    from workflows.setup import ensure_routing_retrain_schedule

    async def run() -> bool:
        settings = load_settings()
        return await ensure_routing_retrain_schedule(await connect(settings), settings.task_queue)

    print(f"schedule {SCHEDULE_ID}: {'created' if asyncio.run(run()) else 'already there'}")
