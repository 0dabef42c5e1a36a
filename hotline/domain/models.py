"""Pydantic models that cross boundaries: HTTP bodies, workflow inputs, update payloads, state.

They are plain data (no SQLAlchemy, no Temporal), so workflows, activities and the HTTP app
share one vocabulary (SPEC §2 identifiers).
"""
from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from hotline.domain.actor import parse_actor
from hotline.domain.codes import DISTRICTS, ORDER_NO
from hotline.domain.masking import mask_name, mask_phone, mask_text, mask_value  # noqa: F401  (re-exported)


class Channel(str, Enum):
    phone = "phone"
    web = "web"
    app = "app"
    wechat = "wechat"
    open311 = "open311"


class Category(str, Enum):
    consultation = "consultation"  # 咨询
    help = "help"  # 求助
    complaint = "complaint"  # 投诉
    report = "report"  # 举报
    suggestion = "suggestion"  # 建议


class Urgency(str, Enum):
    normal = "normal"
    urgent = "urgent"  # 紧急


class Stage(str, Enum):
    intake = "intake"  # 受理
    dispatched = "dispatched"  # 转办
    signed = "signed"  # 签收
    handling = "handling"  # 承办
    return_review = "return_review"  # 退单审核
    replied = "replied"  # 答复
    callback = "callback"  # 回访
    reopened = "reopened"  # 重办
    closed = "closed"  # 办结


class Satisfaction(str, Enum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


REQUEST_NO = ORDER_NO  # an order's or a merged request's number
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v):
        # NUL cannot be stored by PostgreSQL; refuse it at the door, not in a retried activity.
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("text must not contain NUL characters")
        return v


class Petitioner(Strict):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=5, max_length=20)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not _PHONE.match(v):
            raise ValueError("phone must be digits, optionally with +, spaces or dashes")
        return v


class Location(Strict):
    district: str | None = None
    address: str | None = Field(default=None, max_length=256)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("district")
    @classmethod
    def _district(cls, v: str | None) -> str | None:
        if v is not None and v not in DISTRICTS:
            raise ValueError(f"unknown district {v!r}; known: {', '.join(DISTRICTS)}")
        return v


class IntakeRequest(Strict):
    channel: Channel = Channel.phone
    category: Category
    urgency: Urgency = Urgency.normal
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    petitioner: Petitioner
    location: Location = Field(default_factory=Location)
    owner: str | None = Field(default=None, description="operator's choice; else routing's top unit")




# ---------------------------------------------------------------- actions (update payloads)
# `by` is the acting party, filled in by the gateway/CLI from the authenticated key: a typed
# actor (hotline/domain/actor.py) carried as its plain string, a unit code or "admin:<name>" ("HOTLINE"
# in older orders). Numbers and booleans are strict: "5" is not 5, "true" is not true.


class Action(Strict):
    by: str = Field(min_length=1, max_length=64)

    @field_validator("by")
    @classmethod
    def _actor(cls, v: str) -> str:
        parse_actor(v)  # a unit code or a named admin, never any text that merely looks like one
        return v


class SignAction(Action):
    pass


class ContactAction(Action):
    note: str = Field(min_length=1, max_length=2000)


class CoHandlerTask(Strict):
    unit: str = Field(min_length=1)
    task: str = Field(min_length=1, max_length=1000)
    due: datetime

    @field_validator("due")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("due must be an ISO 8601 instant with offset")
        return v


class CoordinationPlanAction(Action):
    plan: str = Field(min_length=1, max_length=4000)
    co_handlers: list[CoHandlerTask] = Field(min_length=1)


class CoHandlerDoneAction(Action):
    note: str = Field(min_length=1, max_length=2000)


class ExtensionRequestAction(Action):
    days: StrictInt = Field(ge=1, le=30, description="working days")
    reason: str = Field(min_length=1, max_length=2000)


class ReviewDecision(str, Enum):
    approve = "approve"
    reject = "reject"


class ExtensionReviewAction(Action):
    decision: ReviewDecision
    reason: str = Field(min_length=1, max_length=2000)


class ReturnRequestAction(Action):
    reason: str = Field(min_length=1, max_length=2000)
    claimed_unit: str = Field(min_length=1)
    basis: str = Field(min_length=1, max_length=2000)


class ReturnReviewAction(Action):
    decision: ReviewDecision
    reason: str = Field(min_length=1, max_length=2000)
    new_owner: str | None = None


class ReplyAction(Action):
    result: str = Field(min_length=1, max_length=4000)
    resolved: StrictBool


class CallbackAction(Action):
    answered: StrictBool
    resolved: StrictBool | None = None
    satisfaction: Satisfaction | None = None
    # a merged request's petitioner (co-petitioner); None: the order's own petitioner
    request_no: str | None = Field(default=None, pattern=REQUEST_NO)


class FlagStaffAction(Action):
    staff: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class MergeAction(Action):
    """并单: a request about the same matter joins this open order instead of becoming an order
    of its own. It keeps its own number and petitioner (a co-petitioner of the order); no new
    deadline is armed. Sent by the gateway once the request is recorded (hotline/store/merges.py)."""

    request_no: str = Field(pattern=REQUEST_NO)
    petitioner: Petitioner
    channel: Channel = Channel.phone
    note: str = Field(default="", max_length=500, description="why it is the same matter")
    # who merged it when `by` is the hotline office acting for an intake operator ("intake:<key>")
    operator: str | None = Field(default=None, max_length=64)


class UnmergeAction(Action):
    """A wrong merge undone: the request leaves the order and becomes an order of its own."""

    request_no: str = Field(pattern=REQUEST_NO)
    reason: str = Field(min_length=1, max_length=2000)


ACTION_MODELS: dict[str, type[Action]] = {
    "sign": SignAction,
    "contact": ContactAction,
    "coordination-plan": CoordinationPlanAction,
    "co-handler-done": CoHandlerDoneAction,
    "extension-request": ExtensionRequestAction,
    "return-request": ReturnRequestAction,
    "reply": ReplyAction,
    "return-review": ReturnReviewAction,
    "extension-review": ExtensionReviewAction,
    "callback": CallbackAction,
    "flag-staff": FlagStaffAction,
}
# Merging has its own routes (a request is recorded before its merge): not a generic action.
MERGE_ACTIONS: dict[str, type[Action]] = {"merge": MergeAction, "unmerge": UnmergeAction}
# Who may take which action: hotline/domain/transitions.py ADMIN_ACTIONS and DEPARTMENT_ACTIONS (from its table).


# ---------------------------------------------------------------- state


class Deadlines(BaseModel):
    sign_by: datetime | None = None
    contact_by: datetime | None = None
    coordinate_by: datetime | None = None
    remind_at: datetime | None = None
    reply_by: datetime | None = None
    escalate_at: datetime | None = None
    return_until: datetime | None = None
    callback_by: datetime | None = None
    answer_by: datetime | None = None
    provisional: list[str] = Field(default_factory=list, description="deadlines on a guessed calendar")


class Notice(BaseModel):
    kind: str  # reminder | supervision | escalation | notification | criticism ...
    at: datetime
    to: str
    reason: str = ""
    key: str = ""


class ActionRecord(BaseModel):
    seq: int
    action: str
    by: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class CoHandlerState(BaseModel):
    unit: str
    task: str
    due: datetime
    done: bool = False
    done_at: datetime | None = None
    supervised: bool = False


class PendingRequest(BaseModel):
    kind: Literal["extension", "return"]
    by: str
    at: datetime
    payload: dict[str, Any]


class CallbackResult(BaseModel):
    answered: bool
    resolved: bool | None = None
    satisfaction: Satisfaction | None = None
    unrated: bool = False
    at: datetime


class PetitionerView(BaseModel):
    """The petitioner as shown: full to owner/co-handlers/admins, masked elsewhere."""

    name: str
    phone: str


class CoPetitioner(BaseModel):
    """The petitioner of a request merged into the order (并单): told what the order's own
    petitioner is told, and asked for their own callback."""

    request_no: str
    name: str
    phone: str
    channel: Channel = Channel.phone
    merged_at: datetime
    callback: CallbackResult | None = None


class OrderState(BaseModel):
    order_no: str
    workflow_id: str
    stage: Stage
    owner: str
    previous_owners: list[str] = Field(default_factory=list)
    co_handlers: list[CoHandlerState] = Field(default_factory=list)
    category: Category
    urgency: Urgency
    channel: Channel
    title: str
    description: str
    petitioner: PetitionerView
    location: Location
    created_at: datetime
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    contacted_at: datetime | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    deadlines: Deadlines = Field(default_factory=Deadlines)
    overdue: bool = False
    signed_late: bool | None = None
    replied_on_time: bool | None = None
    resolved: bool | None = None
    reply_result: str | None = None
    notices: list[Notice] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    routing: list[dict[str, Any]] = Field(default_factory=list)
    pending: PendingRequest | None = None
    reopens: int = 0
    return_count: int = 0
    extension_days: int = 0
    callback: CallbackResult | None = None
    close_reason: str | None = None
    policy: str = "sanya"
    co_petitioners: list[CoPetitioner] = Field(default_factory=list)  # merged requests (并单)

    def masked(self) -> "OrderState":
        """Copy without the petitioner's identity, for anyone but owner/co-handlers/admins: the
        petitioner masked, and every free text with phone, ID and e-mail numbers and the
        petitioner's name masked (hotline/domain/masking.py)."""
        name, phone = self.petitioner.name, self.petitioner.phone
        others = [(c.name, c.phone) for c in self.co_petitioners]  # merged requests' petitioners

        def m(text):
            for n, p in others:
                text = mask_text(text, n, p)
            return mask_text(text, name, phone)

        def mv(value):
            for n, p in others:
                value = mask_value(value, n, p)
            return mask_value(value, name, phone)
        return self.model_copy(update={
            "petitioner": PetitionerView(name=mask_name(name), phone=mask_phone(phone)),
            "title": m(self.title), "description": m(self.description), "reply_result": m(self.reply_result),
            "close_reason": m(self.close_reason),
            "location": self.location.model_copy(update={"address": m(self.location.address)}),
            "notices": [n.model_copy(update={"reason": m(n.reason)}) for n in self.notices],
            "actions": [a.model_copy(update={"detail": mv(a.detail)}) for a in self.actions],
            "co_handlers": [c.model_copy(update={"task": m(c.task)}) for c in self.co_handlers],
            "pending": self.pending.model_copy(update={"payload": mv(self.pending.payload)})
            if self.pending else None,
            "co_petitioners": [c.model_copy(update={"name": mask_name(c.name), "phone": mask_phone(c.phone)})
                               for c in self.co_petitioners],
        })
