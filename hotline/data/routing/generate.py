"""Build the routing corpus (train.jsonl) and the held-out set (heldout.jsonl), reproducibly.

    python hotline/data/routing/generate.py

train.jsonl: phrases_train.py snippets in its frames and places, the catalogue's own keywords
(every responsibility entry), and hard variants (sarcasm, no keyword, two problems, typos).
heldout.jsonl: phrases_heldout.py only, other frames and places, plus its hand-written hard
cases. A fixed seed makes both files byte-identical on every run.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2]))

import phrases_heldout as held  # noqa: E402
import phrases_train as train  # noqa: E402

from hotline.domain.catalogue import default_catalogue_path, load_catalogue  # noqa: E402
from hotline.domain.codes import DISTRICTS  # noqa: E402

SEED = 12345
CATEGORIES = ["complaint", "help", "consultation", "report", "suggestion"]
# Common typing slips of callers' words (homophones, near shapes): applied once per text.
TYPOS = {"道": "到", "在": "再", "公司": "工司", "没": "每", "电": "店", "费": "废", "坏": "怀",
         "修": "休", "证": "正", "管": "关", "建": "见", "停": "听", "办": "半", "理": "里",
         "垃圾": "拉圾", "违章": "违张", "已经": "以经", "工资": "工姿", "噪音": "燥音"}


def category_for(text: str, rng: random.Random) -> str:
    if any(w in text for w in ("请问", "怎么", "要什么", "哪里", "什么时候", "多久", "是什么")):
        return "consultation"
    if any(w in text for w in ("建议", "希望", "想加开")):
        return "suggestion"
    return rng.choice(["complaint", "complaint", "help", "report"])


def add_typo(text: str, rng: random.Random) -> str | None:
    options = [(a, b) for a, b in TYPOS.items() if a in text]
    if not options:
        return None
    a, b = rng.choice(options)
    return text.replace(a, b, 1)


def _district(label: str, i: int, rng: random.Random) -> str | None:
    if label == "DISTRICT":
        return DISTRICTS[i % len(DISTRICTS)]
    if label == "JTTZ":
        return rng.choice(["YZQ", "YZQ", None])
    return rng.choice([*DISTRICTS, None, None])


def _place(places: dict, district: str | None, label: str, rng: random.Random) -> str:
    if label == "JTTZ":
        return rng.choice(train.JTTZ_PLACES)
    if district and rng.random() < 0.6:
        return rng.choice(places[district])
    return rng.choice(train.GENERIC_PLACES)


def row(text, unit_label, district, category, kind, source) -> dict:
    unit = district if unit_label == "DISTRICT" else unit_label
    return {"text": text, "category": category, "district": district, "unit": unit,
            "kind": kind, "source": source}


def build_train(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    i = 0
    for label, snippets in train.SNIPPETS.items():
        for s in snippets:
            for frame in rng.sample(train.FRAMES, 3):
                i += 1
                d = _district(label, i, rng)
                text = frame.format(p=_place(train.PLACES_BY_DISTRICT, d, label, rng), s=s)
                rows.append(row(text, label, d, category_for(text, rng), "plain", "template"))
        for s in rng.sample(snippets, 4):
            i += 1
            d = _district(label, i, rng)
            text = rng.choice(train.SARCASM).format(s=s)
            rows.append(row(text, label, d, "complaint", "sarcasm", "template"))
        for s in train.NO_KEYWORD[label]:
            for frame in rng.sample(train.FRAMES, 3):
                i += 1
                d = _district(label, i, rng)
                text = frame.format(p=_place(train.PLACES_BY_DISTRICT, d, label, rng), s=s)
                rows.append(row(text, label, d, category_for(text, rng), "nokw", "template"))
        for s in rng.sample(snippets, 5):
            i += 1
            d = _district(label, i, rng)
            rows.append(row(s + rng.choice(train.SECOND), label, d, "complaint", "multi", "template"))
    rows.extend(_catalogue_rows(rng))
    for r in rng.sample(rows, len(rows) // 6):
        typo = add_typo(r["text"], rng)
        if typo:
            rows.append({**r, "text": typo, "kind": "typo"})
    return rows


def _catalogue_rows(rng: random.Random) -> list[dict]:
    """Every responsibility entry contributes its own keywords, so the model knows every duty
    the catalogue lists, not only the ones the snippets happen to mention."""
    out: list[dict] = []
    frames = ["{k}的问题", "反映{k}的情况", "{k}，请相关部门处理", "关于{k}想咨询一下"]
    seen_district = False
    for unit in load_catalogue(default_catalogue_path()).owners():
        if unit.type == "district":
            if seen_district:
                continue  # the five share one list: once is enough
            seen_district = True
        label = "DISTRICT" if unit.type == "district" else unit.code
        for n, entry in enumerate(unit.responsibilities):
            for j, kw in enumerate(entry.keywords):
                d = _district(label, n + j, rng)
                if entry.places:
                    kw = f"{rng.choice(entry.places)}{kw}"
                    d = "YZQ" if entry.districts else d
                text = rng.choice(frames).format(k=kw)
                out.append(row(text, label, d, rng.choice(entry.categories), "catalogue", "catalogue"))
    return out


def build_heldout(rng: random.Random) -> list[dict]:
    rows: list[dict] = []
    i = 0
    for label, snippets in held.PLAIN.items():
        for s in snippets:
            i += 1
            d = _district(label, i, rng)
            places = held.PLACES_BY_DISTRICT[d] if d else ["我家附近", "小区旁边", "我们这里"]
            if label == "JTTZ":
                places = ["崖州", "我家这边"]
            text = rng.choice(held.FRAMES).format(p=rng.choice(places), s=s)
            rows.append(row(text, label, d, category_for(text, rng), "plain", "heldout"))
    for label, kind, text in held.HARD:
        i += 1
        d = _district(label, i, rng)
        rows.append(row(text, label, d, category_for(text, rng), kind, "heldout"))
    return rows


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


def main() -> int:
    tr = build_train(random.Random(SEED))
    ho = build_heldout(random.Random(SEED + 1))
    clash = {r["text"] for r in tr} & {r["text"] for r in ho}
    if clash:
        raise SystemExit(f"held-out texts found in training: {sorted(clash)[:5]}")
    write(HERE / "train.jsonl", tr)
    write(HERE / "heldout.jsonl", ho)
    hard = sum(r["kind"] != "plain" for r in ho)
    print(f"train: {len(tr)} rows; held-out: {len(ho)} rows, {hard} hard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
