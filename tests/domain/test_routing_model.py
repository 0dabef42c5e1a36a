"""The routing classifier blended with the evidence, and learning from corrections (issue 19).
Figures on the held-out set the model never trained on; no timing here (bench/routing_eval.py)."""
from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from hotline.domain.catalogue import default_catalogue_path, load_catalogue
from hotline.domain.routing.blend import LearnedRouter
from hotline.domain.routing.model import corpus_rows, model_version
from hotline.services.intake import intake_order
from hotline.services.routing_learning import add_example, corrections, retrain
from hotline.store.routing_models import ModelStore, base_cache_dir
from hotline.store.tables import RoutingSuggestionRow
from hotline.store.units import import_catalogue
from tests.domain.test_routing import DITCH
from tests.harness import intake, running_worker

CATALOGUE = load_catalogue(default_catalogue_path())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("models"))  # trains the base model at first use


@pytest.fixture(scope="module")
def router(store) -> LearnedRouter:
    return LearnedRouter(CATALOGUE, store)


def test_corpus_and_heldout_are_large_separate_and_cover_every_unit():
    train, held = corpus_rows(), corpus_rows("heldout.jsonl")
    owners = {u.code for u in CATALOGUE.owners()}
    assert len(train) >= 1500 and len(held) >= 300
    assert {r["unit"] for r in train} == owners == {r["unit"] for r in held}
    assert sum(r["kind"] != "plain" for r in held) * 3 >= len(held)
    assert not {r["text"] for r in train} & {r["text"] for r in held}
    for r in train + held:
        assert r["category"] and "district" in r
        assert not re.search(r"\d{7,}", r["text"]), "no phone or ID numbers in the corpus"


def test_heldout_figures(router):
    held = corpus_rows("heldout.jsonl")
    top1 = top3 = wrong_clear = 0
    for r in held:
        res = router.route(r["text"], r["category"], r["district"])
        ranked = [c.unit for c in res.candidates]
        top1 += ranked[:1] == [r["unit"]]
        top3 += r["unit"] in ranked[:3]
        wrong_clear += res.decision == "clear_owner" and ranked[0] != r["unit"]
    assert top1 / len(held) >= 0.92
    assert top3 / len(held) >= 0.98
    # The target; 2/314 (0.64%) at the time of writing: see bench/RESULTS.md.
    assert wrong_clear / len(held) <= 0.01


def test_answer_names_the_model_and_gives_confidences(router, store):
    r = router.route("我们这片突然停电了，已经三个小时了还没来电", "help")
    assert r.model_version == store.current_version() and r.model_version in r.explanation
    assert r.decision == "clear_owner" and r.candidates[0].unit == "GDJ"
    assert all(c.confidence is not None for c in r.candidates)
    assert abs(sum(c.confidence for c in r.candidates) - 1) < 0.05 or len(r.candidates) == 5


def test_drainage_ditch_stays_nearest_duty_to_jttz_with_its_evidence(router):
    r = router.route(DITCH, district="YZQ")
    assert r.decision == "nearest_duty" and r.candidates[0].unit == "JTTZ"
    entry = r.candidates[0].matched_entries[0]
    assert "塘边路" in entry.matter and "排水沟" in entry.matched_words
    assert "塘边路" in entry.matched_places and "就近原则" in r.explanation


def test_the_model_lowers_a_clear_owner_it_disagrees_with(router):
    r = router.route("红沙这边一个星期停了三次电，冰箱里的海鲜全臭了", "complaint", "JYQ")
    assert r.candidates[0].unit == "GDJ"
    assert r.decision != "clear_owner" or r.candidates[0].unit == "GDJ"


def test_without_a_model_the_router_says_it_uses_evidence_only(tmp_path):
    r = LearnedRouter(CATALOGUE, ModelStore(tmp_path, train_if_missing=False)).route("停电了", "help")
    assert r.model_version is None and "仅按权责清单" in r.explanation
    assert r.candidates[0].unit == "GDJ" and r.candidates[0].confidence is None


BIKES = ["{p}共享单车乱停把门口堵死了", "{p}的共享单车堆成山没人清", "共享单车横七竖八倒在{p}",
         "{p}门口一排共享电单车挡住了出口", "{p}那里共享单车停满了人行道"]
PLACES = ["小区", "地铁口", "学校", "医院门口", "商场", "菜市场", "公交站", "银行", "公园", "酒店"]


async def test_fifty_corrections_teach_a_phrasing(sqlite_db, store, router, ts_env):
    phrase = "楼下共享单车一大排，把单元门都堵住了"
    before = router.route(phrase, "complaint")
    assert before.candidates[0].unit != "ZFJ", "the phrasing must be one the model gets wrong"
    for i in range(50):
        text = BIKES[i % 5].format(p=PLACES[i // 5])
        add_example(sqlite_db, "intake_override", f"SY-T{i:03d}", text + "，电话13800001234", "ZFJ",
                    "complaint", None, before.candidates[0].unit)
    assert all("13800001234" not in c["text"] for c in corrections(sqlite_db))
    rep = retrain(sqlite_db, store, CATALOGUE)
    assert rep["promoted"] and rep["new"] != rep["old"]
    # not worse on the gate: held-out top-1 plus the held-back corrections' top-1
    assert (rep["new_heldout"][0] + rep["new_corrections"][0]
            >= rep["old_heldout"][0] + rep["old_corrections"][0])
    for text in [phrase, "共享单车把小区门口堵了没法进出", "门口那堆共享电单车谁来管"]:
        r = router.route(text, "complaint")
        assert r.candidates[0].unit == "ZFJ", (text, r.candidates[0].unit)
        assert r.model_version == rep["new"]
    import_catalogue(sqlite_db, CATALOGUE)
    async with running_worker(ts_env.client, sqlite_db) as h:
        st = await intake_order(sqlite_db, h.engine, router,
                                intake(title="共享单车", description=phrase, location={"district": "JYQ"}))
    assert st.owner == "ZFJ" and st.routing[0]["model_version"] == rep["new"]
    with sqlite_db.session() as s:
        assert s.get(RoutingSuggestionRow, st.order_no).model_version == rep["new"]


def _active_version(directory: str) -> str:
    return ModelStore(Path(directory)).active().version


def test_stores_share_one_cached_base_model_and_parallel_starts_agree(tmp_path, router):
    # The base model is in the per-user cache once any store has used it (the module's store
    # did): fresh var directories (a stack test, a test gateway) copy it instead of training.
    router.route("停电了", "help")
    rows = corpus_rows()
    base = model_version(rows, [1.0] * len(rows))
    cached = sorted(base_cache_dir().glob(f"{base}-*.joblib"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as ex:
        versions = list(ex.map(_active_version, [str(tmp_path / "one")] * 3 + [str(tmp_path / "two")]))
    assert set(versions) == {base}
    assert cached[0].stat().st_mtime_ns == stamp, "the cached base model was not retrained"
    for d in ("one", "two"):
        assert (tmp_path / d / "current").read_text().strip() == base
        assert not list((tmp_path / d).glob("*.tmp")), "no temporary file left behind"
