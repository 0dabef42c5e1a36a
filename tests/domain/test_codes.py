"""One place per fact: hotline/domain/codes.py and the derived action sets (issue 17).

What can import codes.py does; what cannot (the compose file) is checked against it here. The
grep tests keep the facts from being written out again: a district list, the unit-code
pattern, the order-number pattern, an order's workflow id, the search attributes or a Router
built by hand anywhere but in their one place.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from hotline.domain import codes, transitions
from hotline.domain.catalogue import default_catalogue_path, load_catalogue

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("hotline", "workflows", "activities", "bench", "deploy", "scripts")
SOURCE_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".toml"}

# Files still re-stating a fact because they are being rewritten elsewhere (issue 17's single
# source of the rules); each entry goes once its file reads the fact from codes.py. An entry
# ending in "/" covers a folder.
PENDING: dict[str, str] = {}
# Spelled out in another language (the compose file's YAML, a benchmark's SQL), which cannot
# import codes.py: the compose file is checked against it below.
SPELLED_OUT = {
    "docker-compose.yml": "search attributes (the admin tools' script reads them from the environment)",
    "bench/kpi_bench.py": "order workflow id in bulk SQL that fakes two years of orders",
}


def _sources() -> list[tuple[str, str]]:
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*") if p.suffix in SOURCE_SUFFIXES]
    files += [p for p in ROOT.glob("*") if p.suffix in SOURCE_SUFFIXES]
    out = []
    for p in sorted(files):
        rel = p.relative_to(ROOT).as_posix()
        if p.is_file() and "__pycache__" not in rel:
            out.append((rel, p.read_text(encoding="utf-8", errors="replace")))
    return out


SOURCES = _sources()


def _stating(pattern: str) -> set[str]:
    rx = re.compile(pattern)
    skipped = [*PENDING, *SPELLED_OUT]
    return {rel for rel, text in SOURCES if rx.search(text)
            and not any(rel == s or (s.endswith("/") and rel.startswith(s)) for s in skipped)}


# ---------------------------------------------------------------- the facts themselves


def test_districts_are_the_literal_and_the_catalogue_district_governments():
    assert codes.DISTRICTS == get_args(codes.District) == ("YZQ", "TYQ", "JYQ", "HTQ", "YCQ")
    governments = {d for u in load_catalogue(default_catalogue_path()).units if u.type == "district"
                   for d in u.districts}
    assert governments == set(codes.DISTRICTS)


def test_console_labels_name_every_district():
    from hotline.console.labels import DISTRICTS as LABELS
    assert set(LABELS) == set(codes.DISTRICTS)


def test_unit_code_pattern_everywhere_is_the_one_of_codes():
    from hotline.domain.actor import OFFICE, parse_actor
    from hotline.store.apikeys import ROLE
    for code in (u.code for u in load_catalogue(default_catalogue_path()).units):
        assert codes.UNIT_CODE_RE.match(code)
        assert ROLE.match(f"department:{code}")
        if code != OFFICE:  # the hotline office acts as an admin
            assert parse_actor(code).unit == code
    for bad in ("zjj", "Z", "ZJJ-1", "A" * 17):
        assert not codes.UNIT_CODE_RE.match(bad)
        assert not ROLE.match(f"department:{bad}")


def test_order_numbers_issued_match_the_pattern():
    from hotline.domain.models import REQUEST_NO
    assert REQUEST_NO == codes.ORDER_NO
    assert codes.ORDER_NO_RE.fullmatch(f"{codes.ORDER_NO_PREFIX}20261126000123")
    for bad in ("SY2026112", "XX20261126000123", "SY20261126000123\n"):
        assert not codes.ORDER_NO_RE.fullmatch(bad)


def test_order_workflow_id_round_trips():
    assert codes.order_workflow_id("SY20261126000123") == "order-SY20261126000123"
    assert codes.order_no_of(codes.order_workflow_id("SY20261126000123")) == "SY20261126000123"
    assert codes.order_no_of("supervision-ZJJ") is None and codes.order_no_of(None) is None


def test_engine_uses_the_one_workflow_id_helper():
    from workflows import client as engine
    assert engine.order_workflow_id is codes.order_workflow_id


# ---------------------------------------------------------------- search attributes


def _compose_search_attributes() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["temporal-create-namespace"]["environment"]
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    pairs: dict[str, str] = {}
    for item in env["SEARCH_ATTRIBUTES"].split():
        name, _, kind = item.partition("=")
        assert name not in pairs, f"{name} registered twice"
        pairs[name] = kind
    return pairs


def test_compose_registers_the_search_attributes_of_codes():
    assert _compose_search_attributes() == codes.SEARCH_ATTRIBUTES


def test_stack_registers_the_search_attributes_of_codes():
    import stack
    assert stack.SEARCH_ATTRIBUTES is codes.SEARCH_ATTRIBUTES


def test_typed_keys_are_built_from_codes():
    from workflows import search_attributes as sa
    kinds = {"Keyword": "KEYWORD", "Datetime": "DATETIME", "Bool": "BOOL", "Int": "INT"}
    assert {k.name: k.indexed_value_type.name for k in sa.ALL} == {
        name: kinds[kind] for name, kind in codes.SEARCH_ATTRIBUTES.items()}


def test_setup_knows_every_type_of_codes():
    from workflows.setup import _KINDS
    assert set(codes.SEARCH_ATTRIBUTES.values()) <= set(_KINDS)


def test_setup_registers_the_missing_attributes_of_codes_with_their_types():
    import asyncio
    from types import SimpleNamespace

    from temporalio.api.enums.v1 import IndexedValueType

    from workflows.setup import register_search_attributes
    added: dict = {}

    class Operator:
        async def list_search_attributes(self, req):
            return SimpleNamespace(custom_attributes={"OrderNo": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD})

        async def add_search_attributes(self, req):
            added.update(req.search_attributes)

    names = asyncio.run(register_search_attributes(SimpleNamespace(operator_service=Operator()), "default"))
    assert names == sorted(set(codes.SEARCH_ATTRIBUTES) - {"OrderNo"})
    assert {k: IndexedValueType.Name(v).removeprefix("INDEXED_VALUE_TYPE_") for k, v in added.items()} == {
        k: v.upper() for k, v in codes.SEARCH_ATTRIBUTES.items() if k != "OrderNo"}


# ---------------------------------------------------------------- actions


def test_action_sets_are_the_table_actor_column():
    from hotline.domain import models
    table = transitions.TABLE
    assert transitions.ADMIN_ACTIONS == {a for a, t in table.items() if t.actor == "admin"}
    assert transitions.ADMIN_ACTIONS.isdisjoint(transitions.DEPARTMENT_ACTIONS)
    assert transitions.ADMIN_ACTIONS | transitions.DEPARTMENT_ACTIONS == set(table)
    assert set(models.ACTION_MODELS) | set(models.MERGE_ACTIONS) == set(table)
    assert not hasattr(models, "ADMIN_ACTIONS") and not hasattr(models, "DEPARTMENT_ACTIONS")


# ---------------------------------------------------------------- nobody re-states them


@pytest.mark.parametrize("what, pattern, home", [
    ("the district list", r"""["']YZQ["'],\s*["']TYQ["'],\s*["']JYQ["'],\s*["']HTQ["'],\s*["']YCQ["']""",
     {"hotline/domain/codes.py"}),
    ("the unit-code pattern", r"\[A-Z\]\[A-Z0-9_\]\{1,15\}", {"hotline/domain/codes.py"}),
    ("the order-number pattern", r"SY\\d\{8", {"hotline/domain/codes.py"}),
    ("an order's workflow id", r"""["']order-["']|f["']order-\{""", {"hotline/domain/codes.py"}),
    ("a supervision workflow id", r"""["']supervision-""", {"hotline/domain/supervision.py"}),
    ("a search attribute's name and type",
     r"""\b(OrderNo|ReturnCount|DueAt)\b["']?\s*[:=]\s*["']?(Keyword|Int|Datetime)\b|"""
     r"""SearchAttributeKey\.for_\w+\(["']""", {"hotline/domain/codes.py"}),
    ("the catalogue in force", r"catalogue_from_db\([\w.]+\) if units_loaded", set()),
    ("a Router built by hand", r"(?<!class )(?<![\w.])(Learned)?Router\(", {"hotline/store/routing_models.py"}),
    ("the derived action sets", r"^(ADMIN|DEPARTMENT)_ACTIONS\b.*=", {"hotline/domain/transitions.py"}),
    ("a class named LedgerEvent", r"^class LedgerEvent\b", {"hotline/domain/supervision.py"}),
])
def test_fact_is_written_in_one_place(what, pattern, home):
    found = _stating(pattern if not pattern.startswith("^") else "(?m)" + pattern)
    assert found <= home, f"{what} re-stated in {sorted(found - home)}: import it from {sorted(home)}"


def test_pending_and_spelled_out_files_exist():
    # a stale entry would hide a new re-statement in a file of that name
    for rel in SPELLED_OUT:
        assert (ROOT / rel).exists(), rel
