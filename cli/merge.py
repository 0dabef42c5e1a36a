"""`starter.py merge|unmerge`: 并单 on the command line (issue 18), the same use cases as the API
(hotline/services/merging.py)."""
from __future__ import annotations

import json
from pathlib import Path


class MergeCliError(Exception):
    pass


def add_commands(sub) -> None:
    m = sub.add_parser("merge", help="merge a new request into an open order (并单) instead of dispatching it")
    m.add_argument("order_no", help="the open order of the same matter")
    m.add_argument("--file", required=True, help="the request as a JSON body for POST /api/v1/orders")
    m.add_argument("--note", default="", help="why it is the same matter")
    m.add_argument("--as", dest="actor", default="HOTLINE", help="admin:<name>, or HOTLINE (the default)")
    m.add_argument("--idempotency-key")
    m.set_defaults(handler=cmd_merge)
    u = sub.add_parser("unmerge", help="undo a wrong merge: the request becomes an order of its own")
    u.add_argument("order_no", help="the order the request was merged into")
    u.add_argument("request_no")
    u.add_argument("--reason", required=True)
    u.add_argument("--owner", help="the new order's owner; without it, routing suggests one")
    u.add_argument("--as", dest="actor", required=True, help="admin:<name>")
    u.set_defaults(handler=cmd_unmerge)


def _refusal(exc: Exception) -> MergeCliError:
    return MergeCliError(f"refused, nothing changed: {getattr(exc, 'message', None) or exc}")


async def cmd_merge(args) -> None:
    from pydantic import ValidationError

    from hotline.domain.models import IntakeRequest
    from hotline.services.merging import merge_request
    from hotline.services.port import ActionRefused, OrderNotFound
    from hotline.store.merges import MergeError
    from hotline.store.order_numbers import IdempotencyConflict, scoped_key
    from starter import _db, _pydantic, _work_orders
    try:
        req = IntakeRequest.model_validate(json.loads(Path(args.file).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise MergeCliError(f"{args.file}: {exc}") from None
    except ValidationError as exc:
        raise MergeCliError(_pydantic(exc)) from None
    try:
        ans = await merge_request(_db(), await _work_orders(), args.order_no, req, args.actor,
                                  scoped_key("cli", args.idempotency_key), args.note)
    except (ActionRefused, OrderNotFound, MergeError, IdempotencyConflict, ValidationError) as exc:
        raise _refusal(exc) from None
    st = ans.order
    print(f"request {ans.request_no} merged into order {ans.merged_into}: stage={st.stage.value} owner={st.owner} "
          f"co-petitioners={len(st.co_petitioners)}")


async def cmd_unmerge(args) -> None:
    from pydantic import ValidationError

    from hotline.services.intake import IntakeError
    from hotline.services.merging import unmerge_request
    from hotline.services.port import ActionRefused, OrderNotFound
    from hotline.store.merges import MergeError
    from starter import _db, _print_state, _router, _work_orders
    db = _db()
    try:
        st = await unmerge_request(db, await _work_orders(), _router(db), args.order_no, args.request_no, args.actor,
                                   args.reason, args.owner)
    except (ActionRefused, OrderNotFound, MergeError, IntakeError, ValidationError) as exc:
        raise _refusal(exc) from None
    print(f"request {args.request_no} taken out of order {args.order_no}; now an order of its own:")
    _print_state(st)
