"""Time-limit policy (时限规则): every limit of SPEC §4 lives in a versioned policy file.

A limit is a `Duration`: calendar time ("30s", "30m", "12h", "3d") or working time on the
official calendar ("3wd" working days, "4wh" working hours; see `hotline.domain.workcal`).
Units: s seconds, m minutes (never months), h hours, d calendar days, wd working days,
wh working hours. Amounts are whole numbers; there is no week unit on purpose, because
"1w" is ambiguous between 5 working days and 7 calendar days.

Policies are loaded by bare name ("sanya", "fast": `hotline/policies/<name>.yaml`) or from a
YAML/TOML path. Every model forbids unknown keys so a typo in a policy file fails loudly
instead of silently falling back to a default; each problem becomes one line of `PolicyError`.

Pure code: no clock, no I/O apart from reading the policy file in `load_policy`.
"""
from __future__ import annotations

import functools
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"

Kind = Literal["calendar", "working"]
Urgency = Literal["normal", "urgent"]
CATEGORIES = ("consultation", "help", "complaint", "report", "suggestion")
URGENCIES = ("normal", "urgent")

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WORKING_UNITS = ("wd", "wh")
_UNITS_HELP = "s, m, h, d (calendar) or wd, wh (working days/hours)"
_DURATION_RE = re.compile(r"^(?P<sign>[-+]?)(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]*)$")


class PolicyError(ValueError):
    """A policy is malformed or missing; the message has one line per problem."""


class Duration(BaseModel):
    """A time limit as written in a policy: "30m", "2h", "3d", "3wd", "4wh".

    Validated from (and serialised back to) its text, so it round-trips through YAML, TOML
    and the pydantic data converter unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int = Field(ge=0)
    unit: Literal["s", "m", "h", "d", "wd", "wh"]

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _parse_duration(value)
        if isinstance(value, dict):
            return value
        raise ValueError(
            f"duration must be text such as '30m', '2h' or '3wd', got {value!r}"
        )

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, text: str) -> "Duration":
        """Parse text, raising `PolicyError` with a message naming the value."""
        try:
            return cls.model_validate(text)
        except ValidationError as exc:
            raise PolicyError(_describe(exc, "")) from None

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    @property
    def kind(self) -> Kind:
        return "working" if self.unit in _WORKING_UNITS else "calendar"

    @property
    def seconds(self) -> int:
        """Length in seconds; only calendar durations have one independent of the calendar."""
        if self.kind != "calendar":
            raise ValueError(
                f"{self} is working time; its length depends on the calendar "
                "(use WorkCalendar.add)"
            )
        return self.amount * _UNIT_SECONDS[self.unit]

    def to_timedelta(self) -> timedelta:
        """Calendar durations only, for timers and plain date arithmetic."""
        return timedelta(seconds=self.seconds)

    def times(self, n: int) -> "Duration":
        """This duration repeated n times (e.g. n requested extension days)."""
        if n < 0:
            raise ValueError(f"cannot repeat a duration {n} times")
        return Duration(amount=self.amount * n, unit=self.unit)


def _parse_duration(text: str) -> dict:
    raw = text.strip()
    m = _DURATION_RE.match(raw)
    if not m:
        raise ValueError(
            f"{text!r} is not a duration: expected a whole number and a unit ({_UNITS_HELP}), "
            "e.g. '30m' or '3wd'"
        )
    unit = m.group("unit").lower()
    if m.group("sign") == "-":
        raise ValueError(f"duration {text!r} is negative; time limits must be zero or more")
    if not unit:
        raise ValueError(f"duration {text!r} has no unit of time; use {_UNITS_HELP}")
    if unit not in _UNIT_SECONDS and unit not in _WORKING_UNITS:
        raise ValueError(f"unknown unit of time {unit!r} in {text!r}; use {_UNITS_HELP}")
    if "." in m.group("amount"):
        raise ValueError(
            f"duration {text!r} is not a whole number; write it in a smaller unit "
            "(e.g. '90m' rather than '1.5h')"
        )
    return {"amount": int(m.group("amount")), "unit": unit}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _positive(d: Duration) -> Duration:
    if d.amount <= 0:
        raise ValueError(f"limit {d} must be longer than zero")
    return d


class ByUrgency(_Strict):
    urgent: Duration
    normal: Duration

    @field_validator("urgent", "normal")
    @classmethod
    def _nonzero(cls, d: Duration) -> Duration:
        return _positive(d)


class HandlingLimits(_Strict):
    """Reply due, measured from dispatch. `urgent` overrides the category."""

    urgent: Duration
    consultation: Duration
    help: Duration
    complaint: Duration
    report: Duration
    suggestion: Duration

    @field_validator("*")
    @classmethod
    def _nonzero(cls, d: Duration) -> Duration:
        return _positive(d)


class Ladder(_Strict):
    """Escalation ladder of SPEC §6 (通报批评 → 移送纪委监委)."""

    strikes_for_criticism: int = Field(2, ge=1)
    strike_window: Duration = Duration(amount=30, unit="d")
    criticisms_for_referral: int = Field(3, ge=1)

    @field_validator("strike_window")
    @classmethod
    def _nonzero(cls, d: Duration) -> Duration:
        return _positive(d)


# Sanya's government office hours: 08:00-12:00 and 14:30-17:30, i.e. 7 working hours a day.
# The long lunch break is Hainan's usual schedule; a working day ("wd") is this many hours.
SANYA_WORKING_HOURS: tuple[tuple[str, str], ...] = (("08:00", "12:00"), ("14:30", "17:30"))


def parse_hhmm(text: str) -> int:
    """"HH:MM" to seconds after midnight; "24:00" is allowed as the end of the day."""
    m = re.fullmatch(r"(\d{2}):(\d{2})", text) if isinstance(text, str) else None
    if not m or int(m.group(2)) > 59 or int(m.group(1)) * 60 + int(m.group(2)) > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day 'HH:MM'")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


class Policy(_Strict):
    """All time limits of the hotline.

    The limits themselves have no defaults: a policy file must state each one, so a
    forgotten line is an error rather than a silent Sanya value. Only rules the spec fixes
    (office hours, reminder fraction, reopens, grace, ladder) default.
    """

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    timezone: str = "Asia/Shanghai"
    working_hours: tuple[tuple[str, str], ...] = SANYA_WORKING_HOURS
    sign_for: ByUrgency  # 签收
    contact: ByUrgency  # 先行联系, after sign
    coordination_plan: Duration  # 联办方案, after sign
    handling: HandlingLimits  # 承办时限, from dispatch
    reminder_fraction: float = 0.75  # 催办 at this fraction of the handling limit
    return_window: ByUrgency  # 退单 only within this, from dispatch
    extension_max: Duration  # 延期 total per order, in working days
    # How much one requested extension day adds to the deadline: "1wd" in real policies,
    # a few seconds in `fast` so an extension is visible in a demo.
    extension_day: Duration = Duration(amount=1, unit="wd")
    callback_call: Duration  # 回访: hotline calls within this after the reply
    callback_answer: Duration  # petitioner's answer to the SMS survey within this
    overdue_escalation: Duration  # still unreplied this long after 督办 → criticism
    max_reopens: int = Field(2, ge=0)  # 重办
    co_handler_grace: Duration = Duration(amount=0, unit="s")  # late co-handler before 督办
    ladder: Ladder = Ladder()

    @field_validator(
        "coordination_plan", "callback_call", "callback_answer", "overdue_escalation",
        "extension_day",
    )
    @classmethod
    def _nonzero(cls, d: Duration) -> Duration:
        return _positive(d)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r} (e.g. 'Asia/Shanghai')") from None
        return tz

    @field_validator("working_hours", mode="before")
    @classmethod
    def _hours_are_text(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 14:30 as the number 870 (base 60): say so plainly.
        if isinstance(value, (list, tuple)):
            for rng in value:
                if isinstance(rng, (list, tuple)) and any(isinstance(x, int) for x in rng):
                    raise ValueError(
                        f"working hours {list(rng)!r} must be quoted text like \"14:30\" "
                        "(YAML reads an unquoted 14:30 as a number)"
                    )
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours_ordered(cls, ranges: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        if not ranges:
            raise ValueError("at least one range of working hours is needed")
        previous_end: int | None = None
        for start, end in ranges:
            s, e = parse_hhmm(start), parse_hhmm(end)
            if s >= e:
                raise ValueError(f"working hours {start}-{end}: start must be before end")
            if previous_end is not None and s < previous_end:
                raise ValueError(
                    f"working hours {start}-{end} overlap or are out of order; list them "
                    "from morning to evening"
                )
            previous_end = e
        return ranges

    @field_validator("reminder_fraction")
    @classmethod
    def _fraction(cls, f: float) -> float:
        if not 0 < f < 1:
            raise ValueError(f"{f} must be between 0 and 1 (exclusive)")
        return f

    @field_validator("extension_max")
    @classmethod
    def _extension_in_working_days(cls, d: Duration) -> Duration:
        # Extension requests are counted in working days (SPEC §8 `extension-request {days}`).
        if d.unit != "wd":
            raise ValueError(f"{d} must be in working days, e.g. '10wd'")
        return d

    # -- helpers used by the workflow -------------------------------------------------

    def sign_limit(self, urgency: str) -> Duration:
        return getattr(self.sign_for, _urgency(urgency))

    def contact_limit(self, urgency: str) -> Duration:
        return getattr(self.contact, _urgency(urgency))

    def handling_limit(self, category: str, urgency: str) -> Duration:
        """Urgent orders get the urgent limit whatever their category."""
        if _urgency(urgency) == "urgent":
            return self.handling.urgent
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        return getattr(self.handling, category)

    def return_window_for(self, urgency: str) -> Duration:
        return getattr(self.return_window, _urgency(urgency))

    @property
    def max_extension_days(self) -> int:
        return self.extension_max.amount

    def extension_for(self, days: int) -> Duration:
        """How far `days` requested working days move the deadline under this policy."""
        return self.extension_day.times(days)


def _urgency(urgency: str) -> str:
    if urgency not in URGENCIES:
        raise ValueError(f"unknown urgency {urgency!r}; known: normal, urgent")
    return urgency


# -- loading ----------------------------------------------------------------------------


def known_policies() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = _loc(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            problem = f"unknown key '{where}'"
        elif err["type"] == "missing":
            problem = f"missing key '{where}'"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problem = f"{where}: {msg}" if where else msg
        lines.append(f"{source}: {problem}" if source else problem)
    return "\n".join(lines)


def policy_from_mapping(data: Any, source: str = "policy") -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, source)) from None


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    raise PolicyError(f"{path}: policy files must end in .yaml, .yml or .toml")


def load_policy(name_or_path: str | Path) -> Policy:
    """Load a bundled policy by bare name ("sanya", "fast") or a YAML/TOML file by path."""
    text = str(name_or_path).strip()
    if not text:
        raise PolicyError(f"no policy named; known policies: {', '.join(known_policies())}")
    is_bare = isinstance(name_or_path, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", text)
    if is_bare:
        return _load_bundled(text)
    path = Path(text)
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    return policy_from_mapping(_read(path), str(path))


@functools.lru_cache(maxsize=16)
def _load_bundled(name: str) -> Policy:
    # Bundled files never change while running, so parse each once per process.
    path = POLICY_DIR / f"{name}.yaml"
    if not path.is_file():
        raise PolicyError(
            f"unknown policy {name!r}; known policies: {', '.join(known_policies())}"
        )
    return policy_from_mapping(_read(path), f"policy {name!r}")
