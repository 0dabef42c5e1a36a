"""Payloads between workflows and activities (all pydantic, through the pydantic converter)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hotline.models import IntakeRequest, OrderState
from hotline.policy import Policy


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


class DeadlineItem(BaseModel):
    name: str
    start: datetime
    limit: str  # a policy duration, e.g. "30m", "3wd"
    fraction: float | None = None  # e.g. 0.75 for the reminder before the handling deadline


class DeadlineRequest(BaseModel):
    policy: Policy
    items: list[DeadlineItem]


class DeadlineValue(BaseModel):
    at: datetime
    provisional: bool = False


class DeadlineResult(BaseModel):
    values: dict[str, DeadlineValue]


class StepRecord(BaseModel):
    """One audited step and the order's state right after it (the read model row)."""

    seq: int
    action: str
    by: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)
    state: OrderState


class NotificationRequest(BaseModel):
    key: str  # one per fact: retries and replays write the same key
    order_no: str | None
    kind: str
    to: str  # unit code, "HOTLINE", "LEADERSHIP" or "petitioner"
    subject: str
    body: dict[str, Any] = Field(default_factory=dict)
    petitioner_phone: str | None = None


class Strike(BaseModel):
    """A refusal strike or overdue fact against a unit (SPEC §6), sent to its supervision workflow."""

    key: str  # unique per fact
    unit: str
    kind: Literal["invalid_return", "never_signed", "overdue"]
    order_no: str
    at: datetime
    reason: str


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
