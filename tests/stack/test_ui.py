"""Admins really can read it: the Temporal Web UI, in headless Chromium, tells an order's story.

Starts the real dev server *with* its Web UI (the session `dev_env` has none) and, as shipped,
refusing queries and pointing the UI at the gateway's codec server (payloads are encrypted; the
admin signs in there first, see tests/stack/test_ui_codec.py); runs a real worker and the gateway,
takes an order owned by ZJJ through sign and first contact, then, with the worker still running
and the order open, drives the UI as an admin
would: the workflow list filtered by `Owner="ZJJ"` shows the order (and not an order of another
unit); the order's page opens without an error even though the UI's metadata query is refused;
its Event History shows the step summaries — the local activities ("record sign by ZJJ") and
the durable deadlines ("sign-for deadline (签收时限) of ZJJ"); its Memo shows stage, owner and
next deadline, and its Search Attributes the owner and stage, none of which needs a query.
Screenshots are saved under the test's tmp_path and `test-output/temporal-ui/`.
"""
from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect
from temporalio.testing import WorkflowEnvironment

from hotline.api.app import create_app
from hotline.domain.models import ContactAction, SignAction
from hotline.store.apikeys import create_key
from stack import DEV_SERVER_CONFIG
from tests.browser import OUTPUT, VIEWPORT, async_browser, save_output
from tests.conftest import CODEC, CONVERTER, _binary, free_port
from tests.harness import router, running_worker
from tests.stack.test_ui_codec import serve, sign_in
from workflows import search_attributes as sa

UI_TIMEOUT_MS = 15_000
QUERY = 'Owner="ZJJ"'
HISTORY_VIEWPORT = {"width": 1920, "height": 2400}

# The step summaries the workflow writes (workflows/order_core.py, workflows/work_order.py),
# by the event type under which the Event History shows them.
EXPECTED = [
    ("Local Activity", "record sign by ZJJ"),
    ("Local Activity", "record contact by ZJJ; contact to petitioner"),  # one write: the step and its notice
    ("Local Activity", "contact and coordination deadlines after signing"),
    ("Timer Started", "sign-for deadline (签收时限) of ZJJ"),
    ("Timer Canceled", "sign-for deadline (签收时限) of ZJJ"),  # signed in time: the deadline is cancelled
    ("Timer Started", "first contact (先行联系) by ZJJ"),
    ("Timer Canceled", "first contact (先行联系) by ZJJ"),  # contacted in time
]


async def _visible_to(client, query: str, expected: set[str], timeout_s: float = 20) -> None:
    """Wait until visibility (eventually consistent) lists exactly `expected` for `query`."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids = {w.id async for w in client.list_workflows(query)}
        if ids == expected or time.monotonic() > deadline:
            assert ids == expected, f"visibility for {query!r}"
            return
        await asyncio.sleep(0.2)


async def _open_list(page: Page, url: str, wid: str, timeout_s: float = 30) -> None:
    """Load the filtered list, reloading until the order's row is there (bounded)."""
    link = page.get_by_role("link", name=wid, exact=True)
    deadline = time.monotonic() + timeout_s
    while True:
        await page.goto(url)
        try:
            await expect(link).to_be_visible(timeout=5_000)
            return
        except (AssertionError, PlaywrightError):  # not listed yet, or the UI still starting
            if time.monotonic() > deadline:
                raise


async def _shot(page: Page, name: str, tmp_path) -> None:
    save_output(f"temporal-ui/{name}", await page.screenshot(), tmp_path)


async def test_admin_finds_the_order_and_reads_its_story_in_the_web_ui(sqlite_db, tmp_path):
    (OUTPUT / "temporal-ui" / "failure.png").unlink(missing_ok=True)  # no stale failure next to fresh shots
    ui_port, gw_port = free_port(), free_port()
    gateway = f"http://127.0.0.1:{gw_port}"  # payloads are sealed: the admin reads them through its codec server
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=_binary("temporal"),
        search_attributes=sa.ALL, ui=True, ui_port=ui_port, dev_server_log_level="error",
        dev_server_extra_args=[*DEV_SERVER_CONFIG, "--ui-codec-endpoint", f"{gateway}/codec"])
    admin = create_key(sqlite_db, "admin", label="li")
    try:
        async with running_worker(env.client, sqlite_db, search_attributes=True) as h, async_browser() as browser, \
                serve(create_app(sqlite_db, h.engine, router(), codec=CODEC,
                                 ui_origins=(f"http://127.0.0.1:{ui_port}",)), gw_port):
            order_no, _ = await h.start(owner="ZJJ")
            await h.act(order_no, "sign", SignAction(by="ZJJ"))
            await h.act(order_no, "contact", ContactAction(by="ZJJ", note="已电话联系，明早到现场"))
            other_no, _ = await h.start(owner="SWJ")  # must not show under Owner="ZJJ"
            wid, other_wid = f"order-{order_no}", f"order-{other_no}"
            await _visible_to(env.client, f'OrderNo="{order_no}" OR OrderNo="{other_no}"', {wid, other_wid})

            base = f"http://127.0.0.1:{ui_port}/namespaces/default"
            page = await browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            page_errors: list[str] = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            try:
                await sign_in(page, gateway, f"http://127.0.0.1:{ui_port}", admin)
                # the list, filtered as an admin would
                await _open_list(page, f"{base}/workflows?query={quote(QUERY)}", wid)
                await expect(page.get_by_role("link", name=other_wid, exact=True)).to_have_count(0)
                await _shot(page, "workflows-owner-ZJJ.png", tmp_path)

                # open the order, then its Event History
                await page.get_by_role("link", name=wid, exact=True).click()
                await page.wait_for_url(f"**/workflows/{wid}/**")
                await expect(page.get_by_role("heading", name=wid)).to_be_visible()
                await page.get_by_test_id("history-tab").click()
                await page.wait_for_url(f"**/workflows/{wid}/*/history**")

                rows = page.locator('tr[data-testid="event-summary-row"]')
                for event_type, summary in EXPECTED:
                    row = rows.filter(has_text=event_type).filter(has=page.get_by_text(summary, exact=True))
                    await expect(row, f"{event_type} with summary {summary!r}").to_have_count(1)

                # a tall window so one shot holds the order's header and its sign/contact events
                await page.set_viewport_size(HISTORY_VIEWPORT)
                await page.mouse.move(0, 0)
                await expect(rows.filter(has=page.get_by_text("record sign by ZJJ", exact=True))).to_be_in_viewport()
                await _shot(page, "order-history.png", tmp_path)

                # what an admin needs without a query: memo and search attributes
                await page.set_viewport_size(VIEWPORT)
                await page.get_by_test_id("memo-tab").click()
                await page.wait_for_url(f"**/workflows/{wid}/*/memo**")
                for text in ('"stage"', '"handling"', '"owner"', '"ZJJ"', '"next_deadline"', '"reply_by"'):
                    await expect(page.get_by_text(text, exact=True).first, f"memo shows {text}").to_be_visible()
                await _shot(page, "order-memo.png", tmp_path)
                await page.get_by_test_id("search-attributes-tab").click()
                await page.wait_for_url(f"**/workflows/{wid}/*/search-attributes**")
                for text in ('"Owner"', '"Stage"', '"handling"', f'"{order_no}"'):
                    await expect(page.get_by_text(text, exact=True).first, f"attributes show {text}").to_be_visible()
                await _shot(page, "order-search-attributes.png", tmp_path)
                assert page_errors == [], page_errors
                # and the order is still open and untouched: nothing a query could have run
                assert (await env.client.get_workflow_handle(wid).describe()).status.name == "RUNNING"
                hist = await env.client.get_workflow_handle(wid).fetch_history()
                assert not [e for e in hist.events
                            if e.WhichOneof("attributes") == "workflow_task_failed_event_attributes"]
            except Exception:
                save_output("temporal-ui/failure.png", await page.screenshot(full_page=True), tmp_path)
                (tmp_path / "failure.html").write_text(await page.content())
                raise
    finally:
        await env.shutdown()
