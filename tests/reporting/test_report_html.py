"""The HTML KPI report in a real headless browser (Debian's chromium): no errors, charts shown.

Rendered from simulated history, opened from a file, checked for console errors, page errors
and any request leaving the file; the screenshot and the report are saved under the test's
tmp path and test-output/ (tests/browser.py) for a person to look at.
"""
from __future__ import annotations

from datetime import date

import pytest

from hotline.reporting.kpi import build_report
from hotline.reporting.report import render_html, render_text
from hotline.simulation.scenario import simulate
from tests.browser import save_output, sync_browser


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    from hotline.store import Database
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('sim') / 'hotline.db'}")
    db.migrate()
    simulate(db, months=22, orders_per_day=8, seed=2021, until=date(2026, 11, 1), workers=1)
    yield build_report(db, "2026-01-01", "2026-11-01")
    db.dispose()


def test_html_report_opens_in_chromium_without_errors_and_shows_its_charts(report, tmp_path):
    html = render_html(report)
    page_file = save_output("kpi_report.html", html.encode("utf-8"), tmp_path)[0]
    problems, requests = [], []
    with sync_browser() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri(), wait_until="load")
        charts = page.locator("svg")
        assert charts.count() == 3  # monthly invalid returns, rates, unit ranking
        months = sum(v is not None for v in report["monthly_invalid_returns"]["this_year"]) + 12
        assert page.locator("svg[aria-label='monthly invalid returns, this year and last year'] rect.bar"
                            ).count() == months
        assert page.locator("svg rect.bar").count() >= months + 5 * 2 + 15  # + rates (this, last), units
        for i in range(3):  # drawn, with a real size on the page
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 600 and box["height"] > 100
        assert page.locator("table tbody tr").count() == len(report["ranking"])
        headline = page.locator(".headline").inner_text()
        assert "无效退单" in headline and "year on year" in headline
        shot = page.screenshot(full_page=True)
    assert problems == []
    assert all(u.startswith("file://") for u in requests), requests  # self-contained: nothing fetched
    assert len(shot) > 20_000
    save_output("kpi_report.png", shot, tmp_path)


def test_html_is_self_contained_and_escapes_names(report):
    html = render_html(report)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<link" not in html and "@import" not in html
    evil = {**report, "unit": {"code": "ZJJ", "name": "<b>x</b>", "type": "bureau"}}
    assert "<b>x</b>" not in render_html(evil) and "&lt;b&gt;x&lt;/b&gt;" in render_html(evil)


def test_terminal_table(report):
    text = render_text(report, top=5)
    lines = text.splitlines()
    assert lines[0].startswith("12345 hotline KPIs 2026-01-01 – 2026-11-01 (all units)")
    assert any(line.startswith("Satisfaction 满意率") and "pp" in line for line in lines)
    start = lines.index("Units ranked by invalid returns (worst first)")
    ranked = lines[start + 3:lines.index("", start)]
    assert [line.split()[0] for line in ranked] == ["1", "2", "3", "4", "5"]
    assert "Invalid returns by month, 2026 vs 2025" in text
    empty = {**report, "kpis": {k: {**v, "value": None, "change": None, "yoy": None}
                                for k, v in report["kpis"].items()}}
    assert "—" in render_text(empty)  # undefined rates read as a dash, never 0%
