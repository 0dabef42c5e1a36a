"""A year's working-day schedule (节假日安排) as the hotline office enters it, validated whole.

The State Council's notice (国务院办公厅关于XXXX年部分节假日安排的通知) is typed into a YAML file:

    year: 2027
    notice: "国办发明电〔2026〕N号"
    days:
      2027-02-05: {workday: false, note: "春节"}
      2027-02-20: {workday: true,  note: "春节调休上班"}

`days` lists every day that is not a plain Monday–Friday day: each holiday on a weekday
(`workday: false`; holidays on a weekend may be listed too, to copy the notice's blocks) and
each make-up working day on a weekend (`workday: true`, 调休上班). Every other day of the year
is then an ordinary Monday–Friday day, and known.

The file is refused whole, every problem named with its line, when:
- it is not YAML, not a mapping, has a key other than `year`, `notice`, `days`, or lacks one;
- a date is malformed, listed twice, or outside the year — except the last week of the
  year before, which notices do arrange for the New Year holiday (the 2019 notice: "2018年12月
  30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班");
- an entry is not `{workday: true|false, note: "…"}`;
- a make-up working day is not a Saturday or Sunday (a weekday already is one);
- a statutory holiday of that year (`hotline.domain.statutory`) is a working day, or falls on a
  weekday and is not listed as a day off;
- make-up working days are not paired with holidays: there may be no more of them than
  weekday holidays beyond the statutory ones (the bridging and substitute days they pay for),
  and each lies within 14 days of a listed holiday. Every schedule in chinesecalendar since
  2004 keeps both rules (`tests/services/test_calendar_admin.py`).

Pure: text in, a `Schedule` or a `ScheduleError` out. Storing it is `hotline.services.calendar_admin`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import yaml

from hotline.domain.statutory import FIRST_YEAR, LAST_YEAR, statutory_days

MAX_TEXT = 200        # note and notice, as stored
PAIRING_DAYS = 14     # a make-up working day lies this close to a holiday of its notice
PREVIOUS_YEAR_DAYS = 7
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_TOP_KEYS = ("year", "notice", "days")
_ENTRY_KEYS = ("workday", "note")


class ScheduleError(ValueError):
    """The schedule is refused; `problems` lists each one as "line N: …"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ScheduleDay:
    day: date
    workday: bool
    note: str
    line: int = 0


@dataclass(frozen=True)
class Schedule:
    year: int
    notice: str
    days: tuple[ScheduleDay, ...]

    def overrides(self) -> dict[date, bool]:
        return {d.day: d.workday for d in self.days}

    @property
    def holidays(self) -> list[ScheduleDay]:
        return [d for d in self.days if not d.workday]

    @property
    def make_up_days(self) -> list[ScheduleDay]:
        return [d for d in self.days if d.workday]


def weekday_zh(d: date) -> str:
    return WEEKDAYS_ZH[d.weekday()]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _bool(node: yaml.Node) -> bool | None:
    text = _scalar(node)
    if text is None or node.tag != "tag:yaml.org,2002:bool":
        return None
    return yaml.constructor.SafeConstructor.bool_values.get(text.lower())


def _text(node: yaml.Node, what: str, problems: list[str]) -> str | None:
    text = _scalar(node)
    if text is None or node.tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int",
                                        "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"):
        problems.append(f"line {_line(node)}: {what} must be text")
        return None
    text = text.strip()
    if not text:
        problems.append(f"line {_line(node)}: {what} must not be empty")
    elif len(text) > MAX_TEXT:
        problems.append(f"line {_line(node)}: {what} is longer than {MAX_TEXT} characters")
    elif "\x00" in text:
        problems.append(f"line {_line(node)}: {what} contains a NUL character")
    else:
        return text
    return None


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        raise ScheduleError([f"line {mark.line + 1 if mark else 1}: not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:  # the reader refuses a character before any parsing
        pos = getattr(exc, "position", 0) or 0
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ScheduleError([f"line {text[:pos].count(chr(10)) + 1}: not valid YAML: {first}"]) from None
    except RecursionError:
        raise ScheduleError(["line 1: not valid YAML: nested too deeply"]) from None


def parse_schedule(text: str, expect_year: int | None = None) -> Schedule:
    """Validate the whole file; raise `ScheduleError` with every problem, else the schedule."""
    root = _compose(text)
    if not isinstance(root, yaml.MappingNode):
        line = _line(root) if root is not None else 1
        raise ScheduleError([f"line {line}: the file must be a mapping with year, notice and days"])
    problems: list[str] = []
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in root.value:
        key = _scalar(key_node)
        if key not in _TOP_KEYS:
            problems.append(f"line {_line(key_node)}: unknown key {key if key is not None else '?'!r}; "
                            f"only {', '.join(_TOP_KEYS)}")
        elif key in fields:
            problems.append(f"line {_line(key_node)}: {key} is given twice (first at line {_line(fields[key][0])})")
        else:
            fields[key] = (key_node, value_node)
    for key in _TOP_KEYS:
        if key not in fields:
            problems.append(f"line {_line(root)}: {key} is missing")

    year = _year(fields.get("year"), expect_year, problems)
    notice = _text(fields["notice"][1], "notice", problems) if "notice" in fields else None
    days = _days(fields["days"], year, problems) if "days" in fields else []
    if year is not None and "days" in fields and not problems:
        _check_rules(year, days, _line(fields["days"][0]), problems)
    if problems:
        raise ScheduleError(problems)
    assert year is not None and notice is not None  # either missing or invalid was a problem above
    return Schedule(year=year, notice=notice, days=tuple(sorted(days, key=lambda d: d.day)))


def _year(field, expect_year: int | None, problems: list[str]) -> int | None:
    if field is None:
        return None
    node = field[1]
    text = _scalar(node)
    if text is None or node.tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:str") \
            or not re.fullmatch(r"\d{4}", text):
        problems.append(f"line {_line(node)}: year must be a year such as 2027")
        return None
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        problems.append(f"line {_line(node)}: year {year} is outside {FIRST_YEAR}..{LAST_YEAR}")
        return None
    if expect_year is not None and year != expect_year:
        problems.append(f"line {_line(node)}: the file is the schedule of {year}, not of {expect_year}")
        return None
    return year


def _days(field, year: int | None, problems: list[str]) -> list[ScheduleDay]:
    key_node, node = field
    if not isinstance(node, yaml.MappingNode) or not node.value:
        problems.append(f"line {_line(node)}: days must map each date to {{workday, note}}")
        return []
    out: list[ScheduleDay] = []
    seen: dict[date, int] = {}
    for day_node, entry_node in node.value:
        line = _line(day_node)
        day = _date(day_node, problems)
        if day is None:
            continue
        if day in seen:
            problems.append(f"line {line}: {day} is listed twice (first at line {seen[day]})")
            continue
        seen[day] = line
        entry = _entry(entry_node, day, problems)
        if entry is None:
            continue
        workday, note = entry
        if year is not None and day.year != year:
            tail = date(year - 1, 12, 31) - timedelta(days=PREVIOUS_YEAR_DAYS - 1)
            if not tail <= day < date(year, 1, 1):
                problems.append(f"line {line}: {day} is not in {year} (only the last week of {year - 1} may be "
                                "listed, for the New Year holiday)")
                continue
        if workday and day.weekday() < 5:
            problems.append(f"line {line}: {day} is a {weekday_zh(day)}, already a working day: a make-up "
                            "working day (调休上班) must be a Saturday or Sunday")
            continue
        out.append(ScheduleDay(day, workday, note, line))
    return out


def _date(node: yaml.Node, problems: list[str]) -> date | None:
    text = _scalar(node)
    try:
        if text is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        shown = text if text is not None else "this key"
        problems.append(f"line {_line(node)}: {shown!r} is not a date (YYYY-MM-DD)")
        return None


def _entry(node: yaml.Node, day: date, problems: list[str]) -> tuple[bool, str] | None:
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"line {_line(node)}: {day}: expected {{workday: true|false, note: \"…\"}}")
        return None
    given: dict[str, yaml.Node] = {}
    ok = True
    for k_node, v_node in node.value:
        k = _scalar(k_node)
        if k not in _ENTRY_KEYS or k in given:
            problems.append(f"line {_line(k_node)}: {day}: "
                            + (f"{k} is given twice" if k in given else f"unknown key {k!r}; only workday and note"))
            ok = False
            continue
        given[k] = v_node
    for k in _ENTRY_KEYS:
        if k not in given:
            problems.append(f"line {_line(node)}: {day}: {k} is missing (every entry needs workday: true/false "
                            "and a note)")
            ok = False
    if not ok:
        return None
    workday = _bool(given["workday"])
    if workday is None:
        problems.append(f"line {_line(given['workday'])}: {day}: workday must be true or false, "
                        f"got {_scalar(given['workday'])!r}")
    note = _text(given["note"], f"{day}: note", problems)
    return (workday, note) if workday is not None and note is not None else None


def _check_rules(year: int, days: list[ScheduleDay], days_line: int, problems: list[str]) -> None:
    """The rules that need the whole year: statutory holidays kept, 调休 paired."""
    by_day = {d.day: d for d in days}
    statutory = statutory_days(year)
    for day, name in sorted(statutory.items()):
        entry = by_day.get(day)
        if entry is not None and entry.workday:
            problems.append(f"line {entry.line}: {day} is {name}, a statutory holiday: it cannot be a working day")
        elif entry is None and day.weekday() < 5:
            problems.append(f"line {days_line}: {day} ({weekday_zh(day)}) is {name}, a statutory holiday, but is "
                            "not listed as a day off")
    make_ups = sorted((d for d in days if d.workday), key=lambda d: d.day)
    holidays = [d.day for d in days if not d.workday]
    extra = [d for d in holidays if d.weekday() < 5 and d not in statutory]
    for d in make_ups:
        if not holidays or min(abs((d.day - h).days) for h in holidays) > PAIRING_DAYS:
            problems.append(f"line {d.line}: make-up working day {d.day} is not within {PAIRING_DAYS} days of any "
                            "holiday of this schedule")
    if len(make_ups) > len(extra):
        first_unpaired = make_ups[len(extra)]
        problems.append(f"line {first_unpaired.line}: {len(make_ups)} make-up working days but only {len(extra)} "
                        "weekday holiday(s) beyond the statutory ones to pay for: every 调休上班 day must be paired "
                        "with a holiday")
