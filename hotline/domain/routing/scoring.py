"""How a request is scored against the responsibility lists: the weights and the matches."""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.domain.catalogue import ResponsibilityEntry, Unit
from hotline.domain.routing.results import MatchedEntry

# Tuned on tests/data/routing_eval.yaml; see bench/routing_eval.py.
WEAK_MIN = 0.3  # below this a unit is not listed at all
MATCH_MIN = 0.75  # below this nothing "matches": district fallback
CLEAR_MIN = 0.95  # a clear owner needs at least one distinctive keyword of its own
CLEAR_RATIO = 1.5  # ...and to lead the next unit by this factor
PLACE_WEIGHT = 1.2  # per named site of a site-bound entry (at most two count)
SUPPORT_WEIGHT = 0.3  # words matched in a unit's other entries
OFF_CATEGORY = 0.6  # entry does not list the request's category
UNALIGNED = 0.6  # keyword found inside a longer word
FUZZY = 0.6  # bigram match, times the share of bigrams found
FUZZY_MIN_SHARE = 0.6
FULL_SHARE = 0.75  # coverage: share of the matched words a unit must cover to be "full"


@dataclass
class _Hit:
    term: str
    start: int
    end: int
    factor: float  # 1.0 exact at word boundaries, less inside a word or through bigrams
    fuzzy: bool = False


@dataclass
class _EntryMatch:
    entry: ResponsibilityEntry
    words: dict[str, _Hit]
    places: list[str]
    matter_score: float
    score: float  # matter score plus the place bonus of a site-bound entry

    def evidence(self) -> MatchedEntry:
        return MatchedEntry(
            matter=self.entry.matter,
            basis=self.entry.basis,
            matched_words=list(self.words),
            matched_places=self.places,
            score=round(self.score, 4),
        )


@dataclass
class _UnitMatch:
    unit: Unit
    entries: list[_EntryMatch]  # best first
    score: float = 0.0
    matter_score: float = 0.0


@dataclass
class _Analysis:
    text: str
    district: str | None
    inferred: bool
    units: list[_UnitMatch] = field(default_factory=list)  # ranked


def _length_weight(term: str) -> float:
    # Longer keywords are more specific: 排水沟 says more than 排水.
    return 1.0 if len(term) <= 2 else (1.3 if len(term) == 3 else 1.6)


def _non_overlapping(hits: list[_Hit]) -> list[_Hit]:
    """Keep the longest, best hits of one entry; a word inside a longer matched word of the
    same entry is not counted twice (排水沟 then not also 水沟). Exact matches go before
    fuzzy ones: 自来水 as typed beats 自来水管 guessed from 自来水已."""
    chosen: list[_Hit] = []
    seen: set[str] = set()
    order = sorted(hits, key=lambda h: (h.fuzzy, -(h.end - h.start), -h.factor, h.start, h.term))
    for h in order:
        if h.term in seen or any(h.start < c.end and c.start < h.end for c in chosen):
            continue
        chosen.append(h)
        seen.add(h.term)
    return sorted(chosen, key=lambda h: (h.start, h.term))
