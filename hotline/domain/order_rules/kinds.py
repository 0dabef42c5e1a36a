"""The names of an order's steps and notices: one enum each, so a reader (the KPI rows, the
console's labels, the reports) names the same thing the rules write.

They are `StrEnum`s: each member is its text, so the read model, the history and every
comparison with a plain string see exactly the names they always had.
"""
from __future__ import annotations

from enum import StrEnum


class StepKind(StrEnum):
    """A step in an order's audit trail: an action, or what the order did by itself."""
    CALLBACK = "callback"
    CALLBACK_OVERDUE = "callback-overdue"
    CALLBACK_START = "callback-start"
    CLOSE = "close"
    CO_HANDLER_DONE = "co-handler-done"
    CO_HANDLER_OVERDUE = "co-handler-overdue"
    CONTACT = "contact"
    CONTACT_OVERDUE = "contact-overdue"
    COORDINATION_PLAN = "coordination-plan"
    COORDINATION_WINDOW_CLOSED = "coordination-window-closed"
    DEADLINES_RECOMPUTED = "deadlines-recomputed"
    DISPATCH = "dispatch"
    EXTENSION_REQUEST = "extension-request"
    EXTENSION_REVIEW = "extension-review"
    FLAG_STAFF = "flag-staff"
    INTAKE = "intake"
    MERGE = "merge"
    PETITIONER_CALLBACK = "petitioner-callback"
    REDISPATCH = "redispatch"
    REMINDER = "reminder"
    REOPEN = "reopen"
    REPLY = "reply"
    RETURN_REQUEST = "return-request"
    RETURN_REVIEW = "return-review"
    SIGN = "sign"
    SIGN_OVERDUE = "sign-overdue"
    STRIKE = "strike"
    SUPERVISION = "supervision"
    UNMERGE = "unmerge"
    UNRATED = "unrated"


class NoticeKind(StrEnum):
    """A notice an order sends (to a unit, the hotline office or a petitioner)."""
    CO_HANDLER_DONE = "co-handler-done"
    CO_HANDLER_OVERDUE = "co-handler-overdue"
    CO_HANDLING = "co-handling"
    CONTACT = "contact"
    DEADLINE_CHANGE = "deadline-change"
    DISPATCH = "dispatch"
    ESCALATION = "escalation"
    EXTENSION_REQUEST = "extension-request"
    EXTENSION_REVIEW = "extension-review"
    MERGE = "merge"
    MERGED = "merged"
    REMINDER = "reminder"
    REOPEN = "reopen"
    REPLY = "reply"
    RETURN_APPROVED = "return-approved"
    RETURN_REJECTED = "return-rejected"
    RETURN_REQUEST = "return-request"
    SUPERVISION = "supervision"
    SURVEY = "survey"
    UNMERGE = "unmerge"
