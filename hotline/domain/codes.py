"""The identifiers the whole system agrees on, each written once (SPEC §2, §5, §8).

Districts, the shape of a unit code, the workflow id of an order and the custom search
attributes are facts that the models, the catalogue, the routing, the HTTP app, the workflows
and the deployment all rely on. They live here so that changing one changes it everywhere.
Pure: no Temporal, no database, no pydantic, so every layer (and the workflow sandbox) may
import it. The compose file cannot import Python: tests/domain/test_codes.py checks it against this.
"""
from __future__ import annotations

import re
from typing import Literal, get_args

# ---------------------------------------------------------------- districts
# The five districts of Sanya. The Literal is the one spelling: type checkers and pydantic need
# the literal values, and the tuple is read from it. (Their Chinese names are console labels:
# hotline/console/labels.py, checked against this by tests/domain/test_codes.py.)
District = Literal["YZQ", "TYQ", "JYQ", "HTQ", "YCQ"]
DISTRICTS: tuple[str, ...] = get_args(District)

# ---------------------------------------------------------------- unit codes
# A unit's code in the catalogue, in key roles (`department:<code>`) and in actors.
UNIT_CODE_BODY = r"[A-Z][A-Z0-9_]{1,15}"  # unanchored, to embed in larger patterns
UNIT_CODE = rf"^{UNIT_CODE_BODY}$"  # for pydantic / FastAPI `pattern=`
UNIT_CODE_RE = re.compile(UNIT_CODE)

# ---------------------------------------------------------------- order numbers
# SY<yyyymmdd><nnnnnn> (SPEC §2); merged requests take theirs from the same series. The pattern
# allows longer forms so that numbers issued by another series or a test still validate.
ORDER_NO_PREFIX = "SY"
ORDER_NO_BODY = rf"{ORDER_NO_PREFIX}\d{{8,20}}"  # unanchored, to find numbers in a list
ORDER_NO = rf"^{ORDER_NO_BODY}$"  # for pydantic / FastAPI `pattern=`
ORDER_NO_RE = re.compile(ORDER_NO)

# ---------------------------------------------------------------- workflow ids
ORDER_WORKFLOW_PREFIX = "order-"


def order_workflow_id(order_no: str) -> str:
    """The id of an order's workflow (one per order number, also for an unmerged request)."""
    return f"{ORDER_WORKFLOW_PREFIX}{order_no}"


def order_no_of(workflow_id: str | None) -> str | None:
    """The order number an order's workflow id carries; None for any other workflow."""
    if workflow_id and workflow_id.startswith(ORDER_WORKFLOW_PREFIX):
        return workflow_id[len(ORDER_WORKFLOW_PREFIX):]
    return None


# ---------------------------------------------------------------- search attributes (SPEC §8)
# Names and types as the Temporal CLI spells them (`--search-attribute Name=Type`).
SearchAttributeType = Literal["Keyword", "Datetime", "Bool", "Int"]

SA_ORDER_NO = "OrderNo"
SA_OWNER = "Owner"
SA_CATEGORY = "Category"
SA_URGENCY = "Urgency"
SA_STAGE = "Stage"
SA_DISTRICT = "District"
SA_DUE_AT = "DueAt"
SA_OVERDUE = "Overdue"
SA_RETURN_COUNT = "ReturnCount"

SEARCH_ATTRIBUTES: dict[str, SearchAttributeType] = {
    SA_ORDER_NO: "Keyword", SA_OWNER: "Keyword", SA_CATEGORY: "Keyword", SA_URGENCY: "Keyword",
    SA_STAGE: "Keyword", SA_DISTRICT: "Keyword", SA_DUE_AT: "Datetime", SA_OVERDUE: "Bool",
    SA_RETURN_COUNT: "Int",
}
