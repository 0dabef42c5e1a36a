"""The citizens' progress page (自助查询, issue 18) in headless Chromium on the real stack: a real
worker on the time-skipping server, the gateway served by uvicorn, the limits read from the
environment as the running app reads them.

A citizen on a phone opens /console/track, gives the order number and the last four digits of
the phone and sees the stage, the owner unit and the promised time; once the department has
replied, the reply (every phone, ID number, e-mail address and the name in it masked) and its
time. A wrong order number and wrong digits give the same status and the same visible text.
Repeated tries are throttled per order number and per address with a Chinese message saying
which and how long. The full phone never appears; every page passes axe-core.
"""
from __future__ import annotations

import re
from datetime import datetime

from playwright.async_api import Page, Response, expect

from hotline.api.app import create_app
from hotline.console.web import local
from tests.api.test_api import ORDER, H, api_client, prepare
from tests.api.test_track import NOTE, REPLY, REPLY_PRIVATE, REPLY_SHOWN
from tests.browser import async_browser, save_output
from tests.conftest import free_port
from tests.console.test_console import TIMEOUT_MS, accessible
from tests.harness import router, running_worker
from tests.stack.test_ui_codec import serve

PHONE = ORDER["petitioner"]["phone"]
PHONE_FORMS = (PHONE, "138 0000 1234", "138-0000-1234")
UNKNOWN = "SY20990101999999"
PER_ORDER, PER_IP = 6, 12  # the bursts set below; at one token an hour nothing refills during the test
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")


async def ask(page: Page, order_no: str, last4: str) -> Response:
    """Fill the form as a citizen does and submit it; the page's HTTP response."""
    await page.get_by_label("工单号", exact=True).fill(order_no)
    await page.get_by_label("受理时所留手机号的后四位").fill(last4)
    async with page.expect_navigation() as nav:
        await page.get_by_role("button", name="查询").click()
    response = await nav.value
    await expect(page.get_by_role("heading", name="12345 热线工单办理进度查询")).to_be_visible()
    return response


async def status(page: Page, order_no: str, last4: str) -> int:
    return (await ask(page, order_no, last4)).status


async def nothing_private(page: Page, *extra: str) -> None:
    html = await page.content()
    for private in (*PHONE_FORMS, *extra):
        assert private not in html, private


async def test_a_citizen_tracks_an_order_in_the_browser(ts_env, sqlite_db, tmp_path, monkeypatch):
    # The same settings the gateway reads at start-up (hotline.runtime.settings.load_limits), set low.
    monkeypatch.setenv("HOTLINE_RATE_TRACK", f"1/h:{PER_IP}")
    monkeypatch.setenv("HOTLINE_RATE_TRACK_ORDER", f"1/h:{PER_ORDER}")
    keys = prepare(sqlite_db)
    errors: list[str] = []
    async with running_worker(ts_env.client, sqlite_db) as h, async_browser() as browser:
        app = create_app(sqlite_db, h.engine, router())
        async with serve(app, free_port()) as base, api_client(app) as staff:
            r = await staff.post("/api/v1/orders", headers=H(keys["intake"]), json=ORDER)
            assert r.status_code == 201, r.text
            no, sign_by = r.json()["order_no"], datetime.fromisoformat(r.json()["deadlines"]["sign_by"])

            ctx = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            page = await ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            # The 404 and 429 answers are the page itself (Chromium logs them as console errors);
            # what must not fail is a script or stylesheet the page loads, or a script.
            page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                    and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: r.request.resource_type != "document" and r.status >= 400
                    and errors.append(f"{r.status} {r.url}"))
            try:
                # -- the empty form
                assert (await page.goto(f"{base}/console/track")).status == 200
                await expect(page.locator("#track-result")).to_have_count(0)
                await accessible(page)

                # -- the right digits: stage, owner, promised time; no reply yet (IP 1, order 1)
                assert await status(page, no, "1234") == 200
                await expect(page.locator("#track-stage")).to_have_text("已转交承办单位，等待签收")
                await expect(page.locator("#track-owner")).to_have_text("三亚市住房和城乡建设局")
                await expect(page.locator("#track-deadline")).to_have_text(local(sign_by))
                await expect(page.locator("#track-result")).to_contain_text("签收期限")
                await expect(page.locator("#track-reply")).to_have_count(0)
                await expect(page.locator("#track-error")).to_have_count(0)
                await nothing_private(page, "王小明", "打桩", "迎宾路")
                await accessible(page)
                save_output("track/track-dispatched.png", await page.screenshot(full_page=True), tmp_path)

                # -- wrong digits and an unknown order number: the very same page (IP 2-3, order 2)
                assert await status(page, no, "4321") == 404
                wrong_text, wrong_html = await page.locator("body").inner_text(), await page.content()
                await expect(page.locator("#track-error")).to_contain_text("没有找到")
                await expect(page.locator("#track-result")).to_have_count(0)
                await accessible(page)
                assert await status(page, UNKNOWN, "4321") == 404
                assert await page.locator("body").inner_text() == wrong_text
                assert (await page.content()).replace(UNKNOWN, "X") == wrong_html.replace(no, "X")

                # -- the department signs, contacts and replies through its own system
                for action, body in [("sign", {}), ("contact", {"note": NOTE}),
                                     ("reply", {"result": REPLY, "resolved": True})]:
                    r = await staff.post(f"/api/v1/orders/{no}/{action}", headers=H(keys["ZJJ"]), json=body)
                    assert r.status_code == 200, r.text
                replied_at = datetime.fromisoformat(r.json()["replied_at"])
                callback_by = datetime.fromisoformat(r.json()["deadlines"]["callback_by"])

                # -- after the reply: the reply, masked, and its time (IP 4, order 3)
                assert await status(page, no, "1234") == 200
                await expect(page.locator("#track-stage")).to_have_text("正在回访")
                await expect(page.locator("#track-deadline")).to_have_text(local(callback_by))
                await expect(page.locator("#track-result")).to_contain_text("回访期限")
                reply = page.get_by_role("region", name="承办单位答复")
                await expect(reply).to_be_visible()
                await expect(reply.locator("#track-reply-text")).to_have_text(REPLY_SHOWN)
                await expect(reply.locator("#track-reply-at")).to_have_text(local(replied_at))
                assert STAMP.match(local(replied_at))
                await nothing_private(page, *REPLY_PRIVATE, NOTE)
                await accessible(page)
                save_output("track/track-replied.png", await page.screenshot(full_page=True), tmp_path)

                # -- one order number tried again and again, from anywhere: throttled (IP 5-9)
                answers = [await ask(page, no, "0000") for _ in range(PER_ORDER - 3 + 1)]
                assert [a.status for a in answers] == [404] * (PER_ORDER - 3) + [429]
                assert int(answers[-1].headers["retry-after"]) > 60
                error = page.get_by_role("alert")
                await expect(error).to_contain_text("该工单号的查询过于频繁")
                await expect(error).to_contain_text(re.compile(r"请约\d+分钟后再试"))
                assert await status(page, no, "1234") == 429  # the right digits wait too
                await expect(page.locator("#track-result")).to_have_count(0)
                await expect(page.locator("#track-reply")).to_have_count(0)
                await nothing_private(page, "139****5678")
                await accessible(page)
                save_output("track/track-throttled.png", await page.screenshot(full_page=True), tmp_path)

                # -- one address trying many order numbers: throttled too (IP 10-13)
                others = [f"SY20990101{n:06d}" for n in range(1, PER_IP - 9 + 2)]
                codes = [await status(page, other, "0000") for other in others]
                assert codes == [404] * (PER_IP - 9) + [429], codes
                await expect(page.get_by_role("alert")).to_contain_text("来自本网络地址的查询过于频繁")
                assert await status(page, no, "1234") == 429
                await expect(page.get_by_role("alert")).to_contain_text("来自本网络地址的查询过于频繁")
                await expect(page.locator("#track-result")).to_have_count(0)
                await nothing_private(page)
            except Exception:
                save_output("track/failure.png", await page.screenshot(full_page=True), tmp_path)
                raise
            finally:
                await ctx.close()
    assert errors == [], errors
