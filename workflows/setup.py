"""Cluster set-up: the custom search attributes of SPEC §8 and the weekly routing retrain (idempotent)."""
from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client

from hotline.domain.codes import SEARCH_ATTRIBUTES

_KINDS = {  # hotline/domain/codes.py's type names as the operator service's
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Adds the attributes the namespace lacks; returns their names."""
    have = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {name: _KINDS[kind] for name, kind in SEARCH_ATTRIBUTES.items() if name not in have.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
    return sorted(missing)


async def ensure_routing_retrain_schedule(client: Client, task_queue: str) -> bool:
    """The weekly routing retrain (issue 19) as a Schedule; True if it was created now.
    An existing schedule is left as it is (an operator may have paused it)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
    )

    from workflows.routing_retrain import SCHEDULE_CRON, SCHEDULE_ID, SCHEDULE_TIME_ZONE, RoutingRetrainWorkflow
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RoutingRetrainWorkflow.run, id=f"{SCHEDULE_ID}-run",
                                           task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[SCHEDULE_CRON], time_zone_name=SCHEDULE_TIME_ZONE),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
