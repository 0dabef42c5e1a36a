"""Typed custom search attributes (SPEC §8), so admins can filter orders in the Temporal UI.

The names and types are hotline/domain/codes.py's; here they become the SDK's typed keys. Each key
is built by the constructor of its type and checked against codes.py's type at import, so a
change there that this module does not follow fails at once instead of at a workflow's upsert.
"""
from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey

from hotline.domain import codes
from hotline.domain.codes import SEARCH_ATTRIBUTES


def _typed(name: str, kind: str) -> None:
    if SEARCH_ATTRIBUTES[name] != kind:
        raise TypeError(f"search attribute {name} is {SEARCH_ATTRIBUTES[name]} in hotline/domain/codes.py, not {kind}")


def _keyword(name: str) -> SearchAttributeKey[str]:
    _typed(name, "Keyword")
    return SearchAttributeKey.for_keyword(name)


def _datetime(name: str) -> SearchAttributeKey[datetime]:
    _typed(name, "Datetime")
    return SearchAttributeKey.for_datetime(name)


def _bool(name: str) -> SearchAttributeKey[bool]:
    _typed(name, "Bool")
    return SearchAttributeKey.for_bool(name)


def _int(name: str) -> SearchAttributeKey[int]:
    _typed(name, "Int")
    return SearchAttributeKey.for_int(name)


ORDER_NO = _keyword(codes.SA_ORDER_NO)
OWNER = _keyword(codes.SA_OWNER)
CATEGORY = _keyword(codes.SA_CATEGORY)
URGENCY = _keyword(codes.SA_URGENCY)
STAGE = _keyword(codes.SA_STAGE)
DISTRICT = _keyword(codes.SA_DISTRICT)
DUE_AT = _datetime(codes.SA_DUE_AT)
OVERDUE = _bool(codes.SA_OVERDUE)
RETURN_COUNT = _int(codes.SA_RETURN_COUNT)

ALL = (ORDER_NO, OWNER, CATEGORY, URGENCY, STAGE, DISTRICT, DUE_AT, OVERDUE, RETURN_COUNT)
if {k.name for k in ALL} != set(SEARCH_ATTRIBUTES):  # every attribute of codes.py has its key
    raise TypeError("workflows/search_attributes.py and hotline/domain/codes.py name different search attributes")
