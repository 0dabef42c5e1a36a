"""并单: requests about the same matter merged into one order, and their petitioners.

A merged request keeps its own number and petitioner (a co-petitioner of the order). The order
arms no new deadline for it; every co-petitioner is told what the order's own petitioner is
told (contact, reply, survey), and asked for a callback of their own (closing.py).
"""
from __future__ import annotations

from hotline.domain.models import CoPetitioner, MergeAction, OrderState, Stage, UnmergeAction
from hotline.domain.order_rules.basics import notify, step
from hotline.domain.order_rules.closing import all_answered, decide_callback
from hotline.domain.order_rules.effects import OrderContext, Rule
from hotline.domain.order_rules.kinds import NoticeKind, StepKind

# A bound on the order's state (every co-petitioner is in it): a matter reported more often
# than this is a public incident, handled by the hotline office outside one order.
MAX_CO_PETITIONERS = 200


def merge(c: OrderContext, a: MergeAction) -> Rule:
    s = c.s
    s.co_petitioners.append(CoPetitioner(request_no=a.request_no, name=a.petitioner.name, phone=a.petitioner.phone,
                                         channel=a.channel, merged_at=c.now()))
    yield from step(c, StepKind.MERGE, a.by, {"request_no": a.request_no, "note": a.note, "operator": a.operator,
                                       "co_petitioners": len(s.co_petitioners)})
    yield from notify(c, NoticeKind.MERGE, s.owner, f"request {a.request_no} merged into order {s.order_no} (并单): "
                      "the same matter, no new deadline", f"merge:{a.request_no}", request_no=a.request_no)
    yield from notify(c, NoticeKind.MERGED, f"petitioner:{a.request_no}",
                      f"您反映的问题（{a.request_no}）与工单{s.order_no}为同一事项，已并入统一办理；"
                      f"可凭{a.request_no}和手机号后四位查询进展", f"merge:{a.request_no}")


def unmerge(c: OrderContext, a: UnmergeAction) -> Rule:
    s = c.s
    s.co_petitioners = [x for x in s.co_petitioners if x.request_no != a.request_no]
    yield from step(c, StepKind.UNMERGE, a.by, {"request_no": a.request_no, "reason": a.reason,
                                         "co_petitioners": len(s.co_petitioners)})
    yield from notify(c, NoticeKind.UNMERGE, s.owner, f"request {a.request_no} taken out of order {s.order_no} "
                      f"(取消并单): {a.reason}", f"unmerge:{a.request_no}:{c.seq}", request_no=a.request_no)
    if s.stage == Stage.callback and all_answered(c):
        yield from decide_callback(c)  # the one still to answer has left the order


def phone_of(s: OrderState, to: str) -> str | None:
    """The phone number a petitioner's notice goes to ("petitioner", or "petitioner:<request>")."""
    if to == "petitioner":
        return s.petitioner.phone
    if to.startswith("petitioner:"):
        no = to.split(":", 1)[1]
        return next((x.phone for x in s.co_petitioners if x.request_no == no), None)
    return None
