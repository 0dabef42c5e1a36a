"""The Temporal side of hotline/store/commits.py: which local-activity writes did the history record?

Each local activity of ours returns the token of its execution; the history records it in the
task's marker only if the task committed. The watcher reads the tail of the order's history
(never a query: nothing reaches the worker), one read per order per round, decodes the markers' results
with the client's data converter (the payload codec included) and lets hotline/store/commits.py
confirm or void each held write.
"""
from __future__ import annotations

import asyncio
import logging

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from hotline.domain.codes import order_workflow_id
from hotline.runtime.metrics import COMMIT_WRITES, ORDERS_HEALED
from hotline.store import Database
from hotline.store.commits import decide, pending, settle

log = logging.getLogger("hotline.store.commits")


_NO_REVERSE: set[str] = set()  # servers (by address) without the backwards read: forwards instead


async def _token_of(conv, e) -> str | None:
    if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    details = e.marker_recorded_event_attributes.details
    if "result" not in details or not details["result"].payloads:
        return None
    try:
        (value,) = await conv.decode(details["result"].payloads)
    except Exception:  # not ours (a patch marker, an undecodable result): no token in it
        return None
    return value if isinstance(value, str) and value.startswith("tok:") else None


async def recorded_tokens(client: Client, workflow_id: str, since: int = 1) -> tuple[set[str], int]:
    """The tokens the order's history recorded as local-activity results from event `since` on,
    and the history's length.

    Read backwards, newest event first, and only down to `since` (the earliest workflow task
    with a write still held): a marker of that task comes after its start, so the tail that the
    last action added is all there is to read, however long the order's history has grown.
    A server without the backwards read (the time-skipping test server) is read forwards, whole.
    """
    address = client.service_client.config.target_host
    if address not in _NO_REVERSE:
        try:
            return await _read_backwards(client, workflow_id, since)
        except RPCError as exc:
            if exc.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            _NO_REVERSE.add(address)
    tokens: set[str] = set()
    length = 0
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        length = e.event_id
        if e.event_id >= since and (token := await _token_of(client.data_converter, e)):
            tokens.add(token)
    return tokens, length


async def _read_backwards(client: Client, workflow_id: str, since: int) -> tuple[set[str], int]:
    req = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id), maximum_page_size=16)
    tokens: set[str] = set()
    length = 0
    while True:
        page = await client.workflow_service.get_workflow_execution_history_reverse(req)
        for e in page.history.events:
            length = max(length, e.event_id)
            if e.event_id < since:
                return tokens, length
            if token := await _token_of(client.data_converter, e):
                tokens.add(token)
        if not page.next_page_token:
            return tokens, length
        req.next_page_token = page.next_page_token


async def settle_round(db: Database, client: Client, concurrency: int = 8, quiet: float = 0.0) -> int:
    """One pass over every order with held writes. Returns how many orders were settled."""
    work = await asyncio.to_thread(pending, db, 200, quiet)
    sem = asyncio.Semaphore(concurrency)
    done = 0

    async def one(order_no: str, writes: set[tuple[str, int]]) -> None:
        nonlocal done
        wid = order_workflow_id(order_no)
        async with sem:
            try:
                recorded, length = await recorded_tokens(client, wid, since=min(w for _, w in writes))
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                return
            confirmed, voided = decide(writes, recorded, length)
            if not (confirmed or voided):
                return
            resync = await asyncio.to_thread(settle, db, order_no, confirmed, voided)
            done += 1
            COMMIT_WRITES.labels("confirmed").inc(len(confirmed))
            COMMIT_WRITES.labels("voided").inc(len(voided))
            if voided:
                ORDERS_HEALED.inc()
                log.warning("order %s: %d write(s) of a workflow task that never committed were voided",
                            order_no, len(voided))
            if resync:
                await client.get_workflow_handle(wid).signal("resync_read_model")
    await asyncio.gather(*(one(no, t) for no, t in work.items()))
    return done


async def watch(db: Database, client: Client, stop: asyncio.Event, every: float = 0.5, quiet: float = 1.0) -> None:
    """The worker's loop: settle held writes until stopped (an order once quiet for `quiet`
    seconds: a notice goes out a second or two after its action). An outage is retried."""
    while not stop.is_set():
        try:
            await settle_round(db, client, quiet=quiet)
        except Exception as exc:  # the database or the server away: try again soon
            log.warning("commit watcher: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except asyncio.TimeoutError:
            pass
