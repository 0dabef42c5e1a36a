"""The actions a viewer may take on an order, and their forms turned into the API's bodies.

Which forms a page shows comes from the transition table (hotline/domain/transitions.py) for the
viewer's role and the order's stage; the workflow's validator still has the last word. A form
becomes the very body model the JSON API takes (hotline.api.routes.actions.ACTION_BODIES), so the console
cannot send anything the API would not.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ValidationError

from hotline.api.routes.actions import ACTION_BODIES
from hotline.console.web import TZ
from hotline.domain import transitions
from hotline.domain.masking import mask_name
from hotline.domain.models import ACTION_MODELS, OrderState, Stage
from hotline.store.apikeys import Principal

MAX_CO_HANDLERS = 3


def allowed(p: Principal, st: OrderState) -> list[str]:
    """The actions the table allows this viewer on this order now, in the table's order."""
    if st.stage == Stage.closed:
        return []
    out = []
    for action, t in transitions.TABLE.items():
        if st.stage not in t.from_stages or action not in ACTION_MODELS:  # merging has its own form
            continue
        if t.actor == "admin" and p.role == "admin":
            if action == "extension-review" and not (st.pending and st.pending.kind == "extension"):
                continue
            out.append(action)
        elif t.actor == "owner" and p.role == "department" and p.unit == st.owner:
            out.append(action)
        elif t.actor == "co_handler" and p.role == "department" and any(
                c.unit == p.unit and not c.done for c in st.co_handlers):
            out.append(action)
    return out


def callback_answered(st: OrderState) -> set[str | None]:
    """Who has answered this callback round on an order with co-petitioners: request numbers,
    None for the order's own petitioner (whose answer shows only as an action since the round's
    start, the order's `callback` being the outcome of all)."""
    answered: set[str | None] = {c.request_no for c in st.co_petitioners if c.callback and c.callback.answered}
    for a in reversed(st.actions):
        if a.action in ("callback-start", "reopen"):
            break
        if a.action == "petitioner-callback" and a.detail.get("answered") and a.detail.get("request_no") is None:
            answered.add(None)
    return answered


def callback_targets(st: OrderState) -> list[tuple[str, str]]:
    """The 回访对象 still to answer: (request_no or "" for the order's own petitioner, label with
    the name masked). Empty for an order without co-petitioners (the plain callback form)."""
    if not st.co_petitioners:
        return []
    done = callback_answered(st)
    out = [("", f"本工单诉求人 {mask_name(st.petitioner.name)}（{st.order_no}）")] if None not in done else []
    return out + [(c.request_no, f"{c.request_no} {mask_name(c.name)}") for c in st.co_petitioners
                  if c.request_no not in done]


def callback_tally(st: OrderState) -> tuple[int, int]:
    """(answered, petitioners) of this callback round."""
    return len(callback_answered(st)), 1 + len(st.co_petitioners)


class FormError(ValueError):
    pass


def _bool(v: str | None, field: str, optional: bool = False) -> bool | None:
    if v in ("yes", "true", "1"):
        return True
    if v in ("no", "false", "0"):
        return False
    if optional and not v:
        return None
    raise FormError(f"{field}: 请选择“是”或“否”")


def _local_instant(v: str, field: str) -> str:
    """A `datetime-local` field, read as Beijing time."""
    try:
        return datetime.fromisoformat(v).replace(tzinfo=TZ).isoformat()
    except ValueError:
        raise FormError(f"{field}: 请填写日期和时间") from None


def _data(action: str, f: dict[str, str]) -> dict:
    if action == "sign":
        return {}
    if action in ("contact", "co-handler-done"):
        return {"note": f.get("note", "")}
    if action == "coordination-plan":
        rows = []
        for i in range(MAX_CO_HANDLERS):
            unit, task, due = (f.get(f"co_{i}_{k}", "").strip() for k in ("unit", "task", "due"))
            if unit or task or due:
                rows.append({"unit": unit, "task": task, "due": _local_instant(due, f"联办单位 {i + 1} 完成时间")})
        return {"plan": f.get("plan", ""), "co_handlers": rows}
    if action == "extension-request":
        days = f.get("days", "").strip()
        if not days.isdigit():
            raise FormError("延期天数: 请填写 1 到 30 之间的整数")
        return {"days": int(days), "reason": f.get("reason", "")}
    if action == "return-request":
        return {k: f.get(k, "") for k in ("reason", "claimed_unit", "basis")}
    if action == "reply":
        return {"result": f.get("result", ""), "resolved": _bool(f.get("resolved"), "是否解决")}
    if action in ("return-review", "extension-review"):
        d = {"decision": f.get("decision", ""), "reason": f.get("reason", "")}
        if action == "return-review" and f.get("new_owner"):
            d["new_owner"] = f["new_owner"]
        return d
    if action == "callback":
        answer: dict[str, str | bool | None] = {"answered": _bool(f.get("answered"), "是否接通"),
                                                "resolved": _bool(f.get("resolved"), "是否解决", optional=True)}
        if f.get("satisfaction"):
            answer["satisfaction"] = f["satisfaction"]
        if f.get("request_no"):  # 并单: a co-petitioner's own answer; none is the order's petitioner
            answer["request_no"] = f["request_no"]
        return answer
    if action == "flag-staff":
        return {"staff": f.get("staff", ""), "reason": f.get("reason", "")}
    raise FormError(f"unknown action {action!r}")


def body_from_form(action: str, f: dict[str, str]) -> BaseModel | None:
    """The API's body for this action; FormError with a readable message when the form is not one."""
    model = ACTION_BODIES[action]
    data = _data(action, f)
    if not model.model_fields:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
        raise FormError("; ".join(parts)) from None
