"""Duplicate candidates at intake (并单 detection, issue 18): the open orders likely to be the
same matter as a new request, ranked, each with the evidence that makes it one.

Why this shape:
* Candidates come from the read model only (never a query to a running workflow: README,
  "Known SDK race"), and from one indexed slice of it: the request's district, the window
  (default 7 days, HOTLINE_DUPLICATE_WINDOW_DAYS) and the open stages (ix_orders_open_district).
* "Same matter" is the same place and the same problem. The place comes from the catalogue's
  place names (the router's lexicon) and street-like words (…路, …街, …村); the problem from
  the router's own analysis (the responsibility entries and keywords it matched) and the text's
  character bigrams. Two requests that both name a place and share none are different matters
  however alike their problems are (the ditch on 塘边路 is not the ditch on 港西路).
* A candidate carries nothing of another petitioner: its title is masked as for a non-owner
  (hotline/domain/masking.py) and the evidence holds only words the new request itself contains.

Weights and threshold were set on tests/data/duplicates_eval.yaml (bench/duplicates_eval.py).
"""
from __future__ import annotations

import heapq
import os
import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, select

from hotline.domain.masking import mask_text
from hotline.domain.models import IntakeRequest, OrderState, Stage
from hotline.domain.routing.results import RoutingResult
from hotline.domain.routing.router import Router
from hotline.domain.routing.tokenizer import normalise
from hotline.store import Database
from hotline.store.tables import OrderRow

DEFAULT_WINDOW_DAYS = 7
THRESHOLD = 0.45  # a pair scoring at least this is offered as a candidate
MAX_POOL = 500  # newest open orders of the district looked at; a flood of more is one matter anyway
OPEN_STAGES = tuple(s.value for s in Stage if s != Stage.closed)

# Street-like words outside the catalogue: the two characters before a place suffix (塘边路 →
# 塘边路, 吉阳区港西路 → 港西路). Characters that make "路" an ordinary word are not places.
_STREET = re.compile(r"(?=([\u4e00-\u9fff]{2})(路|街|巷|大道|村|社区|小区|市场|农场))")
_NOT_PLACE = set("的了在到那这条段个一马走道上下边面进出大小好都也就还去来过夜里近旁个些村区镇市")


class DuplicateEvidence(BaseModel):
    places: list[str] = Field(default_factory=list, description="place words both name")
    matters: list[str] = Field(default_factory=list, description="responsibility-list matters both match")
    words: list[str] = Field(default_factory=list, description="catalogue keywords both contain")
    text_overlap: float = Field(description="share of character pairs in common (Dice)")


class DuplicateCandidate(BaseModel):
    order_no: str
    title: str = Field(description="masked as for a non-owner")
    stage: Stage
    owner: str
    created_at: datetime
    score: float
    evidence: DuplicateEvidence


@dataclass(frozen=True)
class Signature:
    places: frozenset[str]
    matters: frozenset[str]
    words: frozenset[str]
    grams: frozenset[str]


def window_days(env: dict | None = None) -> int:
    raw = (env if env is not None else os.environ).get("HOTLINE_DUPLICATE_WINDOW_DAYS", "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 365 else DEFAULT_WINDOW_DAYS


def _place_lexicon(router: Router) -> tuple[tuple[str, ...], frozenset[str]]:
    """(the catalogue's place names, longest first; the district-wide ones, which say nothing)."""
    cached = getattr(router, "_duplicate_places", None)
    if cached is None:
        places, wide = set(), set()
        for unit in router.catalogue.units:
            for p in unit.places:
                places.add(normalise(p))
                if unit.type == "district" and unit.name.startswith(p):
                    wide.add(normalise(p))  # 崖州区, 崖州: the whole district
            for e in unit.responsibilities:
                places.update(normalise(p) for p in e.places)
        cached = (tuple(sorted(places - wide, key=len, reverse=True)), frozenset(wide))
        # one lexicon per router (per catalogue), cached on the router itself: Router (the domain's)
        # does not declare this service's cache, hence the ignore
        router._duplicate_places = cached  # type: ignore[attr-defined]
    return cached


def _places(router: Router, norm: str) -> set[str]:
    lexicon, wide = _place_lexicon(router)
    found: set[str] = set()
    taken = [False] * len(norm)
    for p in lexicon:  # longest first: 南滨农场 before 南滨
        for m in re.finditer(re.escape(p), norm):
            if not any(taken[m.start():m.end()]):
                found.add(p)
                for i in range(m.start(), m.end()):
                    taken[i] = True
    for m in _STREET.finditer(norm):
        head, suffix = m.group(1), m.group(2)
        if not (set(head) & _NOT_PLACE) and not any(taken[m.start():m.start() + 2]) \
                and head + suffix not in wide:
            found.add(head + suffix)
    return found


def _grams(router: Router, norm: str, places: set[str]) -> frozenset[str]:
    # the problem's words, not the place's: places are compared on their own
    for p in sorted({*places, *_place_lexicon(router)[1]}, key=len, reverse=True):
        norm = norm.replace(p, " ")
    return frozenset(norm[i:i + 2] for i in range(len(norm) - 1) if " " not in norm[i:i + 2])


def signature(router: Router, text: str, district: str | None) -> Signature:
    norm = normalise(text)
    result = router.route(text, None, district)
    matters, words = set(), set()
    for c in result.candidates:
        if c.fallback:
            continue
        for e in c.matched_entries:
            matters.add(e.matter)
            words.update(e.matched_words)
    places = _places(router, norm)
    return Signature(frozenset(places), frozenset(matters), frozenset(words), _grams(router, norm, places))


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _shared_places(a: frozenset[str], b: frozenset[str]) -> list[str]:
    # 南滨 and 南滨农场, 凤凰 and 凤凰路: one inside the other names the same place
    return sorted({min(x, y, key=len) for x in a for y in b if x in y or y in x})


def _dice(a: Signature, b: Signature) -> float:
    return 2 * len(a.grams & b.grams) / (len(a.grams) + len(b.grams)) if a.grams and b.grams else 0.0


def score(a: Signature, b: Signature) -> float:
    """How likely two requests of one district are one matter (0..1). Every open order of the
    district is scored on each intake, so this builds nothing: `compare` adds the evidence for
    the few that are shown."""
    if a.places and b.places:
        place = 1.0 if any(x in y or y in x for x in a.places for y in b.places) else 0.0
    else:
        place = 0.5
    problem = 0.35 * _jaccard(a.matters, b.matters) + 0.35 * _jaccard(a.words, b.words) \
        + 0.3 * min(1.0, 2 * _dice(a, b))
    return round((0.35 * place + 0.65 * problem) * (0.5 if place == 0.0 else 1.0), 4)


def compare(a: Signature, b: Signature) -> tuple[float, DuplicateEvidence]:
    """How likely two requests of one district are one matter (0..1), and why."""
    evidence = DuplicateEvidence(places=_shared_places(a.places, b.places), matters=sorted(a.matters & b.matters),
                                 words=sorted(a.words & b.words), text_overlap=round(_dice(a, b), 3))
    return score(a, b), evidence


def order_text(row) -> str:
    st = row.state or {}
    address = (st.get("location") or {}).get("address") or ""
    return " ".join(x for x in (st.get("title") or row.title, st.get("description") or "", address) if x)


def request_text(req: IntakeRequest) -> str:
    return " ".join(x for x in (req.title, req.description, req.location.address or "") if x)


_O = OrderRow.__table__
_POOL = (select(_O.c.order_no)
         .where(_O.c.district == bindparam("d"), _O.c.created_at >= bindparam("since"), _O.c.stage.in_(OPEN_STAGES))
         .order_by(_O.c.created_at.desc()).limit(MAX_POOL))
_SHOWN = select(_O.c.order_no, _O.c.title, _O.c.stage, _O.c.owner, _O.c.created_at, _O.c.petitioner_name,
                _O.c.petitioner_phone).where(_O.c.order_no.in_(bindparam("nos", expanding=True)))


def open_orders(db: Database, district: str, since: datetime) -> list:
    """The numbers of the open orders of the district created since `since`, newest first: one
    range of ix_orders_open_district, nothing else read (every intake reads up to MAX_POOL of
    them; what a candidate shows is read for the few shown, `_shown`)."""
    with db.engine.connect() as c:
        return list(c.execute(_POOL, {"d": district, "since": since}).scalars())


def _shown(db: Database, order_nos: list[str]) -> dict[str, Any]:
    with db.engine.connect() as c:
        return {r.order_no: r for r in c.execute(_SHOWN, {"nos": order_nos})}


def _texts(db: Database, order_nos: list[str]) -> dict[str, str]:
    q = select(OrderRow.order_no, OrderRow.title, OrderRow.state).where(OrderRow.order_no.in_(order_nos))
    with db.session() as s:
        return {r.order_no: order_text(r) for r in s.execute(q)}


# An order's text never changes after intake, so its signature is computed once per router (a
# retrained router is a new object, with new signatures): without this every intake routed every
# open order of its district again, which made intake slower the more orders were open.
SIGNATURE_CACHE = 5000
_signatures: "weakref.WeakKeyDictionary[Router, OrderedDict[tuple[str, str], Signature]]" = weakref.WeakKeyDictionary()
_signatures_lock = threading.Lock()
# One thread computes missing signatures at a time, the others wait and then find them cached:
# twenty intakes at once all missing the same new orders each computed them all (the GIL gives
# the computation no parallelism to lose).
_computing = threading.Lock()


def _cached(router: Router, district: str, order_nos: list[str], found: dict[str, Signature]) -> list[str]:
    """Fill `found` from the cache; the order numbers still missing."""
    with _signatures_lock:
        cache = _signatures.setdefault(router, OrderedDict())
        for no in order_nos:
            if no not in found and (sig := cache.get((district, no))) is not None:
                cache.move_to_end((district, no))
                found[no] = sig
    return [no for no in order_nos if no not in found]


def _order_signatures(db: Database, router: Router, district: str, order_nos: list[str]) -> dict[str, Signature]:
    found: dict[str, Signature] = {}
    if not _cached(router, district, order_nos, found):
        return found
    with _computing:
        missing = _cached(router, district, order_nos, found)  # computed meanwhile by another request
        if missing:
            new = {no: signature(router, text, district) for no, text in _texts(db, missing).items()}
            with _signatures_lock:
                cache = _signatures.setdefault(router, OrderedDict())
                for no, sig in new.items():
                    cache[(district, no)] = sig
                while len(cache) > SIGNATURE_CACHE:
                    cache.popitem(last=False)
            found.update(new)
    return found


def find_duplicates(db: Database, router: Router, text: str, district: str | None, *,
                    now: datetime | None = None, days: int | None = None, limit: int = 3,
                    exclude: frozenset[str] | set[str] = frozenset()) -> list[DuplicateCandidate]:
    """The open orders (at most `limit`) likely to be the same matter as `text`, best first."""
    if district is None:  # the router may name it from the text (a place of one district)
        district = router.route(text).district
    if district is None:
        return []  # without a district there is no indexed slice to look in
    now = now or datetime.now(timezone.utc)
    pool = [no for no in open_orders(db, district, now - timedelta(days=days or window_days())) if no not in exclude]
    if not pool:
        return []
    mine = signature(router, text, district)
    theirs = _order_signatures(db, router, district, pool)
    scored = []
    for no in pool:  # newest first
        sig = theirs.get(no)  # None: gone between the two reads
        if sig is not None and (s := score(mine, sig)) >= THRESHOLD:
            scored.append((s, no))
    # the best scores, the newest first among equals (nsmallest is stable, the pool newest first);
    # the evidence and the masking only for what is shown: a flood has hundreds above the line
    best = heapq.nsmallest(limit, scored, key=lambda x: -x[0])
    shown = _shown(db, [no for _, no in best]) if best else {}
    found: list[DuplicateCandidate] = []
    for s, no in best:
        if (r := shown.get(no)) is None:  # gone since the pool was read
            continue
        _, ev = compare(mine, theirs[r.order_no])
        name, phone = r.petitioner_name, r.petitioner_phone
        ev = ev.model_copy(update={k: [mask_text(w, name, phone) for w in getattr(ev, k)]
                                   for k in ("places", "matters", "words")})
        found.append(DuplicateCandidate(order_no=r.order_no, title=mask_text(r.title, name, phone), stage=r.stage,
                                        owner=r.owner, created_at=r.created_at, score=s, evidence=ev))
    return found


def for_request(db: Database, router: Router, req: IntakeRequest,
                exclude: frozenset[str] | set[str] = frozenset()) -> list[DuplicateCandidate]:
    return find_duplicates(db, router, request_text(req), req.location.district, exclude=exclude)


class IntakeAnswer(OrderState):
    """The intake answer: the new order, and the open orders that may be the same matter."""
    duplicates: list[DuplicateCandidate] = Field(default_factory=list)


class RoutingAnswer(RoutingResult):
    duplicates: list[DuplicateCandidate] = Field(default_factory=list)
