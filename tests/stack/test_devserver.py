"""On the real dev server: search attributes kept current so admins can filter in the UI."""
from __future__ import annotations

import asyncio

from hotline.domain.models import ReplyAction, SignAction
from tests.harness import running_worker


async def _ids(client, query: str) -> list[str]:
    return [w.id async for w in client.list_workflows(query)]


async def _eventually(client, query: str, expected: list[str]) -> None:
    for _ in range(50):  # visibility is eventually consistent
        if await _ids(client, query) == expected:
            return
        await asyncio.sleep(0.2)
    assert await _ids(client, query) == expected


async def test_search_attributes_follow_the_order(dev_env, sqlite_db):
    async with running_worker(dev_env.client, sqlite_db, search_attributes=True) as h:
        order_no, handle = await h.start(owner="ZJJ")
        wid = f"order-{order_no}"
        await _eventually(dev_env.client, f'OrderNo="{order_no}" AND Owner="ZJJ" AND Stage="dispatched"', [wid])
        await h.act(order_no, "sign", SignAction(by="ZJJ"))
        await _eventually(dev_env.client, f'OrderNo="{order_no}" AND Stage="signed" AND Overdue=false', [wid])
        desc = await handle.describe()
        attrs = {k.name: v for k, v in desc.typed_search_attributes}
        assert attrs["Category"] == "complaint" and attrs["District"] == "JYQ" and attrs["ReturnCount"] == 0
        assert attrs["DueAt"] is not None
        # no petitioner data in search attributes or the summary
        summary = await desc.static_summary()
        assert "13800001234" not in str(attrs) and "王小明" not in summary and order_no in summary
        await h.act(order_no, "reply", ReplyAction(by="ZJJ", result="已处理", resolved=True))
        await _eventually(dev_env.client, f'OrderNo="{order_no}" AND Stage="callback"', [wid])
