"""并单 in the web console on the real stack (dev server, worker, gateway; issue 18).

The operator checks a second report of the same ditch for duplicates before creating anything,
sees the first order with its evidence and merges the report into it (no second order, the
same deadlines); who may not see identities sees the co-petitioner masked; the office undoes a
merge and lands on the new order's page; the callback form asks each petitioner once, and the
office's queue counts the answers; refused merges and unmerges say why and change nothing. The
check-then-merge path also runs in headless Chromium with axe-core.
"""
from __future__ import annotations

import random
import re
from datetime import datetime

import httpx
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy import func, select

from hotline.api.app import create_app
from hotline.console.accounts import create_account
from hotline.console.web import TZ
from hotline.domain.models import ContactAction, IntakeRequest, ReplyAction, SignAction
from hotline.services.merging import merge_request
from hotline.store import Database
from hotline.store.readmodel import load_order
from hotline.store.tables import MergedRequestRow, OrderRow, SequenceRow
from hotline.store.units import ensure_catalogue
from tests.browser import async_browser, save_output
from tests.conftest import CODEC, free_port
from tests.console.test_console import accessible, sign_in
from tests.harness import router, running_worker
from tests.stack.test_ui_codec import serve

LOGINS = {"op": ("王话务", "intake"), "office": ("陈主任", "admin"), "swj": ("张伟", "department:SWJ"),
          "jtj": ("刘洋", "department:JTJ")}
# the reports of tests/services/test_duplicates.py: the same ditch, told twice by two residents
DITCH = {"channel": "phone", "category": "help", "urgency": "normal", "title": "塘边路排水沟堵了",
         "description": "昨晚下雨水漫到路上，车都过不去，请联系我13912345678", "name": "李大海",
         "phone": "13912345678", "district": "YZQ", "address": "崖州区塘边路", "owner": "SWJ"}
AGAIN = {**DITCH, "title": "塘边路水沟不通", "description": "水沟全是淤泥垃圾，一下雨就积水，路面淹了",
         "name": "陈小红", "phone": "13600002222"}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Console:
    """One signed-in account over HTTP, posting the console's forms as a browser would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.c, self.token = client, ""

    async def get(self, url: str) -> httpx.Response:
        r = await self.c.get(url)
        if r.status_code == 200:
            self.token = _csrf(r.text) if 'name="csrf_token"' in r.text else self.token
        return r

    async def post(self, url: str, data: dict) -> httpx.Response:
        return await self.c.post(url, data={**data, "csrf_token": self.token})


class Stack:
    def __init__(self, base, h, browser, passwords, tmp) -> None:
        self.base, self.h, self.browser, self.passwords, self.tmp = base, h, browser, passwords, tmp
        self.db = h.db
        self._clients: list[httpx.AsyncClient] = []

    async def console(self, login: str) -> Console:
        c = httpx.AsyncClient(base_url=self.base, timeout=30)
        self._clients.append(c)
        page = await c.get("/console/login")
        r = await c.post("/console/login", data={"login": login, "password": self.passwords[login],
                                                 "csrf_token": _csrf(page.text)})
        assert r.status_code == 303, r.text
        con = Console(c)
        await con.get(r.headers["location"])  # the role's home page carries the session's CSRF token
        assert con.token
        return con

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()

    def orders(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(OrderRow))

    def merged_into(self, order_no: str) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(MergedRequestRow.request_no)
                                  .where(MergedRequestRow.parent_order_no == order_no)))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(dev_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-merge")
    db = Database(f"sqlite:///{tmp / 'hotline.db'}")
    db.migrate()
    ensure_catalogue(db)
    # the dev server is shared by the session: this module's numbers start far from another's
    with db.session() as s:
        s.add(SequenceRow(day=datetime.now(TZ).strftime("%Y%m%d"), last=random.randrange(100_000, 400_000)))
    passwords = {login: create_account(db, name, role, login=login)[1] for login, (name, role) in LOGINS.items()}
    async with running_worker(dev_env.client, db, search_attributes=True) as h, async_browser() as browser, \
            serve(create_app(db, h.engine, router(), codec=CODEC), free_port()) as base:
        st = Stack(base, h, browser, passwords, tmp)
        yield st
        await st.close()
    db.dispose()


async def _take(op: Console, report: dict) -> str:
    """A report taken at the console's intake form: the new order's number."""
    await op.get("/console/intake")
    r = await op.post("/console/intake", {**report, "form_key": f"k{random.random()}"})
    assert r.status_code == 201, r.text
    return re.search(r'class="order-no">(SY\d+)<', r.text).group(1)


def _request(report: dict) -> IntakeRequest:
    return IntakeRequest.model_validate({
        "channel": report["channel"], "category": report["category"], "title": report["title"],
        "description": report["description"], "petitioner": {"name": report["name"], "phone": report["phone"]},
        "location": {"district": report["district"], "address": report["address"]}})


def _options(html: str, order_no: str) -> list[str]:
    select_ = re.search(rf'<select id="callback-request_no-{order_no}" name="request_no">(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', select_.group(1)) if select_ else []


async def test_check_duplicates_then_merge_into_the_first_order(stack):
    op, office = await stack.console("op"), await stack.console("office")
    first = await _take(op, DITCH)
    before = load_order(stack.db, first)
    orders = stack.orders()

    await op.get("/console/intake")
    key = f"k{random.random()}"
    r = await op.post("/console/intake/check", {**AGAIN, "form_key": key})
    assert r.status_code == 200, r.text
    item = re.search(rf'<li id="dup-{first}">(.*?)</li>', r.text, re.S)
    assert item, r.text
    assert "塘边路" in item.group(1) and "并入此工单" in item.group(1) and f'value="{first}"' in item.group(1)
    assert "受理并转办" in r.text and 'value="陈小红"' in r.text  # the form keeps what was typed
    assert stack.orders() == orders  # looking creates nothing

    r = await op.post("/console/intake/merge", {**AGAIN, "form_key": key, "parent": first, "note": "同一条排水沟"})
    assert r.status_code == 201, r.text
    m = re.search(rf"已并入工单 {first}，诉求编号 (SY\d+)", r.text)
    assert m, r.text
    request_no = m.group(1)
    assert request_no != first and 'id="owner-code">SWJ<' in r.text
    st = load_order(stack.db, first)
    assert [(c.request_no, c.name, c.phone) for c in st.co_petitioners] == [(request_no, "陈小红", "13600002222")]
    assert st.deadlines == before.deadlines  # nothing new armed
    assert stack.orders() == orders and load_order(stack.db, request_no) is None  # no second order
    # a double submit of the same form is the same request, merged once
    r = await op.post("/console/intake/merge", {**AGAIN, "form_key": key, "parent": first, "note": "同一条排水沟"})
    assert r.status_code == 201 and f"诉求编号 {request_no}" in r.text, r.text
    assert [c.request_no for c in load_order(stack.db, first).co_petitioners] == [request_no]

    # who sees the co-petitioner: the office and the owner in full, the operator masked, no one else
    page = (await office.get(f"/console/orders/{first}")).text
    row = re.search(rf'<tr id="co-{request_no}">(.*?)</tr>', page, re.S).group(1)
    assert "陈小红" in row and "13600002222" in row and "并单诉求人" in page
    assert f'id="form-unmerge-{request_no}"' in page
    owner = await stack.console("swj")
    row = re.search(rf'<tr id="co-{request_no}">(.*?)</tr>', (await owner.get(f"/console/orders/{first}")).text,
                    re.S).group(1)
    assert "陈小红" in row and "13600002222" in row
    page = (await op.get(f"/console/orders/{first}")).text
    row = re.search(rf'<tr id="co-{request_no}">(.*?)</tr>', page, re.S).group(1)
    assert "陈*" in row and "陈小红" not in page and "13600002222" not in page and "136****2222" in row
    assert "form-unmerge" not in page  # operators merge; only the office undoes a merge
    other = await stack.console("jtj")
    assert (await other.get(f"/console/orders/{first}")).status_code == 403


async def test_office_unmerges_into_an_order_of_its_own(stack):
    op, office = await stack.console("op"), await stack.console("office")
    parent = await _take(op, {**DITCH, "address": "崖州区塘边路南段"})
    ans = await merge_request(stack.db, stack.h.engine, parent, _request({**AGAIN, "title": "塘边路工地夜间施工噪音",
                                                                         "description": "半夜还在打桩"}),
                              "intake:1", None, "同一路段")
    request_no = ans.request_no
    url = f"/console/orders/{parent}/merged-requests/{request_no}/unmerge"

    await op.get(f"/console/orders/{parent}")
    r = await op.post(url, {"reason": "不是同一事项"})
    assert r.status_code == 403 and "只有热线办可以取消并单" in r.text, r.text
    await office.get(f"/console/orders/{parent}")
    r = await office.post(url, {"reason": "  "})
    assert r.status_code == 422 and "取消理由" in r.text, r.text
    assert [c.request_no for c in load_order(stack.db, parent).co_petitioners] == [request_no]  # nothing changed
    assert load_order(stack.db, request_no) is None

    r = await office.post(url, {"reason": "不是同一事项：噪音，不是排水沟", "owner": "JTJ"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/orders/{request_no}?done=unmerge", r.text
    page = await office.get(r.headers["location"])
    assert page.status_code == 200, page.text
    assert f"工单 {request_no}" in page.text and 'id="stage">待签收<' in page.text and "取消并单已提交" in page.text
    new = load_order(stack.db, request_no)
    assert new.owner == "JTJ" and new.stage == "dispatched" and new.co_petitioners == []
    assert load_order(stack.db, parent).co_petitioners == []


async def test_merge_refusals_change_nothing(stack):
    op = await stack.console("op")
    replied = await _take(op, {**DITCH, "address": "崖州区塘边路口"})
    for action, body in (("sign", SignAction(by="SWJ")), ("contact", ContactAction(by="SWJ", note="已到现场")),
                         ("reply", ReplyAction(by="SWJ", result="已清淤", resolved=True))):
        await stack.h.act(replied, action, body)
    orders = stack.orders()
    await op.get("/console/intake")
    r = await op.post("/console/intake/check", {**AGAIN, "address": "崖州区塘边路口", "form_key": "look"})
    item = re.search(rf'<li id="dup-{replied}">(.*?)</li>', r.text, re.S).group(1)
    assert "已答复，不能并入" in item and "并入此工单" not in item  # listed, not offered
    # a merge posted anyway (a stale page): the workflow refuses it
    r = await op.post("/console/intake/merge", {**AGAIN, "form_key": f"k{random.random()}", "parent": replied})
    assert r.status_code == 409, r.text
    assert re.search(rf'id="form-error">未能并入工单 {replied}：.+<', r.text), r.text
    assert 'value="陈小红"' in r.text  # the form as typed, to merge elsewhere or create
    assert load_order(stack.db, replied).co_petitioners == [] and stack.merged_into(replied) == []
    assert stack.orders() == orders

    r = await op.post("/console/intake/merge", {**AGAIN, "form_key": f"k{random.random()}",
                                                "parent": "SY20990101000001"})
    assert r.status_code == 404 and "不存在" in r.text, r.text
    r = await op.post("/console/intake/merge", {**AGAIN, "phone": "", "form_key": "x", "parent": replied})
    assert r.status_code == 422, r.text
    assert stack.merged_into(replied) == [] and stack.orders() == orders


async def test_callback_asks_each_petitioner_once(stack):
    op, office = await stack.console("op"), await stack.console("office")
    no = await _take(op, {**DITCH, "address": "崖州区塘边路北段"})
    numbers = []
    for i in range(2):
        ans = await merge_request(stack.db, stack.h.engine, no,
                                  _request({**AGAIN, "name": f"居民{i}", "phone": f"1390000{i:04d}"}), "intake:1")
        numbers.append(ans.request_no)
    for action, body in (("sign", SignAction(by="SWJ")), ("contact", ContactAction(by="SWJ", note="已到现场")),
                         ("reply", ReplyAction(by="SWJ", result="已组织清淤", resolved=True))):
        await stack.h.act(no, action, body)
    assert load_order(stack.db, no).stage == "callback"

    page = (await office.get(f"/console/orders/{no}")).text
    assert "回访对象" in page and _options(page, no) == [""] + numbers
    assert re.search(rf"{numbers[0]} 居\*", page)  # masked names in the select
    queue = (await office.get("/console/office/callbacks")).text
    item = re.search(rf'<article class="card queue-item" id="callback-{no}">(.*?)</article>', queue, re.S).group(1)
    assert "已答复 0 / 共 3 人" in item and _options(item, no) == [""] + numbers

    answer = {"answered": "yes", "resolved": "yes", "satisfaction": "satisfied"}
    r = await office.post(f"/console/orders/{no}/callback", {**answer, "request_no": numbers[0]})
    assert r.status_code == 303, r.text
    st = load_order(stack.db, no)
    assert st.co_petitioners[0].callback.answered and st.co_petitioners[1].callback is None
    assert st.stage == "callback"
    assert _options((await office.get(f"/console/orders/{no}")).text, no) == ["", numbers[1]]
    # an answered petitioner cannot answer again: the workflow's refusal, shown on the form
    r = await office.post(f"/console/orders/{no}/callback", {**answer, "request_no": numbers[0]})
    assert r.status_code == 409 and "already answered" in r.text, r.text

    r = await office.post(f"/console/orders/{no}/callback",
                          {**answer, "request_no": "", "back": "/console/office/callbacks"})
    assert r.status_code == 303 and r.headers["location"] == "/console/office/callbacks", r.text
    queue = (await office.get("/console/office/callbacks")).text
    item = re.search(rf'id="callback-{no}">(.*?)</article>', queue, re.S).group(1)
    assert "已答复 2 / 共 3 人" in item and _options(item, no) == [numbers[1]]

    r = await office.post(f"/console/orders/{no}/callback", {**answer, "request_no": numbers[1]})
    assert r.status_code == 303, r.text
    st = load_order(stack.db, no)
    assert st.stage == "closed" and st.close_reason == "resolved"


async def test_check_and_merge_in_the_browser(stack):
    op_http = await stack.console("op")
    first = await _take(op_http, {**DITCH, "address": "崖州区塘边路西段"})
    errors: list[str] = []
    op = await sign_in(stack.browser, stack.base, "op", stack.passwords["op"])
    op.on("console", lambda m: m.type == "error" and errors.append(m.text))
    op.on("pageerror", lambda e: errors.append(str(e)))
    await op.goto(f"{stack.base}/console/intake")
    form = op.locator("#intake-form")
    await form.get_by_label("诉求类别").select_option("help")
    await form.get_by_label("标题").fill(AGAIN["title"])
    await form.get_by_label("诉求内容").fill(AGAIN["description"])
    await form.get_by_label("所在区").select_option("YZQ")
    await form.get_by_label("地址").fill("崖州区塘边路西段")
    await form.get_by_label("姓名").fill("陈小红")
    await form.get_by_label("电话").fill("13600002222")
    await form.get_by_role("button", name="查重").click()
    candidate = op.locator(f"#dup-{first}")
    await expect(candidate).to_contain_text("塘边路")
    await expect(op.get_by_label("标题")).to_have_value(AGAIN["title"])
    await accessible(op)
    save_output("console/merge-candidates.png", await op.screenshot(full_page=True), stack.tmp)
    orders = stack.orders()

    await op.get_by_label("并单说明（可选）").fill("同一条排水沟，第二位来电")
    await candidate.get_by_role("button", name="并入此工单").click()
    await expect(op.locator("#merged")).to_contain_text(re.compile(rf"已并入工单 {first}，诉求编号 SY\d+"))
    await expect(op.locator("#owner-code")).to_have_text("SWJ")
    await accessible(op)
    request_no = (await op.locator(".request-no").inner_text()).strip()
    st = load_order(stack.db, first)
    assert [c.request_no for c in st.co_petitioners] == [request_no] and stack.orders() == orders
    merge = next(a for a in st.actions if a.action == "merge")
    assert "第二位来电" in merge.detail.get("note", "")
    await op.locator(".order-no").get_by_role("link").click()
    await expect(op.locator("#co-petitioners")).to_contain_text(request_no)
    await accessible(op)
    office = await sign_in(stack.browser, stack.base, "office", stack.passwords["office"])
    await office.goto(f"{stack.base}/console/orders/{first}")
    await office.locator("summary", has_text=f"取消并单 {request_no}").click()
    await expect(office.get_by_label("取消理由")).to_be_visible()
    await accessible(office)  # the unmerge form's fields are labelled too
    assert errors == []
    await op.context.close()
    await office.context.close()
