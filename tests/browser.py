"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright.

Playwright's own browser download is never used (`.ci/run` installs Debian's `chromium` with
apt-get); we point Playwright at that binary. Use `async_browser()` inside async tests (the
suite runs them in one asyncio loop, where Playwright's sync API refuses to run) and
`sync_browser()` in plain functions, e.g. to render an HTML report to PNG or PDF.

Screenshots and other artefacts go both to the test's `tmp_path` and to `test-output/` at the
repository root (gitignored), where a person or CI can pick them up after the run.
"""
from __future__ import annotations

import shutil
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1000}


def chromium_executable() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium not found: apt-get install chromium (.ci/run does it)")
    return found


@asynccontextmanager
async def async_browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextmanager
def sync_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def save_output(name: str, data: bytes, tmp_path: Path) -> list[Path]:
    """Write an artefact (e.g. a PNG) under the test's tmp_path and under test-output/."""
    paths = [tmp_path / name, OUTPUT / name]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return paths
