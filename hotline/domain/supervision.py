"""The escalation ladder of first-contact responsibility (SPEC §6), as pure functions.

A unit's ledger for one calendar year: strikes, notified criticisms (通报批评), the discipline
referral (移送纪委监委). `apply_strike` returns the facts to record, each with a key that is
a function of the ledger alone, so recording them again (a retry, a replay, a duplicate
signal) can never issue a second criticism or referral for the same facts.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from hotline.domain.contracts import StaffFlag, Strike, StrikeReview
from hotline.domain.policy import Policy

REFUSALS = {"invalid_return", "never_signed"}  # refusal strikes; "overdue" criticises at once


def supervision_workflow_id(unit: str) -> str:
    return f"supervision-{unit}"


def local_year(at: datetime, tz: str) -> int:
    return at.astimezone(ZoneInfo(tz)).year


def next_year_start(year: int, tz: str) -> datetime:
    return datetime(year + 1, 1, 1, tzinfo=ZoneInfo(tz))


class Criticism(BaseModel):
    n: int
    key: str
    at: datetime
    reason: str
    orders: list[str]
    strikes: list[str]


class Referral(BaseModel):
    key: str
    at: datetime
    criticisms: list[str]
    appended: list[str] = Field(default_factory=list)


class Ledger(BaseModel):
    unit: str
    year: int
    strikes: list[Strike] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list, description="refusal strikes not yet criticised")
    criticisms: list[Criticism] = Field(default_factory=list)
    referral: Referral | None = None
    staff_referrals: list[StaffFlag] = Field(default_factory=list)
    held: list[str] = Field(default_factory=list, description="provisional strikes awaiting review")
    voided: list[str] = Field(default_factory=list, description="held strikes the hotline office voided")

    def seen(self, key: str) -> bool:
        return any(s.key == key for s in self.strikes) or any(f.key == key for f in self.staff_referrals)

    def tallies(self) -> dict:
        kinds: dict[str, int] = {}
        for s in self.strikes:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        return {"unit": self.unit, "year": self.year, "strikes": len(self.strikes), "by_kind": kinds,
                "criticisms": len(self.criticisms), "referred": self.referral is not None,
                "staff_referrals": len(self.staff_referrals)}


class SupervisionInput(BaseModel):
    unit: str
    policy: Policy
    ledger: Ledger | None = None  # carried over by continue-as-new within the same year


class LedgerEvent(BaseModel):
    """A fact to record in the database ledger (and the documents to send for it)."""

    key: str
    unit: str
    year: int
    kind: str  # strike | criticism | referral | referral_appendix | staff_referral
    at: datetime
    order_no: str | None = None
    title: str = ""
    detail: dict = Field(default_factory=dict)
    send_to: list[str] = Field(default_factory=list)


def _criticism(ledger: Ledger, at: datetime, reason: str, strike_keys: list[str]) -> list[LedgerEvent]:
    n = len(ledger.criticisms) + 1
    strikes = [s for s in ledger.strikes if s.key in strike_keys]
    c = Criticism(n=n, key=f"{ledger.unit}:{ledger.year}:criticism:{n}", at=at, reason=reason,
                  orders=sorted({s.order_no for s in strikes}), strikes=strike_keys)
    ledger.criticisms.append(c)
    doc = {"unit": ledger.unit, "year": ledger.year, "number": n, "reason": reason,
           "facts": [{"order_no": s.order_no, "date": s.at.isoformat(), "kind": s.kind, "reason": s.reason}
                     for s in strikes]}
    events = [LedgerEvent(key=c.key, unit=ledger.unit, year=ledger.year, kind="criticism", at=at,
                          order_no=strikes[-1].order_no if strikes else None,
                          title=f"通报批评 {ledger.unit} {ledger.year}-{n}: {reason}", detail=doc,
                          send_to=[ledger.unit, "LEADERSHIP"])]
    return events


def _referral_step(ledger: Ledger, at: datetime, policy: Policy) -> list[LedgerEvent]:
    threshold = policy.ladder.criticisms_for_referral
    if len(ledger.criticisms) < threshold:
        return []
    latest = ledger.criticisms[-1]
    dossier = {"unit": ledger.unit, "year": ledger.year,
               "criticisms": [c.model_dump(mode="json") for c in ledger.criticisms],
               "strikes": [s.model_dump(mode="json") for s in ledger.strikes]}
    if ledger.referral is None:
        ledger.referral = Referral(key=f"{ledger.unit}:{ledger.year}:referral", at=at,
                                   criticisms=[c.key for c in ledger.criticisms])
        return [LedgerEvent(key=ledger.referral.key, unit=ledger.unit, year=ledger.year, kind="referral", at=at,
                            title=f"移送市纪委监委: {ledger.unit} "
                                  f"({len(ledger.criticisms)} criticisms in {ledger.year})",
                            detail=dossier, send_to=["DISCIPLINE", "LEADERSHIP", ledger.unit])]
    # One referral per unit per year: later criticisms are appended to its dossier.
    ledger.referral.appended.append(latest.key)
    return [LedgerEvent(key=f"{ledger.referral.key}:append:{latest.n}", unit=ledger.unit, year=ledger.year,
                        kind="referral_appendix", at=at, title=f"appendix to the referral of {ledger.unit}",
                        detail={"criticism": latest.model_dump(mode="json")}, send_to=["DISCIPLINE"])]


def apply_strike(ledger: Ledger, strike: Strike, policy: Policy, now: datetime) -> list[LedgerEvent]:
    """Add a strike to the ledger; return the facts to record, in order. Duplicates add nothing.

    A provisional strike (its deadline was computed on a guessed calendar) is recorded as held
    and counts toward nothing until the hotline office confirms it (`review_strike`)."""
    if ledger.seen(strike.key):
        return []
    ledger.strikes.append(strike)
    detail = strike.model_dump(mode="json")
    if strike.provisional:
        ledger.held.append(strike.key)
        detail.update(held=True, pending_after=list(ledger.pending),
                      why="the deadline was computed on a guessed calendar (year not yet published)")
        return [LedgerEvent(key=f"strike:{strike.key}", unit=ledger.unit, year=ledger.year, kind="strike",
                            at=strike.at, order_no=strike.order_no, title=f"strike {strike.kind} (held for review)",
                            detail=detail)]
    events = [LedgerEvent(key=f"strike:{strike.key}", unit=ledger.unit, year=ledger.year, kind="strike",
                          at=strike.at, order_no=strike.order_no, title=f"strike {strike.kind}", detail=detail)]
    events += _count(ledger, strike, policy, now)
    # The refusals still counting toward the next criticism, as of this strike: the database
    # ledger shows them without asking the running supervision workflow.
    events[0].detail["pending_after"] = list(ledger.pending)
    return events


def review_strike(ledger: Ledger, review: StrikeReview, policy: Policy, now: datetime) -> list[LedgerEvent]:
    """Confirm (it counts from now on, dated as it happened) or void a held strike, once."""
    if review.key not in ledger.held:
        return []  # not held (any more): a repeated review changes nothing
    ledger.held.remove(review.key)
    strike = next(s for s in ledger.strikes if s.key == review.key)
    events = [LedgerEvent(key=f"review:{review.key}", unit=ledger.unit, year=ledger.year, kind="strike_review",
                          at=review.at, order_no=strike.order_no,
                          title=f"held strike {strike.kind} {review.decision}ed by {review.by}",
                          detail={**review.model_dump(mode="json"), "strike": strike.model_dump(mode="json")})]
    if review.decision == "void":
        ledger.voided.append(review.key)
        events[0].detail["pending_after"] = list(ledger.pending)
        return events
    events += _count(ledger, strike, policy, now)
    events[0].detail["pending_after"] = list(ledger.pending)
    return events


def _count(ledger: Ledger, strike: Strike, policy: Policy, now: datetime) -> list[LedgerEvent]:
    """Let a counted strike climb the ladder: refusals toward a criticism, overdue at once."""
    events: list[LedgerEvent] = []
    lad = policy.ladder
    if strike.kind in REFUSALS:
        window = timedelta(seconds=lad.strike_window.seconds)
        by_key = {s.key: s for s in ledger.strikes}
        ledger.pending = [k for k in ledger.pending if strike.at - by_key[k].at <= window] + [strike.key]
        if len(ledger.pending) >= lad.strikes_for_criticism:
            used, ledger.pending = ledger.pending, []  # the counter starts again
            events += _criticism(ledger, now, f"{len(used)} refusals within {lad.strike_window}", used)
            events += _referral_step(ledger, now, policy)
    else:  # overdue long after the supervision notice
        events += _criticism(ledger, now, f"order {strike.order_no}: {strike.reason}", [strike.key])
        events += _referral_step(ledger, now, policy)
    return events


def apply_staff_flag(ledger: Ledger, flag: StaffFlag) -> list[LedgerEvent]:
    if ledger.seen(flag.key):
        return []
    ledger.staff_referrals.append(flag)
    return [LedgerEvent(key=f"staff:{flag.key}", unit=ledger.unit, year=ledger.year, kind="staff_referral",
                        at=flag.at, order_no=flag.order_no,
                        title=f"staff referral: {flag.staff} of {flag.unit} on {flag.order_no}",
                        detail=flag.model_dump(mode="json"), send_to=["DISCIPLINE", flag.unit])]
