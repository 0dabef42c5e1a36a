"""Temporal holds no petitioner in clear (issue 13, finding 1), on the real dev server.

A whole lifecycle whose petitioner's name and phone also appear in the title, description,
contact note and reply; then the order's history, memo, summary and search attributes are read
by a client *without* the codec, as anyone reaching the frontend would: every payload is sealed
and neither the name nor the phone (in any format) appears anywhere. With the codec, the same
history opens. The saved pre-encryption histories prove the scan finds data when it is there.
"""
from __future__ import annotations

from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from hotline.domain.models import CallbackAction, ContactAction, ReplyAction, SignAction
from tests.harness import intake, running_worker, seed_order_numbers
from workflows.codec import ENCODING

NAME, PHONE = "诸葛测隐", "13855501234"
FORMS = [PHONE, "138-5550-1234", "138 5550 1234", "138.5550.1234", "+8613855501234", NAME]


def payloads_in(msg: Message, attributes: bool = False, _inside: bool = False) -> list[Payload]:
    """Every Payload inside a protobuf message (history event, description, …): those of search
    attributes (plaintext by design) when `attributes`, all the others otherwise."""
    if isinstance(msg, Payload):
        return [msg] if attributes == _inside else []
    found: list[Payload] = []
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        inside = _inside or field.name == "search_attributes"
        items = [value] if isinstance(value, Message) else (
            value.values() if field.message_type.GetOptions().map_entry else value)  # one, a map or a list
        for item in items:
            if isinstance(item, Message):
                found += payloads_in(item, attributes, inside)
    return found


def leaks(blobs: list[bytes]) -> list[str]:
    text = b"\n".join(blobs).decode("utf-8", errors="replace")
    escaped = NAME.encode("unicode_escape").decode().lower()  # JSON written with \\u escapes
    return [f for f in FORMS if f in text] + ([NAME] if escaped in text.lower() else [])


def test_the_scan_finds_the_petitioner_in_a_history_from_before_encryption():
    path = Path(__file__).parent.parent / "histories" / "happy_path_closed.json"
    hist = WorkflowHistory.from_json("order-x", path.read_text(encoding="utf-8"))
    blobs = [p.data for e in hist.events for p in payloads_in(e)]
    assert b"13800001234" in b"".join(blobs)  # the control: old orders hold the phone in clear


async def test_temporal_stores_the_petitioner_only_sealed(dev_env, sqlite_db):
    seed_order_numbers(sqlite_db)
    req = intake(title=f"{NAME}反映工地噪音 电话{PHONE}",
                 description=f"我是{NAME}，手机 138-5550-1234，晚上十一点还在打桩",
                 petitioner={"name": NAME, "phone": PHONE})
    async with running_worker(dev_env.client, sqlite_db, policy="fast", search_attributes=True) as h:
        order_no, handle = await h.start(owner="ZJJ", req=req)
        await h.act(order_no, "sign", SignAction(by="ZJJ"))
        await h.act(order_no, "contact", ContactAction(by="ZJJ", note=f"已联系{NAME}（138 5550 1234）"))
        await h.act(order_no, "reply", ReplyAction(by="ZJJ", result=f"已告知{NAME}：已停工", resolved=True))
        await h.act(order_no, "callback", CallbackAction(by="admin:li", answered=True, resolved=True,
                                                         satisfaction="satisfied"))
        await handle.result()

    # anyone at the frontend: a client with the plain converter, no key ring
    raw = await Client.connect(dev_env.client.service_client.config.target_host,
                               data_converter=pydantic_data_converter)
    raw_handle = raw.get_workflow_handle(handle.id)
    hist = await raw_handle.fetch_history()
    desc = await raw_handle.describe()
    payloads = [p for e in hist.events for p in payloads_in(e)] + payloads_in(desc.raw_description)
    assert len(payloads) > 20
    # the SDK core's own bookkeeping in markers (patch ids; a local activity's seq, type and
    # times) is written outside the codec; it holds no data of ours, and the leak scan covers it
    core = [p for e in hist.events if e.HasField("marker_recorded_event_attributes")
            for k, ps in e.marker_recorded_event_attributes.details.items() if k in ("patch-data", "data")
            for p in ps.payloads]
    unsealed = [p for p in payloads if p.metadata.get("encoding") != ENCODING and p not in core]
    assert unsealed == [], f"{len(unsealed)} payloads in clear: {[p.data[:150] for p in unsealed]}"
    assert leaks([p.data for p in payloads]) == []
    # search attributes are plaintext by design: they must hold nothing personal
    attrs = [p.data for e in hist.events for p in payloads_in(e, attributes=True)]
    attrs += [p.data for p in payloads_in(desc.raw_description, attributes=True)]
    assert leaks(attrs) == [] and order_no.encode() in b"".join(attrs)
    # nor does the static summary, once opened: order number, category and owner only
    summary = await (await handle.describe()).static_summary()
    assert summary == f"{order_no} [complaint/normal] → ZJJ"

    # with the codec, the same history opens: the workflow input holds the petitioner
    started = hist.events[0].workflow_execution_started_event_attributes.input.payloads
    plain = await dev_env.client.data_converter.payload_codec.decode(started)
    assert PHONE.encode() in plain[0].data and NAME.encode() in plain[0].data
