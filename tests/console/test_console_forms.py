"""The console's remaining forms and pages in headless Chromium on the real stack (issue 15).

One dev server, worker, gateway and browser for the whole module. Covered here: the intake and
reply forms used with the keyboard alone (Tab, Shift+Tab, Enter, Space: focus reaches every
field and the submit, and the submission works); a coordination plan with a co-handler and its
promised time, the co-handler's clerk reporting done, an extension request and the office's
review, a return request and the office approving it to another unit, a staff referral by the
office; the overdue board, a unit's ledger and the KPI page (axe-core, no console errors); and
countdowns that tick in the browser yet read right without scripts.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

import pytest_asyncio
from playwright.async_api import Page, expect

from hotline.api.app import create_app
from hotline.console.accounts import create_account
from hotline.console.web import TZ
from hotline.domain.models import ContactAction, SignAction
from hotline.store import Database
from hotline.store.tables import SequenceRow
from hotline.store.units import ensure_catalogue
from tests.browser import async_browser, save_output
from tests.conftest import CODEC, free_port
from tests.console.test_console import accessible, reload_until, sign_in
from tests.harness import intake, router, running_worker
from tests.stack.test_ui_codec import serve

LOGINS = {"op": ("王话务", "intake"), "office": ("陈主任", "admin"), "zjj": ("李明", "department:ZJJ"),
          "swj": ("张伟", "department:SWJ"), "jtj": ("刘洋", "department:JTJ")}
SMALL = {"width": 1024, "height": 720}


class Stack:
    def __init__(self, base, h, browser, passwords, tmp) -> None:
        self.base, self.h, self.browser, self.passwords, self.tmp = base, h, browser, passwords, tmp
        self.pages: dict[str, Page] = {}
        self.errors: list[str] = []

    async def page(self, who: str, viewport=None) -> Page:
        """One signed-in tab per account; console errors and page errors are collected."""
        if who not in self.pages:
            page = await sign_in(self.browser, self.base, who, self.passwords[who], viewport or SMALL)
            page.on("console", lambda m: m.type == "error" and self.errors.append(f"{page.url}: {m.text}"))
            page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
            self.pages[who] = page
        return self.pages[who]

    async def order(self, who: str, order_no: str, ready=None) -> Page:
        page = await self.page(who)
        await reload_until(page, f"{self.base}/console/orders/{order_no}", ready or (lambda p: p.locator("#stage")))
        return page


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(dev_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-forms")
    db = Database(f"sqlite:///{tmp / 'hotline.db'}")
    db.migrate()
    ensure_catalogue(db)
    # Orders taken at the console are numbered per database and day (SY<date>000001, …) and the
    # dev server is shared by the session: start our day's numbers far from another module's.
    with db.session() as s:
        s.add(SequenceRow(day=datetime.now(TZ).strftime("%Y%m%d"), last=random.randrange(500_000, 900_000)))
    passwords = {login: create_account(db, name, role, login=login)[1] for login, (name, role) in LOGINS.items()}
    async with running_worker(dev_env.client, db, search_attributes=True) as h, async_browser() as browser, \
            serve(create_app(db, h.engine, router(), codec=CODEC), free_port()) as base:
        yield Stack(base, h, browser, passwords, tmp)
    db.dispose()


async def focused(page: Page) -> tuple[str, str]:
    """(what has focus, the id of its form): an id, else tag:name:value for radios and buttons."""
    return tuple(await page.evaluate("""() => {
        const e = document.activeElement;
        const what = e.id || `${e.tagName}:${e.name || ''}:${e.value || e.textContent.trim()}`;
        return [what, e.form ? e.form.id : ''];
    }"""))


async def tab_through(page: Page, form_id: str, keys: dict[str, str], submit: str, limit: int = 250) -> list[str]:
    """Tab from the top of the page to `form_id`'s submit button, typing `keys` into the fields
    they name as focus reaches them; returns the form's focus stops in order."""
    stops: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        what, form = await focused(page)
        if form != form_id:
            continue
        stops.append(what)
        if what in keys:
            value = keys[what]
            await (page.keyboard.press(value[1:]) if value.startswith("@") else page.keyboard.type(value))
        if what == submit:
            return stops
    raise AssertionError(f"Tab never reached {submit} of {form_id}; stops in the form: {stops}")


async def test_intake_and_reply_by_keyboard_alone(stack):
    op = await stack.page("op")
    await op.goto(f"{stack.base}/console/intake")
    fields = ["channel", "category", "urgency", "title", "description", "district", "address", "name", "phone",
              "owner"]
    submit = "BUTTON::受理并转办"
    stops = await tab_through(op, "intake-form", {"title": "路灯不亮", "description": "小区门口路灯坏了一个星期",
                                                  "name": "陈小红", "phone": "13900002222", "owner": "ZJJ"}, submit)
    assert stops == fields + [submit]
    await expect(op.locator("#routing h2")).to_contain_text("分派建议")
    await op.evaluate("window.scrollTo(0, 0)")  # the form's top beside the suggestion; focus stays
    save_output("console/role-operator.png", await op.screenshot(), stack.tmp)
    await op.keyboard.press("Shift+Tab")
    assert await focused(op) == ("owner", "intake-form")  # and back again
    await op.keyboard.press("Tab")
    await op.keyboard.press("Enter")
    await expect(op.locator("#intake-result")).to_be_visible()
    order_no = (await op.locator(".order-no").inner_text()).strip()
    await expect(op.locator("#owner-code")).to_have_text("ZJJ")

    await stack.h.act(order_no, "sign", SignAction(by="ZJJ"))
    await stack.h.act(order_no, "contact", ContactAction(by="ZJJ", note="已电话联系"))
    clerk = await stack.order("zjj", order_no, lambda p: p.locator("#form-reply"))
    submit = "BUTTON::提交答复"
    stops = await tab_through(clerk, "form-reply", {"reply-result": "已更换路灯", "INPUT:resolved:yes": "@Space"},
                              submit)
    assert stops == ["reply-result", "INPUT:resolved:yes", submit]
    await clerk.keyboard.press("Enter")
    await expect(clerk.locator("#done")).to_contain_text("答复")
    await expect(clerk.locator("#stage")).to_have_text(re.compile("已答复|待回访"))
    await expect(clerk.locator(".timeline")).to_contain_text("已更换路灯")


async def test_coordination_co_handler_extension_and_staff_referral(stack):
    order_no, _ = await stack.h.start(owner="ZJJ")
    await stack.h.act(order_no, "sign", SignAction(by="ZJJ"))
    promised = (datetime.now(TZ) + timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
    clerk = await stack.order("zjj", order_no, lambda p: p.locator("#form-coordination-plan"))
    plan = clerk.locator("#form-coordination-plan")
    await plan.get_by_label("方案").fill("城管执法局牵头，生态环境局配合夜间噪音监测")
    await plan.locator("#coordination-plan-co_0_unit").select_option("SWJ")
    await plan.locator("#coordination-plan-co_0_task").fill("夜间噪音监测")
    await plan.locator("#coordination-plan-co_0_due").fill(promised.strftime("%Y-%m-%dT%H:%M"))
    await accessible(clerk)
    await plan.get_by_role("button", name="提交联办方案").click()
    await expect(clerk.locator("#done")).to_contain_text("联办方案")
    await expect(clerk.locator("#co-h + ul")).to_contain_text(f"SWJ：夜间噪音监测，{promised:%Y-%m-%d %H:%M} 前")
    await clerk.goto(f"{stack.base}/console/inbox")
    await expect(clerk.get_by_role("link", name=order_no)).to_be_visible()
    save_output("console/role-clerk.png", await clerk.screenshot(), stack.tmp)

    co = await stack.page("swj")  # the co-handler's clerk: the task in the inbox, then done
    await reload_until(co, f"{stack.base}/console/inbox", lambda p: p.get_by_role("link", name=order_no))
    await expect(co.locator("#inbox")).to_contain_text("夜间噪音监测")
    await co.get_by_role("link", name=order_no).click()
    await co.locator("#form-co-handler-done").get_by_label("完成情况").fill("已完成三晚监测，超标")
    await accessible(co)
    await co.locator("#form-co-handler-done").get_by_role("button", name="报告完成").click()
    await expect(co.locator("#done")).to_contain_text("联办完成")
    await expect(co.locator("#co-h + ul")).to_contain_text("已完成")
    await expect(co.locator("#form-co-handler-done")).to_have_count(0)

    await clerk.goto(f"{stack.base}/console/orders/{order_no}")
    ext = clerk.locator("#form-extension-request")
    await ext.get_by_label("延期工作日").fill("3")
    await ext.get_by_label("理由").fill("需等待第三方检测报告")
    await ext.get_by_role("button", name="申请延期").click()
    await expect(clerk.locator("#done")).to_contain_text("延期申请")
    await expect(clerk.locator("#pending-h")).to_contain_text("延期申请")
    reply_by = await clerk.locator("#deadlines-h + table tr", has_text="办理时限").locator("td").first.inner_text()

    office = await stack.page("office")
    await reload_until(office, f"{stack.base}/console/office/extensions",
                       lambda p: p.get_by_role("link", name=order_no))
    await expect(office.locator("main")).to_contain_text("申请延期 3 个工作日：需等待第三方检测报告")
    await accessible(office)
    await office.get_by_role("link", name=order_no).locator("xpath=../..").get_by_role("link", name="审核").click()
    review = office.locator("#form-extension-review")
    await review.get_by_label("审核意见").select_option("approve")
    await review.get_by_label("审核理由").fill("检测周期合理")
    await review.get_by_role("button", name="提交审核").click()
    await expect(office.locator("#done")).to_contain_text("延期审核")
    await expect(office.locator("#pending-h")).to_have_count(0)
    later = office.locator("#deadlines-h + table tr", has_text="办理时限").locator("td").first
    await expect(later).not_to_have_text(reply_by)  # three working days later

    await office.locator("summary", has_text="移送个人问责").click()
    flag = office.locator("#form-flag-staff")
    await flag.get_by_label("工作人员").fill("王某某")
    await flag.get_by_label("理由").fill("多次推诿")
    await accessible(office)
    await flag.get_by_role("button", name="移送").click()
    await expect(office.locator("#done")).to_contain_text("移送个人问责")
    await expect(office.locator(".timeline")).to_contain_text("多次推诿")
    assert stack.errors == []


async def test_return_request_approved_to_another_unit(stack):
    order_no, _ = await stack.h.start(owner="ZJJ")
    clerk = await stack.order("zjj", order_no, lambda p: p.locator("#form-return-request"))
    ret = clerk.locator("#form-return-request")
    await ret.get_by_label("退单理由").fill("道路照明不属于本单位职责")
    await ret.get_by_label("应承办单位").select_option("SWJ")
    await ret.get_by_label("依据（权责清单条目）").fill("权责清单未列路灯维护")
    await accessible(clerk)
    await ret.get_by_role("button", name="申请退单").click()
    await expect(clerk.locator("#stage")).to_have_text("退单审核")

    office = await stack.page("office")
    await reload_until(office, f"{stack.base}/console/office/returns", lambda p: p.locator(f"#return-{order_no}"))
    await office.locator(f"#return-{order_no}").get_by_role("link", name="审核").click()
    review = office.locator("#form-return-review")
    await review.get_by_label("审核意见").select_option("approve")
    await review.get_by_label("审核理由").fill("同意退单，改派交通运输局")
    await review.get_by_label("同意时改派给").select_option("JTJ")
    await accessible(office)
    await review.get_by_role("button", name="提交审核").click()
    await expect(office.locator("#done")).to_contain_text("退单审核")
    await expect(office.locator(".facts")).to_contain_text("JTJ（曾由 ZJJ 承办）")

    new_owner = await stack.page("jtj")
    await reload_until(new_owner, f"{stack.base}/console/inbox", lambda p: p.get_by_role("link", name=order_no))
    gone = await clerk.context.request.get(f"{stack.base}/console/orders/{order_no}")
    assert gone.status == 403  # no longer ZJJ's order
    assert stack.errors == []


async def test_overdue_board_ledger_and_kpi(stack):
    # an order under the `fast` policy (limits in seconds) on a worker of its own: within half a
    # minute it misses its deadlines, so it is overdue and struck in the unit's ledger
    async with running_worker(stack.h.client, stack.h.db, policy="fast", search_attributes=True) as fast:
        order_no, _ = await fast.start(owner="HBJ", req=intake(category="consultation"))
        await _overdue_board_ledger_and_kpi(stack, order_no)


async def _overdue_board_ledger_and_kpi(stack, order_no):
    office = await stack.page("office")
    await reload_until(office, f"{stack.base}/console/office/overdue", lambda p: p.get_by_role("link", name=order_no),
                       tries=120)
    row = office.locator("tr", has=office.get_by_role("link", name=order_no))
    await expect(row).to_contain_text("HBJ")
    await expect(row.locator(".countdown")).to_contain_text("超时")
    await accessible(office)
    save_output("console/role-office.png", await office.screenshot(), stack.tmp)

    await reload_until(office, f"{stack.base}/console/office/ledger?unit=HBJ",
                       lambda p: p.locator("main li", has=p.get_by_role("link", name=order_no)), tries=120)
    await expect(office.get_by_role("heading", level=1)).to_contain_text("HBJ")
    await accessible(office)

    await office.goto(f"{stack.base}/console/office/kpi")
    await expect(office.get_by_role("heading", name="考核指标")).to_be_visible()
    await office.get_by_label("单位").select_option("HBJ")
    await office.get_by_role("button", name="查询").click()
    await expect(office).to_have_url(re.compile(r"unit=HBJ"))
    report = office.frame_locator("iframe.report")
    await expect(report.locator("body")).not_to_be_empty()
    await accessible(office)
    assert stack.errors == []


async def test_countdowns_tick_in_the_browser_and_read_right_without_scripts(stack):
    order_no, _ = await stack.h.start(owner="ZJJ")
    clerk = await stack.page("zjj")
    await clerk.clock.install()  # the page's own clock, moved on by hand below
    await reload_until(clerk, f"{stack.base}/console/orders/{order_no}", lambda p: p.locator("#form-sign"))
    sign_by = clerk.locator("#deadlines-h + table tr", has_text="签收时限").locator("[data-due]")
    await expect(sign_by).to_have_text(re.compile(r"^剩 "))
    await clerk.clock.fast_forward(72 * 3600 * 1000)  # three days on
    await expect(sign_by).to_have_text(re.compile(r"^超时 (\d+天)?\d+小时"))
    await expect(sign_by).to_have_class(re.compile(r"\blate\b"))

    ctx = await stack.browser.new_context(java_script_enabled=False, storage_state=await clerk.context.storage_state())
    plain = await ctx.new_page()
    await plain.goto(f"{stack.base}/console/orders/{order_no}")
    text = await plain.locator("#deadlines-h + table tr", has_text="签收时限").locator("[data-due]").inner_text()
    assert re.match(r"^剩 (\d+小时)?\d+分$", text), text  # the server's own countdown, before the deadline
    await ctx.close()
    assert stack.errors == []
