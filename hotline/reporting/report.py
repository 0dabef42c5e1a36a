"""The KPI report as a terminal table and as a self-contained HTML page for a monthly briefing.

Both take the dict of `hotline.reporting.kpi.build_report`. The HTML has no script and fetches nothing:
charts are inline SVG (native tooltips through <title>), styles are inline, so the file
opens offline, prints on A4 and can be mailed as is.
"""
from __future__ import annotations

import unicodedata
from html import escape

from hotline.reporting.kpi import KPI_NAMES, LABELS, RATES

LOWER_IS_BETTER = {"invalid_returns", "return_rate", "avg_handling_hours", "criticisms", "referrals"}
VOLUMES = {"orders", "requests", "merged_requests"}  # how much came in: neither good nor bad
NA = "—"


# ---------------------------------------------------------------- formatting


def fmt(name: str, v) -> str:
    if v is None:
        return NA
    if name in RATES:
        return f"{v * 100:.1f}%"
    if name == "avg_handling_hours":
        return f"{v:.1f} h"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.0f}"


def fmt_change(name: str, f: dict) -> str:
    """Rates change in percentage points; counts and hours year on year in percent."""
    if name in RATES:
        return NA if f["change"] is None else f"{f['change'] * 100:+.1f} pp"
    return NA if f["yoy"] is None else f"{f['yoy'] * 100:+.1f}%"


def verdict(name: str, f: dict) -> str:
    """'good', 'bad' or '' for the direction of the change, from the hotline's point of view."""
    c = f.get("change")
    if not c or name in VOLUMES:
        return ""
    return "good" if (c < 0) == (name in LOWER_IS_BETTER) else "bad"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _scope(report: dict) -> str:
    u = report.get("unit")
    return f"{u['code']} {u['name']}" if u else "all units"


# ---------------------------------------------------------------- terminal


def render_text(report: dict, top: int | None = None) -> str:
    p, lp = report["period"], report["last_year_period"]
    out = [f"12345 hotline KPIs {p['from']} – {p['to']} ({_scope(report)}); "
           f"last year {lp['from']} – {lp['to']}", *_calendar_warning_lines(report), ""]
    rows = [["KPI", "this period", "last year", "change"]]
    for name in KPI_NAMES:
        f = report["kpis"][name]
        rows.append([f"{LABELS[name][0]} {LABELS[name][1]}", fmt(name, f["value"]), fmt(name, f["last_year"]),
                     fmt_change(name, f)])
    out += _table(rows, right=(1, 2, 3))
    ranking = report["ranking"][:top] if top else report["ranking"]
    out += ["", "Units ranked by invalid returns (worst first)"]
    short = {"return_rate": "return", "response_rate": "response", "on_time_rate": "on time",
             "resolution_rate": "resolved", "satisfaction_rate": "satisfied", "avg_handling_hours": "avg h",
             "criticisms": "crit.", "referrals": "ref."}
    rows = [["#", "unit", "dispatched", "invalid", "last yr", "YoY", *short.values()]]
    for r in ranking:
        yoy = NA if r["invalid_returns_yoy"] is None else f"{r['invalid_returns_yoy'] * 100:+.0f}%"
        rows.append([str(r["rank"]), f"{r['unit']} {r['name']}", f"{r['dispatched']:,}",
                     str(r["kpis"]["invalid_returns"]), str(r["last_year"]["invalid_returns"]), yoy,
                     *(fmt(n, r["kpis"][n]) for n in short)])
    out += _table(rows, right=tuple(range(2, 6 + len(short))), first_left=(0,))
    m = report["monthly_invalid_returns"]
    out += ["", f"Invalid returns by month, {m['year']} vs {m['year'] - 1}"]
    rows = [["month", *m["months"]], [str(m["year"]), *(NA if v is None else str(v) for v in m["this_year"])],
            [str(m["year"] - 1), *(str(v) for v in m["last_year"])]]
    out += _table(rows, right=tuple(range(1, 13)))
    return "\n".join(out) + "\n"


def _calendar_warning_lines(report: dict) -> list[str]:
    """The coming year's schedule is missing (`hotline.services.calendar_admin.coming_year_status`)."""
    w = report.get("calendar_warning")
    return [f"warning {w['code']}: {w['message']}"] if w else []


def _table(rows: list[list[str]], right: tuple = (), first_left: tuple = ()) -> list[str]:
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [_pad(c, widths[i], right=i in right and i not in first_left) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


# ---------------------------------------------------------------- HTML

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",Arial,sans-serif;
 margin:24px auto;max-width:1100px;color:#1f2933;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:2px solid #c8102e;
 padding-bottom:4px}.meta{color:#52606d;font-size:13px}
.headline{display:flex;gap:24px;align-items:center;background:#fff5f5;border-left:6px solid #c8102e;
 padding:12px 18px;margin:16px 0}.headline .big{font-size:40px;font-weight:700}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:10px 12px}.card .name{font-size:12px;color:#52606d}
.card .value{font-size:24px;font-weight:700}.card .last{font-size:12px;color:#52606d}
.good{color:#0b7a3e}.bad{color:#c8102e}
table{border-collapse:collapse;width:100%;font-size:12.5px}th,td{padding:4px 6px;border-bottom:1px solid #e4e7eb}
th{background:#f0f4f8;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{margin:8px 0}.legend{font-size:12px;color:#52606d}.sw{display:inline-block;width:12px;height:12px;
 margin:0 4px 0 12px;vertical-align:-2px}footer{margin-top:28px;font-size:11.5px;color:#52606d}
.calwarn{background:#fffbea;border-left:6px solid #f0b429;padding:8px 14px;margin:12px 0;font-size:13px}
@media print{body{margin:0;max-width:none}.chart,table,.cards{page-break-inside:avoid}}
"""
THIS, LAST = "#c8102e", "#9aa5b1"


def render_html(report: dict) -> str:
    p, lp = report["period"], report["last_year_period"]
    k = report["kpis"]
    inv = k["invalid_returns"]
    title = f"12345热线 KPI 报告 · {p['from']} – {p['to']}"
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        "<h1>三亚市12345热线 · 首接责任制 KPI briefing</h1>",
        f'<div class="meta">Period {escape(p["from"])} – {escape(p["to"])} (to exclusive) · compared with '
        f'{escape(lp["from"])} – {escape(lp["to"])} · {escape(_scope(report))} · time zone '
        f'{escape(report["timezone"])} · generated {escape(report["generated_at"])}</div>',
        *(f'<div class="calwarn"><b>{escape(w["code"])}</b> {escape(w["message"])}</div>'
          for w in [report.get("calendar_warning")] if w),
        '<div class="headline"><div><div class="name">Invalid returns 无效退单</div>'
        f'<div class="big">{fmt("invalid_returns", inv["value"])}</div></div>'
        f'<div>last year {fmt("invalid_returns", inv["last_year"])}<br><span class="big '
        f'{verdict("invalid_returns", inv)}">{fmt_change("invalid_returns", inv)}</span> year on year</div></div>',
        "<h2>Key figures 主要指标</h2>", '<div class="cards">',
    ]
    for name in KPI_NAMES:
        f = k[name]
        parts.append(f'<div class="card"><div class="name">{escape(LABELS[name][0])} {escape(LABELS[name][1])}'
                     f'</div><div class="value">{fmt(name, f["value"])}</div><div class="last">last year '
                     f'{fmt(name, f["last_year"])} · <span class="{verdict(name, f)}">{fmt_change(name, f)}'
                     "</span></div></div>")
    parts.append("</div>")
    m = report["monthly_invalid_returns"]
    parts += [f"<h2>Invalid returns by month 月度无效退单 · {m['year']} vs {m['year'] - 1}</h2>",
              _legend(str(m["year"]), str(m["year"] - 1)), _monthly_chart(m),
              "<h2>Rates this period vs last year 各项比率同比</h2>", _legend("this period", "last year"),
              _rates_chart(k), "<h2>Units ranked by invalid returns 各单位无效退单排名</h2>",
              _legend("this period", "last year"), _ranking_chart(report["ranking"]), _ranking_table(report),
              _footer()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _legend(this: str, last: str) -> str:
    return (f'<div class="legend"><span class="sw" style="background:{THIS}"></span>{escape(this)}'
            f'<span class="sw" style="background:{LAST}"></span>{escape(last)}</div>')


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
            f'font-family="inherit" font-size="11">{"".join(body)}</svg></div>')


def _nice_max(v: float, ticks: int = 4) -> float:
    """A round top for an axis of `ticks` steps of 1, 2, 2.5, 3, 4, 5, 6 or 8 × 10^n; whole
    steps below 10, since the axes count orders."""
    need, mag = max(v, 1) / ticks, 1
    while True:
        for step in (1, 2, 2.5, 3, 4, 5, 6, 8):
            if step * mag >= need and (step * mag) % 1 == 0:
                return step * mag * ticks
        mag *= 10


def _monthly_chart(m: dict) -> str:
    W, H, left, top, bottom = 960, 280, 44, 16, 36
    vals = [v for v in m["this_year"] + m["last_year"] if v is not None]
    top_v = _nice_max(max(vals, default=0))
    plot_h, slot = H - top - bottom, (W - left - 10) / 12
    y = lambda v: top + plot_h - plot_h * v / top_v  # noqa: E731
    body = []
    for i in range(5):
        v = top_v * i / 4
        body.append(f'<line x1="{left}" x2="{W - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e7eb"/>'
                    f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#52606d">{v:g}</text>')
    for i, label in enumerate(m["months"]):
        x0 = left + i * slot
        bw = slot * 0.36
        for j, (series, color, year) in enumerate(((m["last_year"], LAST, m["year"] - 1),
                                                   (m["this_year"], THIS, m["year"]))):
            v = series[i]
            if v is None:
                continue
            x = x0 + slot * 0.12 + j * bw
            body.append(f'<rect class="bar" x="{x:.1f}" y="{y(v):.1f}" width="{bw:.1f}" '
                        f'height="{max(0.0, y(0) - y(v)):.1f}" fill="{color}"><title>{year}-{label}: {v} invalid '
                        f'returns</title></rect><text x="{x + bw / 2:.1f}" y="{y(v) - 3:.1f}" text-anchor="middle" '
                        f'font-size="10" fill="#323f4b">{v}</text>')
        body.append(f'<text x="{x0 + slot / 2:.1f}" y="{H - bottom + 16}" text-anchor="middle">{label}月</text>')
    body.append(f'<line x1="{left}" x2="{W - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#7b8794"/>')
    return _svg(W, H, body, "monthly invalid returns, this year and last year")


def _rates_chart(k: dict) -> str:
    W, row, left = 960, 44, 210
    H = row * len(RATES) + 24
    x = lambda v: left + (W - left - 70) * v  # noqa: E731
    body = [f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="0" y2="{H - 20}" stroke="#e4e7eb"/>'
            f'<text x="{x(t):.1f}" y="{H - 6}" text-anchor="middle" fill="#52606d">{t * 100:.0f}%</text>'
            for t in (0, 0.25, 0.5, 0.75, 1.0)]
    for i, name in enumerate(RATES):
        f, y0 = k[name], i * row + 4
        body.append(f'<text x="{left - 8}" y="{y0 + 19}" text-anchor="end">{escape(LABELS[name][0])} '
                    f'{escape(LABELS[name][1])}</text>')
        for j, (v, color, who) in enumerate(((f["value"], THIS, "this period"), (f["last_year"], LAST, "last year"))):
            yy = y0 + j * 17
            if v is None:
                body.append(f'<text x="{left + 4}" y="{yy + 12}" fill="#52606d">{NA} no data</text>')
                continue
            body.append(f'<rect class="bar" x="{left}" y="{yy}" width="{x(v) - left:.1f}" height="14" fill="{color}">'
                        f'<title>{escape(LABELS[name][0])}, {who}: {fmt(name, v)}</title></rect>'
                        f'<text x="{x(v) + 4:.1f}" y="{yy + 11}">{fmt(name, v)}</text>')
    return _svg(W, H, body, "rates this period and last year")


def _ranking_chart(ranking: list[dict]) -> str:
    W, row, left = 960, 20, 250
    rows = ranking[:25]
    H = row * len(rows) + 26
    top_v = _nice_max(max([r["kpis"]["invalid_returns"] for r in rows] + [r["last_year"]["invalid_returns"]
                                                                          for r in rows] + [0]))
    x = lambda v: left + (W - left - 130) * v / top_v  # noqa: E731
    body = []
    for i, r in enumerate(rows):
        y0, v, lv = i * row + 2, r["kpis"]["invalid_returns"], r["last_year"]["invalid_returns"]
        name = f"{r['rank']}. {r['unit']} {r['name']}"
        body.append(f'<text x="{left - 8}" y="{y0 + 13}" text-anchor="end">{escape(name)}</text>'
                    f'<rect class="bar" x="{left}" y="{y0 + 2}" width="{x(v) - left:.1f}" height="13" fill="{THIS}">'
                    f'<title>{escape(r["unit"])}: {v} this period, {lv} last year</title></rect>'
                    f'<line x1="{x(lv):.1f}" x2="{x(lv):.1f}" y1="{y0}" y2="{y0 + 17}" stroke="{LAST}" '
                    f'stroke-width="3"><title>{escape(r["unit"])} last year: {lv}</title></line>'
                    f'<text x="{max(x(v), x(lv)) + 6:.1f}" y="{y0 + 13}">{v}'
                    f'<tspan fill="#7b8794"> (last year {lv})</tspan></text>')
    body.append(f'<text x="{left}" y="{H - 4}" fill="#52606d">bar: this period · grey tick: last year</text>')
    return _svg(W, H, body, "units ranked by invalid returns")


def _ranking_table(report: dict) -> str:
    cols = ["invalid_returns", *RATES, "avg_handling_hours", "criticisms", "referrals"]
    head = "".join(f"<th>{escape(LABELS[c][1])}</th>" for c in cols)
    selected = (report.get("unit") or {}).get("code")
    rows = []
    for r in report["ranking"]:
        yoy = "" if r["invalid_returns_yoy"] is None else f' ({r["invalid_returns_yoy"] * 100:+.0f}%)'
        cells = [f'<td class="n">{fmt(c, r["kpis"][c])}{yoy if c == "invalid_returns" else ""}</td>' for c in cols]
        style = ' style="background:#fff5f5;font-weight:600"' if r["unit"] == selected else ""
        rows.append(f'<tr{style}><td class="n">{r["rank"]}</td><td>{escape(r["unit"])} {escape(r["name"])}</td>'
                    f'<td class="n">{r["dispatched"]:,}</td>{"".join(cells)}</tr>')
    return (f"<table><thead><tr><th>#</th><th>unit 单位</th><th>转办</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _footer() -> str:
    return ("<footer><p><b>How the figures are counted.</b> Invalid returns: return requests the hotline rejected, "
            "by review date, against the unit that asked. Return and response rates: per dispatch (an order "
            "redispatched after an approved return counts for each unit it was handed to). On-time rate and "
            "handling time: each order once, by its last reply, against its deadline including approved "
            "extensions; a reopened order (重办) is judged on its re-reply. Handling time: dispatch to reply in "
            "working hours on the official calendar. Resolution and satisfaction: rated callbacks only (unrated "
            "excluded). Requests: every petitioner's request once, as an order of its own or merged into one "
            "(并单); orders count the matters, so one problem reported twenty times is one order in every rate. "
            "— means no data: a rate with nothing to divide by is undefined, not 0%. Rates change in "
            "percentage points (pp), counts and hours year on year in percent.</p></footer>")
