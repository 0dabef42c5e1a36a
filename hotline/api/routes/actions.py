"""Department and hotline actions: one route each, with the action's typed body, mapped one to
one onto the work-order workflow's updates. The acting party (`by`) always comes from the API
key, never from the body.

`act` is the one path to a workflow update: the routes here and the web console
(`app.state.act`, hotline/console) both go through it, with the same checks.
"""
# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime,
# and the body types are local to the function that makes each route.
from typing import Any, Callable

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, create_model
from sqlalchemy import select

from hotline.api.auth import principal
from hotline.api.deps import get_work_orders
from hotline.api.errors import ApiError, reject_nul
from hotline.api.params import OrderNo
from hotline.api.visibility import read_order, view
from hotline.domain import transitions
from hotline.domain.bounds import action_date_problem
from hotline.domain.models import ACTION_MODELS, OrderState, Stage, Strict
from hotline.services.port import ActionRefused, OrderNotFound
from hotline.store import Database
from hotline.store.apikeys import Principal
from hotline.store.tables import UnitRow

router = APIRouter(tags=["actions"])
# The catch-all for unknown actions, included after every other /api/v1/orders/{no}/... route.
fallback = APIRouter()


def _body_model(action: str, model: type[BaseModel]) -> type[BaseModel]:
    """The action's update payload without `by` (the acting party comes from the API key)."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n != "by"}
    name = "".join(p.capitalize() for p in action.split("-")) + "Body"
    return create_model(name, __base__=Strict, __doc__=f"body of `{action}`", **fields)


ACTION_BODIES: dict[str, type[BaseModel]] = {a: _body_model(a, m) for a, m in ACTION_MODELS.items()}


def _check_units(db: Database, action: str, data: dict) -> None:
    """Units named in a body must exist in the registry and be able to take work (not HOTLINE)."""
    named = {"return-request": [("claimed_unit", data.get("claimed_unit"))],
             "return-review": [("new_owner", data.get("new_owner"))],
             "coordination-plan": [(f"co_handlers.{i}.unit", c["unit"])
                                   for i, c in enumerate(data.get("co_handlers") or [])]}.get(action, [])
    named = [(f, v) for f, v in named if v is not None]
    if not named:
        return
    with db.session() as s:
        kinds = dict(s.execute(select(UnitRow.code, UnitRow.type)).all())
    for field, code in named:
        if kinds.get(code) in (None, "hotline"):
            raise ApiError(422, f"{field}: {code!r} is not a unit that can take work orders")


def _check_dates(body: BaseModel | None) -> None:
    """Dates of a body within their window, before the workflow does any arithmetic with them."""
    problem = action_date_problem(body)
    if problem:
        raise ApiError(422, problem)


def _actor_check(action: str) -> Callable:
    admin = action in transitions.ADMIN_ACTIONS

    def dep(p: Principal = Depends(principal)) -> Principal:
        if admin and p.role != "admin":
            raise ApiError(403, f"only the hotline office (an admin key) may {action}")
        if not admin and p.role != "department":
            raise ApiError(403, f"{action} is a department action; use the unit's department key")
        return p
    return dep


async def act(order_no: str, action: str, body: BaseModel | None, p: Principal, request: Request) -> OrderState:
    """Check the action against the read model, then send it to the order's workflow."""
    db: Database = request.app.state.db
    data = body.model_dump() if body is not None else {}
    reject_nul(data)
    _check_units(db, action, data)
    _check_dates(body)
    payload = ACTION_MODELS[action].model_validate({**data, "by": p.actor})
    work_orders = get_work_orders(request)
    current = read_order(db, order_no)
    if current.stage == Stage.closed:
        raise ApiError(409, f"order {order_no} is closed ({current.close_reason}); it takes no more actions")
    # Who may act, from the read model: the workflow's validator checks it again, against
    # the order as it is when the action gets its turn.
    if p.role == "department":
        if transitions.TABLE[action].actor == "co_handler":
            allowed, who = {c.unit for c in current.co_handlers}, "a co-handler"
        else:
            allowed, who = {current.owner}, f"the owner ({current.owner})"
        if p.unit not in allowed:
            raise ApiError(403, f"{p.unit} may not {action} order {order_no}: only {who} may")
    try:
        st = await work_orders.act(order_no, action, payload)
    except ActionRefused as exc:
        raise ApiError(403 if exc.kind == "Forbidden" else 409, exc.message) from None
    except OrderNotFound:
        raise ApiError(404, f"order {order_no} not found") from None
    return view(p, st)


def _add_action_route(action: str) -> None:
    body_model = ACTION_BODIES[action]
    t = transitions.TABLE[action]
    who = {"owner": "the owner's department key", "co_handler": "a co-handler's department key",
           "admin": "an admin key"}[t.actor]
    stages = ", ".join(sorted(s.value for s in t.from_stages))
    doc = (f"`{action}` — {t.note}. Needs {who}. Allowed in stages: {stages}. "
           "Refused by the workflow's validator → 409 with its message (403 when forbidden); nothing changes.")
    check = _actor_check(action)
    path = f"/api/v1/orders/{{order_no}}/{action}"
    # The body's type is made at runtime (ACTION_BODIES), which a type checker cannot follow.
    async def optional_body(request: Request, order_no: OrderNo, p: Principal = Depends(check),
                            body: body_model | None = Body(default=None)) -> OrderState:  # type: ignore[valid-type]
        return await act(order_no, action, body, p, request)

    async def required_body(request: Request, order_no: OrderNo, body: body_model,  # type: ignore[valid-type]
                            p: Principal = Depends(check)) -> OrderState:
        return await act(order_no, action, body, p, request)

    endpoint = required_body if body_model.model_fields else optional_body  # sign: absent or {}
    router.add_api_route(path, endpoint, methods=["POST"], response_model=OrderState,
                         summary=f"{action} ({t.note.split(',')[0]})", description=doc,
                         name=action.replace("-", "_"))


for _action in ACTION_MODELS:
    _add_action_route(_action)


@fallback.post("/api/v1/orders/{order_no}/{action}", include_in_schema=False)
async def unknown_action(order_no: str, action: str) -> None:
    raise ApiError(404, f"unknown action {action!r}; known: {', '.join(sorted(ACTION_MODELS))}")
