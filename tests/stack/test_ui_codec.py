"""The Temporal Web UI shows ciphertext, and an admin signed in at the codec server the order.

The real dev server with its UI started as the run command starts it (`--ui-codec-endpoint`
pointing at the gateway's /codec), a real worker, the real gateway served over HTTP, and
headless Chromium. Without credentials the codec server refuses the UI and the page holds only
sealed payloads: neither the petitioner's name nor phone. After the admin signs in at
/codec/login and ticks "include cross-origin credentials" in the UI's codec settings, the same
page shows the order's input, petitioner included. Screenshots go to `test-output/temporal-ui/`.
"""
from __future__ import annotations

import asyncio
import contextlib

import uvicorn
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from hotline.api.app import create_app
from hotline.domain.models import SignAction
from hotline.store.apikeys import create_key
from stack import DEV_SERVER_CONFIG
from tests.browser import VIEWPORT, async_browser, save_output
from tests.conftest import CODEC, CONVERTER, _binary, free_port
from tests.harness import intake, router, running_worker
from workflows import search_attributes as sa

NAME, PHONE = "诸葛测隐", "13855501234"
REFUSED = "Codec Server could not connect"  # the UI's banner when the codec server refuses it


@contextlib.asynccontextmanager
async def serve(app, port: int):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def sign_in(page, gateway: str, ui: str, admin_key: str) -> None:
    """What an admin does once: sign in at the codec server, then (in the UI's codec settings)
    let the UI send the session cookie to it."""
    await page.goto(f"{gateway}/codec/login")
    await page.fill("input[name=key]", admin_key)
    await page.click("button[type=submit]")
    await expect(page.get_by_text("已登录")).to_be_visible()
    await page.goto(f"{ui}/")
    await page.evaluate("""(endpoint) => {
        localStorage.setItem('endpoint', JSON.stringify(endpoint));
        localStorage.setItem('includeCredentials', 'true');
        localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
    }""", f"{gateway}/codec")


async def _history_text(page, url: str, want: str, timeout_s: float = 120) -> str:
    """Open the order's page until it shows `want` (bounded); the UI decodes payload by payload,
    so give each load time before reloading."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await page.goto(url)
        with contextlib.suppress(Exception):
            await expect(page.get_by_text(want).first).to_be_visible(timeout=25_000)
            return await page.content()
        if asyncio.get_running_loop().time() > deadline:
            return await page.content()


async def test_ui_shows_ciphertext_without_the_codec_and_the_order_with_it(sqlite_db, tmp_path):
    ui_port, gw_port = free_port(), free_port()
    gateway = f"http://127.0.0.1:{gw_port}"
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=_binary("temporal"), search_attributes=sa.ALL,
        ui=True, ui_port=ui_port, dev_server_log_level="error",
        dev_server_extra_args=[*DEV_SERVER_CONFIG, "--ui-codec-endpoint", f"{gateway}/codec"])
    admin = create_key(sqlite_db, "admin", label="li")
    try:
        async with running_worker(env.client, sqlite_db, search_attributes=True) as h, async_browser() as browser:
            app = create_app(sqlite_db, h.engine, router(), codec=CODEC,
                             ui_origins=(f"http://127.0.0.1:{ui_port}",))
            async with serve(app, gw_port):
                req = intake(title=f"{NAME}反映工地噪音", petitioner={"name": NAME, "phone": PHONE})
                order_no, handle = await h.start(owner="ZJJ", req=req)
                await h.act(order_no, "sign", SignAction(by="ZJJ"))
                run_id = (await handle.describe()).run_id
                url = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/order-{order_no}/{run_id}/history"

                context = await browser.new_context(viewport=VIEWPORT)
                page = await context.new_page()
                page.set_default_timeout(15_000)
                # 1. no credentials: the codec server says 401, the UI has only ciphertext
                before = await _history_text(page, url, REFUSED)
                save_output("temporal-ui/codec-without-credentials.png", await page.screenshot(full_page=True),
                            tmp_path)
                assert REFUSED in before, "the codec server should have refused the UI"
                assert NAME not in before and PHONE not in before

                # 2. the admin signs in at the codec server, then lets the UI send the cookie
                await sign_in(page, gateway, f"http://127.0.0.1:{ui_port}", admin)
                after = await _history_text(page, url, NAME)
                save_output("temporal-ui/codec-signed-in.png", await page.screenshot(full_page=True), tmp_path)
                assert NAME in after and PHONE in after, "the signed-in admin should read the order"
                assert order_no in after
                await context.close()
    finally:
        await env.shutdown()
