"""Sanya's own case (SPEC §8), played end to end on the running stack.

A blocked drainage ditch in front of a house 500 m from 南滨医院 on 塘边路, 崖州区: no unit's
list clearly owns it, so routing dispatches by nearest duty to 三亚交通投资集团, whose
project is nearby. It signs, contacts the petitioner, pulls in the water bureau, replies,
and the hotline calls back. Each step is printed; the order's history in the Temporal UI
reads as the same story.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from hotline.domain.codes import order_workflow_id
from hotline.domain.models import (
    CallbackAction,
    CoHandlerDoneAction,
    ContactAction,
    CoordinationPlanAction,
    IntakeRequest,
    ReplyAction,
    SignAction,
)
from hotline.domain.routing.router import Router
from hotline.services.intake import intake_order
from hotline.services.port import WorkOrderPort
from hotline.store import Database

CASE = {
    "channel": "phone", "category": "help", "urgency": "normal",
    "title": "塘边路排水沟堵塞，雨水倒灌民房",
    "description": "我家门口塘边路上离南滨医院500米左右那条排水沟堵了好久，下雨就漫到家里，也不知道归谁管",
    "petitioner": {"name": "陈阿姨", "phone": "13907551234"},
    "location": {"district": "YZQ", "address": "崖州区塘边路（南滨医院以西约500米）", "lat": 18.36, "lng": 109.14},
}


async def play(db: Database, work_orders: WorkOrderPort, router: Router, pause: float = 1.0, out=print) -> str:
    req = IntakeRequest.model_validate(CASE)
    res = router.route(f"{req.title} {req.description}", req.category.value, req.location.district)
    out(f"1. intake (受理): {req.title}")
    out(f"   routing: {res.decision} — {res.explanation}")
    for c in res.candidates[:3]:
        out(f"     {c.unit} {c.name} score={c.score:.2f}: {c.reason}")
    st = await intake_order(db, work_orders, router, req)
    no, owner = st.order_no, st.owner
    out(f"2. dispatch (转办) order {no} to {owner}; sign by {st.deadlines.sign_by:%Y-%m-%d %H:%M}, "
        f"reply by {st.deadlines.reply_by:%Y-%m-%d %H:%M}")

    async def step(n: str, action: str, payload, text: str):
        await asyncio.sleep(pause)
        s = await work_orders.act(no, action, payload)
        out(f"{n}. {text}  → stage {s.stage.value}")
        return s

    await step("3", "sign", SignAction(by=owner), f"{owner} signs for the order (签收)")
    await step("4", "contact", ContactAction(by=owner, note="已电话联系陈阿姨，下午到现场查看排水沟"),
               "first contact with the petitioner (先行联系)")
    due = datetime.now(timezone.utc) + timedelta(hours=6)
    helper = "SWJ" if owner != "SWJ" else "YZQ"  # the water bureau checks the municipal drain downstream
    await step("5", "coordination-plan", CoordinationPlanAction(
        by=owner, plan="责任单位清理塘边路排水沟淤堵；联办单位核查下游市政管网是否通畅",
        co_handlers=[{"unit": helper, "task": "核查塘边路下游排水管网并配合疏通", "due": due}]),
        f"coordination plan: {helper} checks the drain downstream (联办)")
    await step("6", "co-handler-done", CoHandlerDoneAction(by=helper, note="下游管网通畅，已疏通检查井一处"),
               f"{helper} reports its part done to the owner")
    await step("7", "reply", ReplyAction(by=owner, result="已清理排水沟淤泥杂物约3立方米，加装沟盖板，雨后复查无积水",
                                         resolved=True), "the owner replies with the result (答复)")
    s = await step("8", "callback", CallbackAction(by="admin:demo", answered=True, resolved=True,
                                                   satisfaction="satisfied"),
                   "hotline callback: resolved, satisfied (回访)")
    out(f"9. closed ({s.close_reason}); see workflow {order_workflow_id(no)} in the Temporal UI")
    return no
