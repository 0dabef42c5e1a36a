"""Charts of the benchmarks (issue 14): PNG files from the JSON that bench/intake.py,
bench/actions.py and bench/backlog.py write with --json.

Run from the repository root:

    bench/run.sh charts --in DIR [--out bench/charts]

reads every *.json in DIR (or the files given to --in) and writes, for what it finds:

  backlog-latency.png      update latency p50 and p99 against the offered rate (log scale, the
                           1 s line of the rising-rate mode), one pair of lines per run
  backlog-throughput.png   achieved against offered rate (the diagonal: every update answered in step)
  intake-throughput.png    requests/s of the loops (bare, shape, uws, engine, http), one bar per run
  intake-latency.png       p50 and p99 of the same loops
  intake-written.png       answered/s against answered-and-written/s of our loops (the work
                           behind an answer that came from the start), last run
  intake-cpu.png           CPU ms per request of each part of the stack, stacked, per loop, last run
  actions-throughput.png   the same for department `sign` actions (loops bare, engine, http)
  actions-latency.png
  actions-cpu.png

Headless (Agg backend): no display is needed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works over ssh and in CI, where there is no display
import matplotlib.pyplot as plt  # noqa: E402

LOOPS = {"intake": ["bare", "shape", "uws", "engine", "http"], "actions": ["bare", "engine", "http"]}
PARTS = ["server", "worker", "gateway", "bench"]  # CPU per request, as the benchmarks split it


def num(x) -> float:
    return float("nan") if x is None else float(x)


def label(doc: dict) -> str:
    workers = (doc.get("params") or {}).get("workers", 1)
    return f"{doc.get('commit', '?')} {str(doc.get('date', ''))[:16].replace('T', ' ')}" + \
        (f", {workers} workers" if workers and workers > 1 else "")


def load(inputs: list[str]) -> dict[str, list[dict]]:
    """The runs found, by benchmark name, oldest first."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    runs: dict[str, list[dict]] = {}
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            print(f"   skipped {f}: {exc}", file=sys.stderr)
            continue
        if isinstance(doc, dict) and doc.get("benchmark"):
            doc["_file"] = f.name
            runs.setdefault(doc["benchmark"], []).append(doc)
    for docs in runs.values():
        docs.sort(key=lambda d: str(d.get("date", "")))
    return runs


def save(fig, out: Path, name: str, written: list[Path]) -> None:
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)


def backlog_charts(docs: list[dict], out: Path, written: list[Path]) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    fig2, ax2 = plt.subplots(figsize=(8, 5))
    top, offered = 0.0, set()
    for i, doc in enumerate(docs):
        phases = sorted(doc.get("phases", []), key=lambda p: p["offered_rate"])
        if not phases:
            continue
        rates = [p["offered_rate"] for p in phases]
        offered.update(rates)
        top = max(top, *rates, *(num(p.get("achieved_rate")) for p in phases if p.get("achieved_rate") is not None))
        color = f"C{i % 10}"
        name = f"{label(doc)}, {doc.get('start', {}).get('open', '?')} open"
        ax.plot(rates, [num(p["p50_ms"]) for p in phases], "o-", color=color, label=f"p50 — {name}")
        ax.plot(rates, [num(p["p99_ms"]) for p in phases], "s--", color=color, label=f"p99 — {name}")
        held = doc.get("highest_rate_held")
        if held is not None:
            ax.axvline(held, color=color, alpha=0.3, linewidth=6)
        ax2.plot(rates, [num(p.get("achieved_rate")) for p in phases], "o-", color=color, label=name)
    ax.axhline(1000, color="grey", linestyle=":", label="1 s (held: p99 below it)")
    ax.set_yscale("log")
    ax.set_ylim(top=max(ax.get_ylim()[1], 2000))  # the 1 s line inside the frame, not on it
    for a in (ax, ax2):
        a.set_xticks(sorted(offered))
    ax.set_xlabel("offered rate (`sign` updates/s)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("backlog: update latency against offered rate\n(shaded: highest rate held)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out, "backlog-latency.png", written)
    ax2.plot([0, top], [0, top], color="grey", linestyle=":", label="achieved = offered")
    ax2.set_xlabel("offered rate (`sign` updates/s)")
    ax2.set_ylabel("achieved rate (answers/s, queue drain included)")
    ax2.set_title("backlog: achieved against offered rate")
    ax2.set_xlim(left=0)
    ax2.set_ylim(bottom=0)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8)
    save(fig2, out, "backlog-throughput.png", written)


def grouped_bars(ax, loops: list[str], series: list[tuple[str, list[float]]], fmt: str) -> None:
    """Bars per loop, one bar per series side by side, values on top."""
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(loops))]
        bars = ax.bar(xs, values, width, label=name, color=f"C{k % 10}")
        ax.bar_label(bars, labels=["" if math.isnan(v) else fmt.format(v) for v in values], fontsize=7)
    ax.set_xticks(range(len(loops)), loops)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)


def loop_value(doc: dict, loop: str, key: str) -> float:
    for lp in doc.get("loops", []):
        if lp.get("name") == loop:
            return num(lp.get(key))
    return float("nan")


def loop_charts(kind: str, docs: list[dict], out: Path, written: list[Path]) -> None:
    what = {"intake": "intake (POST /api/v1/orders)", "actions": "department `sign` actions"}[kind]
    params = docs[-1].get("params", {})
    sub = f"{params.get('requests', '?')} per loop, {params.get('concurrency', '?')} concurrent callers"
    loops = LOOPS[kind]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    grouped_bars(ax, loops, [(label(d), [loop_value(d, lp, "throughput_per_s") for lp in loops]) for d in docs],
                 "{:.1f}")
    ax.set_ylabel("requests/s" if kind == "intake" else "actions/s")
    ax.set_title(f"{what}: throughput\n{sub}")
    save(fig, out, f"{kind}-throughput.png", written)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    series = []
    for d in docs:
        tag = "" if len(docs) == 1 else f" — {label(d)}"
        series += [(f"p50{tag}", [loop_value(d, lp, "p50_ms") for lp in loops]),
                   (f"p99{tag}", [loop_value(d, lp, "p99_ms") for lp in loops])]
    grouped_bars(ax, loops, series, "{:.0f}")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{what}: latency\n{sub}" + (f" — {label(docs[0])}" if len(docs) == 1 else ""))
    save(fig, out, f"{kind}-latency.png", written)

    last = docs[-1]
    if kind == "intake" and any(lp.get("written_per_s") is not None for lp in last.get("loops", [])):
        ours = [lp for lp in loops if loop_value(last, lp, "written_per_s") == loop_value(last, lp, "written_per_s")]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        grouped_bars(ax, ours, [("answered/s", [loop_value(last, lp, "throughput_per_s") for lp in ours]),
                                ("answered and written/s", [loop_value(last, lp, "written_per_s") for lp in ours])],
                     "{:.1f}")
        ax.axhline(loop_value(last, "bare", "throughput_per_s") / 2, color="grey", linestyle=":",
                   label="0.5 × bare start_workflow")
        ax.set_ylabel("orders/s")
        ax.set_title(f"intake: answered, and answered with its work written\n{sub} — {label(last)}")
        ax.legend(fontsize=8)
        save(fig, out, "intake-written.png", written)

    cpu = {lp: next((x.get("cpu_ms") for x in last.get("loops", []) if x.get("name") == lp), None) for lp in loops}
    if any(cpu.values()):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        bottom = [0.0] * len(loops)
        for k, part in enumerate(PARTS):
            values = [num((cpu[lp] or {}).get(part)) for lp in loops]
            values = [0.0 if math.isnan(v) else v for v in values]
            ax.bar(range(len(loops)), values, 0.6, bottom=bottom, label=part, color=f"C{k}")
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for i, total in enumerate(bottom):
            ax.text(i, total, f"{total:.0f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(loops)), loops)
        ax.set_ylabel("CPU ms per request")
        ax.set_title(f"{what}: where the CPU of a request goes\n{sub} — {label(last)}")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        save(fig, out, f"{kind}-cpu.png", written)


def main(args) -> int:
    runs = load(args.inputs)
    if not runs:
        print(f"no benchmark JSON found in {', '.join(args.inputs)} (write some with --json PATH)", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "backlog" in runs:
        backlog_charts(runs["backlog"], out, written)
    for kind in ("intake", "actions"):
        if kind in runs:
            loop_charts(kind, runs[kind], out, written)
    for kind in sorted(set(runs) - {"backlog", "intake", "actions"}):
        print(f"   no chart for {kind} ({len(runs[kind])} files)")
    for path in written:
        print(f"   wrote {path}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--in", dest="inputs", nargs="+", required=True, metavar="DIR_OR_FILE",
                    help="directories of *.json (or JSON files) written by the benchmarks' --json")
    ap.add_argument("--out", default="bench/charts", help="directory for the PNG files")
    sys.exit(main(ap.parse_args()))
