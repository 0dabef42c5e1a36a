"""What a routing answers: candidates, the evidence that matched, coverage, recommendations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Decision = Literal["clear_owner", "nearest_duty", "district_fallback"]


class MatchedEntry(BaseModel):
    matter: str
    basis: str | None = None
    matched_words: list[str]
    matched_places: list[str] = Field(default_factory=list)
    score: float


class Candidate(BaseModel):
    unit: str
    name: str
    score: float
    matched_entries: list[MatchedEntry]
    reason: str
    fallback: bool = False  # listed as the district government of the place, not by its duties
    confidence: float | None = None  # blended, calibrated probability (None: evidence only)


class RoutingResult(BaseModel):
    candidates: list[Candidate]
    decision: Decision
    explanation: str
    district: str | None = None  # the district used: given by the caller or inferred from text
    district_inferred: bool = False
    model_version: str | None = None  # the classifier blended in (None: evidence only)
    please_choose: bool = False  # the top two are close: the operator should choose


class Coverage(BaseModel):
    unit: str
    level: Literal["full", "partial", "none"]
    share: float  # share of the request's matched words that this unit's list covers
    matched_entries: list[MatchedEntry]
    uncovered_words: list[str]  # matched by other units' lists, not by this one


class Recommendation(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str
    recommended_owner: str | None = None  # who owns the order if the reviewer follows us
    evidence: dict
