"""The privacy scan (issue 13, "Must show"): one order's whole life on the real stack — the dev
server, `python worker.py` and `uvicorn gateway:app` as their own processes, logging to files
as the run command's do — with a petitioner whose name and phone also appear in the title,
description, contact note and reply, written plain, separated and in full-width forms. Then
neither the name nor the phone, in any format, may appear in:
  * the Temporal history read without the codec, the search attributes, the workflow's
    summary and details (opened with the codec: order number, category, owner only);
  * the worker's and the gateway's log files;
  * Open311 responses and every response to a key that is not the owner's (intake, other
    departments), lists included.
The owner and the admin do read it (the control: the scan would find it if it leaked).
"""
from __future__ import annotations

import os
import re
import uuid
from urllib.parse import quote

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from hotline.domain.masking import fold
from hotline.store import Database
from tests.api.test_api import ORDER, H, prepare
from tests.conftest import free_port
from tests.harness import seed_order_numbers
from tests.stack.obs_stack import start_processes, stop_process, until
from tests.stack.test_encrypted_history import payloads_in

NAME, PHONE = "欧阳测隐", "13855501234"
# the phone's digits in order with up to two separators between them (spaces, dots, dashes,
# brackets, +86 …), on text folded from full-width forms
_PHONE_ANY = re.compile(r"(?<![0-9])" + r"[^0-9]{0,2}".join(PHONE) + r"(?![0-9])")
_NAME_ANY = re.compile(r"[\s.·・•_\-]{0,2}".join(NAME))


def leaks(text: str) -> list[str]:
    folded = fold(text)
    found = [m.group(0) for m in _PHONE_ANY.finditer(folded)] + [m.group(0) for m in _NAME_ANY.finditer(folded)]
    for encoded in (NAME.encode("unicode_escape").decode(), quote(NAME)):  # \\u escapes, URL encoding
        if encoded.lower() in text.lower():
            found.append(encoded)
    return found


def test_the_scan_finds_every_format_it_looks_for():
    for written in (PHONE, "138-5550-1234", "138 5550 1234", "138.5550.1234", "+86 138 5550 1234",
                    "１３８５５５０１２３４", "138－5550－1234", "(138)5550-1234", NAME, "欧阳 测隐", "欧阳　测隐",
                    '"\\u6b27\\u9633\\u6d4b\\u9690"', quote(NAME)):
        assert leaks(f"工单备注：{written}。"), written
    assert leaks("138****1234 欧*** SY20261126000001 2026-11-26 13:55:50") == []


async def test_no_trace_of_the_petitioner_outside_the_owner_and_admins(dev_env, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    db.migrate()
    keys = prepare(db)
    seed_order_numbers(db)
    port, queue = free_port(), f"scan-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "DATABASE_URL": db.url, "HOTLINE_TASK_QUEUE": queue, "HOTLINE_POLICY": "fast",
           "HOTLINE_HTTP_PORT": str(port)}
    logs = tmp_path / "var"
    logs.mkdir()
    worker, gateway = start_processes(env, logs, port)  # as the run command starts them
    non_owner: list[str] = []  # every response a non-owner got
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            async def ready():
                try:
                    return (await c.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False
            await until(ready, "the gateway")
            body = {**ORDER, "title": f"{NAME}反映工地噪音，电话１３８５５５０１２３４",
                    "description": f"我是{NAME}（欧阳 测隐），手机 +86 138 5550 1234，也可打138－5550－1234",
                    "petitioner": {"name": NAME, "phone": PHONE}}
            r = await c.post("/api/v1/orders", headers={**H(keys["intake"]), "Idempotency-Key": "scan-1"}, json=body)
            assert r.status_code == 201, r.text
            non_owner.append(r.text)
            no = r.json()["order_no"]
            zjj, admin = H(keys["ZJJ"]), H(keys["admin"])
            steps = [("sign", zjj, None),
                     ("contact", zjj, {"note": f"已电话联系{NAME}（138.5550.1234），约定明早上门"}),
                     ("reply", zjj, {"result": f"已告知{NAME}：工地已停工，回电１３８ ５５５０ １２３４",
                                     "resolved": True}),
                     ("callback", admin, {"answered": True, "resolved": True, "satisfaction": "satisfied"})]
            for action, who, payload in steps:
                r = await c.post(f"/api/v1/orders/{no}/{action}", headers=who, json=payload)
                assert r.status_code == 200, (action, r.text)
                # another department trying the same action: refused, and told nothing personal
                r = await c.post(f"/api/v1/orders/{no}/{action}", headers=H(keys["SWJ"]), json=payload)
                assert r.status_code in (403, 409), r.text
                non_owner.append(r.text)

            async def closed():
                r = await c.get(f"/api/v1/orders/{no}", headers=admin)
                return r.json()["stage"] == "closed" and r
            owner_view = await until(closed, "the order to close")
            assert leaks(owner_view.text), "the control: an admin reads the petitioner"
            assert leaks((await c.get(f"/api/v1/orders/{no}", headers=zjj)).text), "and so does the owner"

            for who in ("intake", "SWJ", "JTJ"):
                for path in (f"/api/v1/orders/{no}", "/api/v1/orders", "/api/v1/orders?owner=ZJJ&limit=50"):
                    r = await c.get(path, headers=H(keys[who]))
                    assert r.status_code == 200, (who, path, r.text)
                    non_owner.append(r.text)
            r = await c.get("/api/v1/orders", headers=admin)  # lists are masked even for admins
            non_owner.append(r.text)
            for path in (f"/open311/v2/requests/{no}.json", f"/open311/v2/requests/{no}.xml",
                         "/open311/v2/requests.json", "/open311/v2/requests.xml"):
                r = await c.get(path)
                assert r.status_code == 200, (path, r.text)
                non_owner.append(r.text)
            assert any(no in t for t in non_owner)

            # the SMS to the petitioner went out (through the log adapter) before the logs are read
            async def sms_logged():
                return "sms to 138****1234" in (logs / "worker.log").read_text(encoding="utf-8", errors="replace")
            await until(sms_logged, "an SMS to the petitioner in the worker's log")
    finally:
        stop_process(gateway)
        stop_process(worker)
        db.dispose()

    for text in non_owner:
        assert leaks(text) == [], (leaks(text), text[:500])

    worker_log = (logs / "worker.log").read_text(encoding="utf-8", errors="replace")
    gateway_log = (logs / "gateway.log").read_text(encoding="utf-8", errors="replace")
    assert f"POST /api/v1/orders/{no}/reply" in gateway_log  # the gateway did log its requests
    assert leaks(worker_log) == [], leaks(worker_log)
    assert leaks(gateway_log) == [], leaks(gateway_log)

    # Temporal, read as anyone at the frontend would: no key ring
    raw = await Client.connect(dev_env.client.service_client.config.target_host,
                               data_converter=pydantic_data_converter)
    handle = raw.get_workflow_handle(f"order-{no}")
    hist = await handle.fetch_history()
    desc = await handle.describe()
    payloads = [p for e in hist.events for p in payloads_in(e)] + payloads_in(desc.raw_description)
    attributes = [p for e in hist.events for p in payloads_in(e, attributes=True)] + \
        payloads_in(desc.raw_description, attributes=True)
    assert len(payloads) > 20 and attributes
    blob = "\n".join(p.data.decode("utf-8", errors="replace") for p in payloads + attributes)
    assert no in blob and leaks(blob) == []  # the order number is there in clear, the petitioner is not
    listed = [w async for w in raw.list_workflows(f'OrderNo="{no}"')]
    assert len(listed) == 1 and leaks(str(listed[0].search_attributes)) == []
    # summary and details, opened with the codec: order number, category and owner only
    opened = await dev_env.client.get_workflow_handle(f"order-{no}").describe()
    summary, details = await opened.static_summary(), await opened.static_details()
    assert summary == f"{no} [complaint/normal] → ZJJ"
    assert leaks(f"{summary}\n{details or ''}") == []
