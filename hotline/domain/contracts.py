"""Payloads between workflows and activities (all pydantic, through the pydantic converter)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hotline.domain.models import IntakeRequest, OrderState
from hotline.domain.policy import Policy


class WorkOrderInput(BaseModel):
    order_no: str
    intake: IntakeRequest
    owner: str
    owner_reason: str = "routing"  # routing | operator
    routing: list[dict[str, Any]] = Field(default_factory=list)
    policy: Policy
    created_at: datetime
    # The time-skipping test server has no custom search attributes; everywhere else: True.
    search_attributes: bool = True
    # Intake's deadlines, computed by the gateway before the start (it answers with them at
    # once): the workflow takes these instead of computing them, and dates intake at
    # `created_at` (workflows/order_core.py GIVEN_DEADLINES). None: computed by the workflow.
    deadlines: DeadlineResult | None = None


class DeadlineItem(BaseModel):
    name: str
    start: datetime
    limit: str  # a policy duration, e.g. "30m", "3wd"
    fraction: float | None = None  # e.g. 0.75 for the reminder before the handling deadline
    # Start where the item of that name, earlier in the same request, ends (instead of `start`):
    # an extended deadline is recomputed as a chain, its extension counted from the new base.
    after: str | None = None


class DeadlineRequest(BaseModel):
    policy: Policy
    items: list[DeadlineItem]
    # Read the calendar afresh (a schedule was just entered), not from the worker's cache.
    reload_calendar: bool = False


class CalendarChange(BaseModel):
    """A year's official schedule was entered: open orders recompute the deadlines it touches."""

    years: list[int] = Field(min_length=1)
    notice: str = ""
    by: str = "HOTLINE"


class DeadlineValue(BaseModel):
    at: datetime
    provisional: bool = False


class DeadlineResult(BaseModel):
    values: dict[str, DeadlineValue]


class ActionAnswer(BaseModel):
    """What an update answers: the order after the action, and the tokens of the local-activity
    writes the order made up to it (hotline/store/commits.py). The answer reaches the caller only once
    the workflow task that carried the action committed, so those writes stand: the caller
    confirms them at once instead of waiting for the commit watcher to read the history."""
    state: OrderState
    writes: list[str] = Field(default_factory=list)


class StepRecord(BaseModel):
    """One audited step and the order's state right after it (the read model row)."""

    seq: int
    action: str
    by: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)
    state: OrderState
    # Written by a local activity in the workflow task whose started event id this is (None:
    # a regular activity, run only once its command was committed). See hotline/store/commits.py.
    wft: int | None = None


class NotificationRequest(BaseModel):
    key: str  # one per fact: retries and replays write the same key
    order_no: str | None
    kind: str
    to: str  # unit code, "HOTLINE", "LEADERSHIP" or "petitioner"
    subject: str
    body: dict[str, Any] = Field(default_factory=dict)
    petitioner_phone: str | None = None
    # The order as it stands with this notice, after step `seq`: the read model shows every
    # notice an action sent, also those sent after its last step. (A local activity's input is
    # not written to the workflow's history.)
    state: OrderState | None = None
    seq: int | None = None
    wft: int | None = None  # as StepRecord.wft: the row is held until that workflow task commits


class StepEntry(BaseModel):
    """One audited step of an action, written with the rest of the action (`ActionWrite`)."""

    seq: int
    action: str
    by: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class ActionWrite(BaseModel):
    """Everything one action (or deadline follow-up) wrote, in one local activity and one
    transaction: its steps, its notices and the read model as the action left the order
    (orders started under the `one-write-per-action` patch). Held until workflow task `wft`
    commits, as StepRecord.wft (hotline/store/commits.py)."""

    steps: list[StepEntry] = Field(default_factory=list)
    notices: list[NotificationRequest] = Field(default_factory=list)
    state: OrderState
    seq: int  # the order's last step: the read model row is as of it
    wft: int


class Strike(BaseModel):
    """A refusal strike or overdue fact against a unit (SPEC §6), sent to its supervision workflow."""

    key: str  # unique per fact
    unit: str
    kind: Literal["invalid_return", "never_signed", "overdue"]
    order_no: str
    at: datetime
    reason: str
    # Judged against a deadline computed on a guessed calendar (a year the State Council had
    # not published): held for the hotline office to confirm or void, never counted on its own.
    provisional: bool = False


class StrikeReview(BaseModel):
    """The hotline office's decision on a held strike (sent to the unit's supervision workflow)."""

    key: str  # the held strike's key
    decision: Literal["confirm", "void"]
    by: str
    reason: str = Field(min_length=1, max_length=2000)
    at: datetime


class StaffFlag(BaseModel):
    key: str
    unit: str
    staff: str
    order_no: str
    at: datetime
    reason: str
    flagged_by: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class ReturnRecommendationRequest(BaseModel):
    order_no: str
    requesting_unit: str
    claimed_unit: str
    text: str
    category: str
    district: str | None = None


class ReturnRecommendation(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


WorkOrderInput.model_rebuild()  # its `deadlines` names DeadlineResult, defined below it
