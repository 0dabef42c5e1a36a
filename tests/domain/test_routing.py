"""Routing by responsibility lists and the nearest-duty principle (SPEC §5–6, issue 5).
No timing here: speed is measured by bench/routing_speed.py."""

from pathlib import Path

import pytest
import yaml

from hotline.domain.routing.router import Router
from hotline.store.routing_models import make_router

EVAL_SET = Path(__file__).parent.parent / "data" / "routing_eval.yaml"
DITCH = "我家门口塘边路上离南滨医院500米左右那条排水沟堵了好久，下雨就漫到家里，也不知道归谁管"
HOTEL_PRICE = "三亚湾那边一家酒店春节一晚上房价涨到八千多，比平时贵了十倍，这不是宰客吗"


@pytest.fixture(scope="module")
def router() -> Router:
    return make_router(learned=False)


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def results(router, cases):
    return [router.route(c["text"], c.get("category"), c.get("district")) for c in cases]


# --------------------------------------------------------------------------- accuracy


def test_the_evaluation_set_is_large_and_spread_over_every_owner(router, cases):
    assert len(cases) >= 160
    expected = {c["expected"] for c in cases}
    owners = {u.code for u in router.catalogue.owners()}
    assert expected == owners, owners - expected
    assert any(c.get("district") for c in cases) and any(not c.get("district") for c in cases)


def test_top1_and_top3_accuracy(cases, results):
    top1 = sum(r.candidates[:1] and r.candidates[0].unit == c["expected"]
               for c, r in zip(cases, results, strict=True)) / len(cases)
    top3 = sum(c["expected"] in [x.unit for x in r.candidates[:3]]
               for c, r in zip(cases, results, strict=True)) / len(cases)
    assert top1 >= 0.85, f"top-1 {top1:.1%}"
    assert top3 >= 0.95, f"top-3 {top3:.1%}"


def test_hotline_is_never_suggested(router, results):
    assert all(c.unit != "HOTLINE" for r in results for c in r.candidates)
    r = router.route("我打12345热线反映了好几次都没人管，热线办到底管不管", "complaint", "TYQ")
    assert all(c.unit != "HOTLINE" for c in r.candidates)


def test_every_candidate_carries_its_evidence(results):
    for r in results:
        assert r.explanation
        for c in r.candidates:
            assert c.reason and c.name
            if not c.fallback:
                assert c.matched_entries and all(e.matched_words for e in c.matched_entries)
                assert c.matched_entries[0].matter in c.reason


# --------------------------------------------------------------------------- determinism


def test_same_input_same_ranking(router, cases):
    fresh = make_router(learned=False)
    for c in cases[::7]:
        args = (c["text"], c.get("category"), c.get("district"))
        a, b, d = router.route(*args), router.route(*args), fresh.route(*args)
        assert a == b == d


def test_ties_are_broken_by_unit_code(router):
    # 转移 no longer matches the districts; 台风 does, equally for all five governments.
    r = router.route("台风要来了")
    tied = [c for c in r.candidates if c.score == r.candidates[0].score]
    assert len(tied) == 5 and [c.unit for c in tied] == sorted(c.unit for c in tied)
    assert r.decision == "nearest_duty", "five equal governments are not a clear owner"


# --------------------------------------------------------------------------- decisions


def test_clear_owner(router):
    r = router.route("我们这片突然停电了，已经三个小时了还没来电", "help")
    assert r.decision == "clear_owner"
    assert r.candidates[0].unit == "GDJ"
    assert any("停电" in w for w in r.candidates[0].matched_entries[0].matched_words)
    assert "明确责任单位" in r.explanation


def test_the_drainage_ditch_goes_to_jttz_by_nearest_duty(router):
    r = router.route(DITCH, district="YZQ")
    assert r.decision == "nearest_duty"
    top = r.candidates[0]
    assert top.unit == "JTTZ"
    entry = top.matched_entries[0]
    assert "塘边路" in entry.matter, "the evidence names the project entry"
    assert "排水沟" in entry.matched_words and "塘边路" in entry.matched_places
    assert "塘边路" in top.reason and "就近原则" in r.explanation
    # The water bureau, whose drainage duty matches just as well, is the runner-up.
    assert "SWJ" in [c.unit for c in r.candidates[:3]]
    # And the district government of the place is listed as the fallback.
    assert any(c.unit == "YZQ" and c.fallback for c in r.candidates)


def test_a_site_bound_duty_does_not_apply_away_from_its_sites(router):
    r = router.route("家门口那条排水沟被垃圾堵死了，一下雨水就漫到路上", "help")
    assert r.candidates[0].unit == "SWJ"
    assert "JTTZ" not in [c.unit for c in r.candidates]
    r = router.route(DITCH, district="TYQ")  # the same words, another district
    assert "JTTZ" not in [c.unit for c in r.candidates]


def test_district_fallback_when_nothing_matches(router):
    r = router.route("你好，我想反映一个情况，就是那个事情一直没有人处理", "help", "HTQ")
    assert r.decision == "district_fallback"
    assert r.candidates[0].unit == "HTQ" and r.candidates[0].fallback
    assert "属地" in r.explanation


def test_nothing_matches_and_no_district_leaves_the_choice_to_the_operator(router):
    r = router.route("你好，我想反映一个情况，就是那个事情一直没有人处理")
    assert r.decision == "nearest_duty" and r.candidates == []
    assert "人工指定" in r.explanation


def test_district_inferred_from_a_place_name(router):
    r = router.route("崖城这边种瓜菜的补贴今年还有没有", "consultation")
    assert r.district == "YZQ" and r.district_inferred
    assert r.candidates[0].unit == "YZQ"
    r = router.route("想问下有没有种瓜菜的补贴", "consultation", "TYQ")
    assert r.district == "TYQ" and not r.district_inferred
    assert r.candidates[0].unit == "TYQ"
    assert {"YZQ", "JYQ", "HTQ", "YCQ"}.isdisjoint(c.unit for c in r.candidates)


def test_typo_still_routes_through_bigrams(router):
    r = router.route("邻居在搞违张建筑，在自家院子里又盖了两层", "report")
    assert r.candidates[0].unit == "ZFJ"
    words = r.candidates[0].matched_entries[0].matched_words
    assert {"违章建筑", "违法建筑"} & set(words), words  # one character off, still found


def test_bad_arguments_are_refused(router):
    with pytest.raises(ValueError):
        router.route("停电了", category="praise")
    with pytest.raises(ValueError):
        router.route("停电了", district="SHQ")
    with pytest.raises(ValueError):
        router.entry_coverage("NOPE", "停电了", "help")


# --------------------------------------------------------------------------- return review


def test_entry_coverage_levels(router):
    assert router.entry_coverage("SWJ", "小区停水两天了，自来水一直没来", "help").level == "full"
    part = router.entry_coverage("SWJ", "我们小区停水三天了，物业也不管不问，物业费倒是照收",
                                 "complaint")
    assert part.level == "partial" and "物业" in part.uncovered_words
    assert part.matched_entries and "停水" in part.matched_entries[0].matched_words
    none = router.entry_coverage("SWJ", HOTEL_PRICE, "complaint")
    assert none.level == "none" and none.matched_entries == []


def test_return_of_a_clear_water_matter_by_the_water_bureau_is_rejected(router):
    rec = router.recommend_return("SWJ", "ZJJ", "我们小区从昨天早上就停水了，自来水公司也没通知",
                                  "complaint", "JYQ")
    assert rec.decision == "reject" and rec.recommended_owner == "SWJ"
    assert rec.evidence["requesting"]["level"] == "full"
    assert "城市供水" in rec.reason


@pytest.mark.parametrize("claimed", ["LWJ", "SJJ"])
def test_return_of_a_hotel_price_complaint_by_the_water_bureau_is_approved(router, claimed):
    rec = router.recommend_return("SWJ", claimed, HOTEL_PRICE, "complaint", None)
    assert rec.decision == "approve" and rec.recommended_owner == claimed
    assert rec.evidence["requesting"]["level"] == "none"
    assert rec.evidence["claimed"]["level"] in ("full", "partial")
    assert rec.evidence["claimed"]["matched_entries"]


def test_return_naming_the_wrong_unit_is_approved_with_a_reroute(router):
    rec = router.recommend_return("SWJ", "WJW", HOTEL_PRICE, "complaint", None)
    assert rec.decision == "approve" and rec.recommended_owner in ("LWJ", "SJJ")
    assert rec.evidence["recommended_owner"] == rec.recommended_owner


def test_return_of_a_matter_partly_outside_is_rejected_to_coordinate(router):
    rec = router.recommend_return("SWJ", "ZJJ", "我们小区停水三天了，物业也不管不问，物业费倒是照收",
                                  "complaint", None)
    assert rec.decision == "reject" and rec.recommended_owner == "SWJ"
    assert rec.evidence["requesting"]["level"] == "partial"
    assert "协调" in rec.reason


def test_return_when_nobody_clearly_covers_is_rejected(router):
    rec = router.recommend_return("GDJ", "SWJ", "你好，我想反映一个情况，就是那个事情一直没有人处理",
                                  "help", "TYQ")
    assert rec.decision == "reject" and rec.recommended_owner == "GDJ"
    assert "首接负责" in rec.reason
