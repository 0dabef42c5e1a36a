"""Typed custom search attributes (SPEC §8), so admins can filter orders in the Temporal UI."""
from temporalio.common import SearchAttributeKey

ORDER_NO = SearchAttributeKey.for_keyword("OrderNo")
OWNER = SearchAttributeKey.for_keyword("Owner")
CATEGORY = SearchAttributeKey.for_keyword("Category")
URGENCY = SearchAttributeKey.for_keyword("Urgency")
STAGE = SearchAttributeKey.for_keyword("Stage")
DISTRICT = SearchAttributeKey.for_keyword("District")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
RETURN_COUNT = SearchAttributeKey.for_int("ReturnCount")

ALL = (ORDER_NO, OWNER, CATEGORY, URGENCY, STAGE, DISTRICT, DUE_AT, OVERDUE, RETURN_COUNT)
