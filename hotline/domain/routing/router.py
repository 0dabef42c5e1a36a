"""The `Router`: built once from a `Catalogue`, it ranks the units for a request and says why."""

from __future__ import annotations

import math

from hotline.domain.catalogue import CATEGORIES, Catalogue, Unit
from hotline.domain.codes import DISTRICTS
from hotline.domain.routing.results import Candidate, Coverage, Recommendation, RoutingResult
from hotline.domain.routing.scoring import (
    CLEAR_MIN,
    CLEAR_RATIO,
    FULL_SHARE,
    FUZZY,
    FUZZY_MIN_SHARE,
    MATCH_MIN,
    OFF_CATEGORY,
    PLACE_WEIGHT,
    SUPPORT_WEIGHT,
    UNALIGNED,
    WEAK_MIN,
    _Analysis,
    _EntryMatch,
    _Hit,
    _length_weight,
    _non_overlapping,
    _UnitMatch,
)
from hotline.domain.routing.tokenizer import _tokenizer, normalise


class Router:
    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self._owners = catalogue.owners()  # the hotline office is never a candidate
        self._keywords: dict[str, list[tuple[int, int]]] = {}
        self._places: dict[str, list[tuple[int, int]]] = {}
        self._district_places: dict[str, str] = {}
        groups: dict[str, set[str]] = {}
        for ui, unit in enumerate(self._owners):
            # The five district governments share one list: count them as one "unit" for idf.
            group = "district" if unit.type == "district" else unit.code
            for ei, entry in enumerate(unit.responsibilities):
                for kw in {normalise(k) for k in entry.keywords}:
                    self._keywords.setdefault(kw, []).append((ui, ei))
                    groups.setdefault(kw, set()).add(group)
                for place in {normalise(p) for p in entry.places}:
                    self._places.setdefault(place, []).append((ui, ei))
            if unit.type == "district" and len(unit.districts) == 1:
                for place in unit.places:
                    self._district_places[normalise(place)] = unit.districts[0]
        n_groups = len({g for gs in groups.values() for g in gs}) or 1
        self._weight = {
            kw: _length_weight(kw) * math.log(1 + n_groups / len(gs)) / math.log(1 + n_groups)
            for kw, gs in groups.items()
        }
        terms = set(self._keywords) | set(self._places) | set(self._district_places)
        self._lengths: dict[str, tuple[int, ...]] = {}
        for term in terms:
            self._lengths[term[0]] = tuple(sorted({*self._lengths.get(term[0], ()), len(term)}))
        self._terms = terms
        self._bigrams: dict[str, list[tuple[str, int]]] = {}
        self._kw_bigrams: dict[str, int] = {}
        for kw in sorted(self._keywords):
            if len(kw) >= 4:
                first_at: dict[str, int] = {}
                for i in range(len(kw) - 1):
                    first_at.setdefault(kw[i : i + 2], i)
                self._kw_bigrams[kw] = len(first_at)
                for gram, offset in first_at.items():
                    self._bigrams.setdefault(gram, []).append((kw, offset))
        self._tok = _tokenizer(frozenset(t for t in terms if len(t) >= 2))

    # ------------------------------------------------------------------ public API

    def route(
        self, text: str, category: str | None = None, district: str | None = None, limit: int = 5
    ) -> RoutingResult:
        a = self._analyse(text, category, district)
        ranked = [m for m in a.units if m.score >= WEAK_MIN]
        candidates = [self._candidate(m) for m in ranked[:limit]]
        fallback_unit = self.catalogue.district_government(a.district) if a.district else None
        common = {"district": a.district, "district_inferred": a.inferred}

        if not ranked or ranked[0].score < MATCH_MIN:
            if fallback_unit is None:
                return RoutingResult(
                    candidates=candidates,
                    decision="nearest_duty",
                    explanation="诉求未匹配到任何单位的权责清单，且未提供所在区，无法按属地兜底；"
                    "请话务员确认地点后人工指定承办单位。",
                    **common,
                )
            fb = self._fallback_candidate(fallback_unit)
            others = [c for c in candidates if c.unit != fb.unit]
            return RoutingResult(
                candidates=[fb, *others][:limit],
                decision="district_fallback",
                explanation=f"诉求未匹配到任何单位的权责清单；按属地原则由{fallback_unit.name}"
                f"（{fallback_unit.code}）先行承办并协调。",
                **common,
            )

        top = ranked[0]
        by_matter = sorted(a.units, key=lambda m: (-round(m.matter_score, 6), m.unit.code))
        m1 = by_matter[0]
        m2 = by_matter[1].matter_score if len(by_matter) > 1 else 0.0
        if (
            m1.unit.code == top.unit.code
            and m1.matter_score >= CLEAR_MIN
            and m1.matter_score >= CLEAR_RATIO * m2
        ):
            runner = ""
            if len(ranked) > 1:
                runner = f"，明显领先{ranked[1].unit.name}（{ranked[1].score:.2f}）"
            return RoutingResult(
                candidates=candidates,
                decision="clear_owner",
                explanation=f"明确责任单位：{top.unit.name}（{top.unit.code}），得分{top.score:.2f}"
                f"{runner}。{candidates[0].reason}",
                **common,
            )

        if m1.matter_score < CLEAR_MIN:
            why = f"最接近的权责只得{m1.matter_score:.2f}分，不足以认定明确责任单位"
        elif m1.unit.code != top.unit.code:
            why = (f"按职责本身最接近的是{m1.unit.name}（{m1.matter_score:.2f}），"
                   f"但{top.unit.name}的项目就在诉求所述位置")
        else:
            why = f"{top.unit.name}与{by_matter[1].unit.name}的权责清单都覆盖该诉求，难分主次"
        if (fallback_unit is not None and limit > 1
                and all(c.unit != fallback_unit.code for c in candidates)):
            candidates = [*candidates[: limit - 1], self._fallback_candidate(fallback_unit)]
        return RoutingResult(
            candidates=candidates,
            decision="nearest_duty",
            explanation=f"无明确责任单位（{why}）；按就近原则派给权责最接近的{top.unit.name}"
            f"（{top.unit.code}）。{candidates[0].reason}",
            **common,
        )

    def segment(self, text: str) -> list[str]:
        """jieba's cut of the normalised text, the catalogue words in its dictionary (the
        segmentation route() works on; also the baseline of bench/routing_speed.py)."""
        return self._tok.lcut(normalise(text), HMM=False)

    def entry_coverage(
        self, unit_code: str, text: str, category: str | None = None, district: str | None = None
    ) -> Coverage:
        """How much of the request the unit's own list covers: full, partial or none."""
        self._check_unit(unit_code)
        a = self._analyse(text, category, district)
        return self._coverage(a, unit_code)

    def recommend_return(
        self,
        requesting_unit: str,
        claimed_unit: str | None,
        text: str,
        category: str | None = None,
        district: str | None = None,
    ) -> Recommendation:
        """SPEC §6: reject if the requesting unit's list covers the matter, wholly or in part
        (then it coordinates, it does not return); approve only if the matter is wholly outside
        its duties and another unit's list clearly covers it."""
        self._check_unit(requesting_unit)
        if claimed_unit:
            self._check_unit(claimed_unit)
        a = self._analyse(text, category, district)
        own = self._coverage(a, requesting_unit)
        claimed = self._coverage(a, claimed_unit) if claimed_unit else None
        scores = {m.unit.code: m for m in a.units}
        evidence: dict = {
            "requesting": own.model_dump(),
            "claimed": claimed.model_dump() if claimed else None,
            "routing": [
                {"unit": m.unit.code, "score": round(m.score, 4)}
                for m in a.units[:3]
                if m.score > 0
            ],
        }
        name = self.catalogue.unit(requesting_unit).name

        def verdict(decision, reason, owner=None) -> Recommendation:
            evidence["recommended_owner"] = owner
            return Recommendation(decision=decision, reason=reason, recommended_owner=owner,
                                  evidence=evidence)

        own_matters = "、".join(f"“{e.matter}”" for e in own.matched_entries)
        if own.level == "full":
            return verdict("reject", f"{name}自己的权责清单覆盖该诉求（{own_matters}），"
                           "退单理由不成立，应继续承办。", requesting_unit)
        if own.level == "partial":
            rest = "、".join(own.uncovered_words)
            return verdict("reject", f"诉求部分属于{name}的职责（{own_matters}），其余部分"
                           f"（{rest}）涉及其他单位；按首接负责制应由{name}牵头协调联办，不得退单。",
                           requesting_unit)

        def clearly_covers(code: str | None) -> bool:
            # The named unit needs its list to cover (part of) the matter; a unit we would
            # re-route to on our own needs to be a clear match.
            if code and code == claimed_unit:
                return claimed is not None and claimed.level != "none"
            m = scores.get(code) if code else None
            return bool(m and m.matter_score >= CLEAR_MIN and m.unit.type != "hotline")

        if claimed_unit and clearly_covers(claimed_unit):
            assert claimed is not None, "clearly_covers(claimed_unit) holds only when its list covers the matter"
            cl = self.catalogue.unit(claimed_unit)
            matters = "、".join(f"“{e.matter}”" for e in claimed.matched_entries)
            return verdict("approve", f"诉求完全不在{name}的权责清单内，{cl.name}的清单明确覆盖"
                           f"（{matters}），建议同意退单并改派{cl.name}。", claimed_unit)
        best = next((m for m in a.units if m.unit.code != requesting_unit), None)
        if best is not None and clearly_covers(best.unit.code):
            return verdict("approve", f"诉求完全不在{name}的权责清单内；所称单位的清单不能明确覆盖，"
                           f"但{best.unit.name}的清单明确覆盖（“{best.entries[0].entry.matter}”），"
                           f"建议同意退单并改派{best.unit.name}。", best.unit.code)
        return verdict("reject", f"诉求虽不在{name}的权责清单内，但没有其他单位的清单明确覆盖；"
                       f"按首接负责制与就近原则仍由{name}承办并协调。", requesting_unit)

    # ------------------------------------------------------------------ scoring

    def _check_unit(self, code: str) -> None:
        if not self.catalogue.has_unit(code):
            raise ValueError(f"unknown unit code {code!r}")

    def _analyse(self, text: str, category: str | None, district: str | None) -> _Analysis:
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
        if district is not None and district not in DISTRICTS:
            raise ValueError(f"unknown district {district!r}; expected one of {DISTRICTS}")
        norm = normalise(text)
        hits = self._hits(norm)
        inferred = False
        if district is None:
            found = {self._district_places[h.term] for h in hits if h.term in self._district_places}
            if len(found) == 1:  # two districts named: do not guess
                district, inferred = found.pop(), True
        a = _Analysis(text=norm, district=district, inferred=inferred)
        by_entry: dict[tuple[int, int], tuple[list[_Hit], list[_Hit]]] = {}
        for h in hits:
            for ref in self._keywords.get(h.term, ()):
                by_entry.setdefault(ref, ([], []))[0].append(h)
            for ref in self._places.get(h.term, ()):
                by_entry.setdefault(ref, ([], []))[1].append(h)
        per_unit: dict[int, list[_EntryMatch]] = {}
        for (ui, ei), (kw_hits, place_hits) in by_entry.items():
            unit = self._owners[ui]
            if district is not None and district not in unit.districts:
                continue
            entry = unit.responsibilities[ei]
            m = self._score_entry(entry, kw_hits, place_hits, category, district)
            if m is not None:
                per_unit.setdefault(ui, []).append(m)
        for ui, entries in per_unit.items():
            entries.sort(key=lambda e: (-e.score, e.entry.matter))
            best = entries[0]
            extra: dict[str, float] = {}
            for e in entries[1:]:
                for term, h in e.words.items():
                    if term not in best.words:
                        extra[term] = max(extra.get(term, 0.0), self._weight[term] * h.factor)
            support = SUPPORT_WEIGHT * sum(extra.values())
            a.units.append(_UnitMatch(self._owners[ui], entries, best.score + support,
                                      best.matter_score + support))
        a.units.sort(key=lambda m: (-round(m.score, 6), m.unit.code))
        return a

    def _hits(self, norm: str) -> list[_Hit]:
        # Catalogue words jieba kept whole: a keyword strictly inside one of them (医院 inside
        # the place name 南滨医院) is only weak evidence.
        inside = [0] * (len(norm) + 1)
        pos = 0
        for token in self._tok.cut(norm, HMM=False):
            if len(token) > 2 and token in self._terms:
                for i in range(pos, pos + len(token)):
                    inside[i] = pos + len(token)
            pos += len(token)
        hits: list[_Hit] = []
        exact: set[str] = set()
        n = len(norm)
        for i, ch in enumerate(norm):
            for length in self._lengths.get(ch, ()):
                j = i + length
                if j <= n and norm[i:j] in self._terms:
                    whole = inside[i] == 0 or (inside[i] == j and (i == 0 or inside[i - 1] != j))
                    hits.append(_Hit(norm[i:j], i, j, 1.0 if whole else UNALIGNED))
                    exact.add(norm[i:j])
        hits.extend(self._fuzzy_hits(norm, exact))
        return hits

    def _fuzzy_hits(self, norm: str, exact: set[str]) -> list[_Hit]:
        """Bigram fallback for keywords of 4+ characters that did not match exactly: enough of
        their bigrams present (拖欠我工资 for 拖欠工资), or one character off at a place a
        bigram anchors (违张建筑 for 违章建筑: homophone typos are substitutions)."""
        grams: dict[str, set[str]] = {}
        best: dict[str, _Hit] = {}
        n = len(norm)
        for i in range(n - 1):
            for kw, offset in self._bigrams.get(norm[i : i + 2], ()):
                if kw in exact:
                    continue
                grams.setdefault(kw, set()).add(norm[i : i + 2])
                start = i - offset
                end = start + len(kw)
                if start >= 0 and end <= n and kw not in best:
                    window = norm[start:end]
                    if sum(a != b for a, b in zip(window, kw, strict=True)) == 1:
                        best[kw] = _Hit(kw, start, end, FUZZY * (len(kw) - 1) / len(kw), True)
        for kw, found in grams.items():
            share = len(found) / self._kw_bigrams[kw]
            if kw not in best and share >= FUZZY_MIN_SHARE:
                i = norm.find(kw[:2])
                i = i if i >= 0 else norm.find(kw[-2:])
                best[kw] = _Hit(kw, max(i, 0), max(i, 0) + 2, FUZZY * share, True)
        return list(best.values())

    def _score_entry(self, entry, kw_hits, place_hits, category, district) -> _EntryMatch | None:
        if entry.districts and district is not None and district not in entry.districts:
            return None
        places = _non_overlapping(place_hits)
        if entry.places and not places:
            return None  # a site-bound duty applies only at its sites
        words = {h.term: h for h in _non_overlapping(kw_hits)}
        if not words:
            return None
        matter = sum(self._weight[t] * h.factor for t, h in words.items())
        if category is not None and category not in entry.categories:
            matter *= OFF_CATEGORY
        bonus = PLACE_WEIGHT * min(len(places), 2)
        return _EntryMatch(entry, words, [h.term for h in places], matter, matter + bonus)

    def _coverage(self, a: _Analysis, code: str) -> Coverage:
        def positions(m: _UnitMatch) -> set[int]:
            return {i for e in m.entries if e.matter_score >= MATCH_MIN
                    for h in e.words.values() for i in range(h.start, h.end)}

        signal: set[int] = set()
        words_at: dict[int, str] = {}
        mine: _UnitMatch | None = None
        for m in a.units:
            pos = positions(m)
            signal |= pos
            for e in m.entries:
                for h in e.words.values():
                    for i in range(h.start, h.end):
                        words_at.setdefault(i, h.term)
            if m.unit.code == code:
                mine = m
        own = positions(mine) if mine else set()
        counted = [e for e in mine.entries if e.matter_score >= MATCH_MIN] if mine else []
        entries = [e.evidence() for e in counted]
        share = len(own & signal) / len(signal) if signal else 0.0
        level = "none" if not entries else ("full" if share >= FULL_SHARE else "partial")
        uncovered = sorted({words_at[i] for i in signal - own}, key=lambda w: a.text.find(w))
        return Coverage(unit=code, level=level, share=round(share, 4), matched_entries=entries,
                        uncovered_words=uncovered)

    def _candidate(self, m: _UnitMatch) -> Candidate:
        best = m.entries[0]
        words = "、".join(f"“{w}”" for w in best.words)
        reason = f"{m.unit.name}的权责清单“{best.entry.matter}”匹配{words}"
        if best.places:
            reason += f"，其项目地点“{'、'.join(best.places)}”就在诉求所述位置"
        if best.entry.basis:
            reason += f"（依据{best.entry.basis}）"
        if len(m.entries) > 1:
            reason += f"；另有{len(m.entries) - 1}项职责相关"
        return Candidate(unit=m.unit.code, name=m.unit.name, score=round(m.score, 4),
                         matched_entries=[e.evidence() for e in m.entries], reason=reason + "。")

    @staticmethod
    def _fallback_candidate(unit: Unit) -> Candidate:
        return Candidate(unit=unit.code, name=unit.name, score=0.0, matched_entries=[],
                         fallback=True, reason=f"属地兜底：{unit.name}对本辖区事务负属地责任，诉求无明确责任单位时"
                         "由其先行承办并协调。")
