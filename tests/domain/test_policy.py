"""Policy files: the shipped ones load with SPEC §4's values, bad ones fail with one clear line
per problem."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hotline.domain.policy import (
    POLICY_DIR,
    Duration,
    Policy,
    PolicyError,
    known_policies,
    load_policy,
)


def sanya_data() -> dict:
    return yaml.safe_load((POLICY_DIR / "sanya.yaml").read_text(encoding="utf-8"))


def write_policy(tmp_path: Path, data: dict, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def refused(tmp_path: Path, data: dict) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policy(write_policy(tmp_path, data))
    return str(exc.value)


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,unit,amount",
    [("30s", "calendar", "s", 30), ("30m", "calendar", "m", 30), ("12h", "calendar", "h", 12),
     ("3d", "calendar", "d", 3), ("3wd", "working", "wd", 3), ("4wh", "working", "wh", 4),
     ("0s", "calendar", "s", 0)],
)
def test_duration_parses_and_prints_back(text, kind, unit, amount):
    d = Duration.parse(text)
    assert (d.kind, d.unit, d.amount, str(d)) == (kind, unit, amount, text)
    assert Duration.model_validate_json(d.model_dump_json()) == d


def test_calendar_duration_seconds():
    assert Duration.parse("30m").seconds == 1800
    assert Duration.parse("3d").seconds == 3 * 86400
    assert Duration.parse("12h").to_timedelta().total_seconds() == 12 * 3600


def test_working_duration_has_no_fixed_seconds():
    with pytest.raises(ValueError, match="working time"):
        _ = Duration.parse("3wd").seconds


@pytest.mark.parametrize(
    "text,needle",
    [("-3d", "'-3d' is negative"), ("3w", "unknown unit of time 'w' in '3w'"),
     ("5x", "unknown unit of time 'x' in '5x'"), ("30", "'30' has no unit"),
     ("1.5h", "'1.5h' is not a whole number"), ("soon", "'soon' is not a duration")],
)
def test_bad_durations_name_the_value(text, needle):
    with pytest.raises(PolicyError) as exc:
        Duration.parse(text)
    assert needle in str(exc.value)


# -- shipped policies ----------------------------------------------------------------------


def test_known_policies_include_sanya_and_fast():
    assert {"sanya", "fast"} <= set(known_policies())


def test_sanya_has_spec_defaults():
    p = load_policy("sanya")
    assert p.name == "sanya" and p.version
    assert p.timezone == "Asia/Shanghai"
    assert p.working_hours == (("08:00", "12:00"), ("14:30", "17:30"))
    assert str(p.sign_limit("urgent")) == "30m" and str(p.sign_limit("normal")) == "2h"
    assert str(p.contact_limit("urgent")) == "30m" and str(p.contact_limit("normal")) == "1wd"
    assert str(p.coordination_plan) == "12h"
    expected = {"consultation": "1wd", "help": "3wd", "complaint": "5wd", "report": "5wd",
                "suggestion": "5wd"}
    for category, limit in expected.items():
        assert str(p.handling_limit(category, "normal")) == limit
        # urgent overrides the category
        assert str(p.handling_limit(category, "urgent")) == "24h"
    assert p.reminder_fraction == 0.75
    assert str(p.return_window_for("normal")) == "2wd"
    assert str(p.return_window_for("urgent")) == "1h"
    assert str(p.extension_max) == "10wd" and p.max_extension_days == 10
    assert str(p.extension_for(3)) == "3wd"
    assert str(p.callback_call) == "1wd" and str(p.callback_answer) == "3wd"
    assert str(p.overdue_escalation) == "5wd"
    assert p.max_reopens == 2
    assert str(p.co_handler_grace) == "0s"
    assert p.ladder.strikes_for_criticism == 2
    assert str(p.ladder.strike_window) == "30d"
    assert p.ladder.criticisms_for_referral == 3


def _limits(p: Policy) -> dict[str, Duration]:
    out = {}
    for field in ("sign_for", "contact", "handling", "return_window"):
        for key, d in getattr(p, field):
            out[f"{field}.{key}"] = d
    for field in ("coordination_plan", "callback_call", "callback_answer",
                  "overdue_escalation", "co_handler_grace", "extension_day"):
        out[field] = getattr(p, field)
    return out


def test_fast_policy_runs_in_seconds():
    fast, sanya = load_policy("fast"), load_policy("sanya")
    limits = _limits(fast)
    assert limits.keys() == _limits(sanya).keys()
    for key, d in limits.items():
        assert d.kind == "calendar" and d.seconds <= 60, key
    assert fast.ladder.strike_window.seconds <= 300
    assert fast.ladder.strikes_for_criticism == sanya.ladder.strikes_for_criticism
    assert fast.max_reopens == sanya.max_reopens
    # requested extension days still count in working days; each one is seconds long
    assert fast.max_extension_days == 10
    assert fast.extension_for(2).seconds <= 60


def test_policy_round_trips_through_json():
    p = load_policy("sanya")
    assert Policy.model_validate_json(p.model_dump_json()) == p
    assert hash(p) == hash(Policy.model_validate_json(p.model_dump_json()))


def test_toml_policy(tmp_path):
    toml = """
name = "toml"
version = "1"
coordination_plan = "12h"
reminder_fraction = 0.5
extension_max = "10wd"
callback_call = "1wd"
callback_answer = "3wd"
overdue_escalation = "5wd"
working_hours = [["09:00", "12:00"], ["13:00", "18:00"]]
[sign_for]
urgent = "30m"
normal = "2h"
[contact]
urgent = "30m"
normal = "1wd"
[handling]
urgent = "24h"
consultation = "1wd"
help = "3wd"
complaint = "5wd"
report = "5wd"
suggestion = "5wd"
[return_window]
urgent = "1h"
normal = "2wd"
"""
    path = tmp_path / "p.toml"
    path.write_text(toml, encoding="utf-8")
    p = load_policy(str(path))
    assert p.name == "toml" and p.reminder_fraction == 0.5
    assert p.working_hours[1] == ("13:00", "18:00")
    assert p.ladder.strike_window == Duration.parse("30d")  # default ladder


# -- refusals ------------------------------------------------------------------------------


def test_unknown_policy_name_lists_known_ones():
    with pytest.raises(PolicyError) as exc:
        load_policy("beijing")
    assert "unknown policy 'beijing'" in str(exc.value)
    assert "fast" in str(exc.value) and "sanya" in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(str(tmp_path / "nope.yaml"))


def test_unknown_top_level_key(tmp_path):
    data = sanya_data() | {"sing_for": {"urgent": "30m"}}
    assert "unknown key 'sing_for'" in refused(tmp_path, data)


def test_unknown_nested_key_has_dotted_path(tmp_path):
    data = sanya_data()
    data["handling"]["hepl"] = "3wd"
    assert "unknown key 'handling.hepl'" in refused(tmp_path, data)


def test_negative_duration(tmp_path):
    data = sanya_data()
    data["sign_for"]["normal"] = "-2h"
    msg = refused(tmp_path, data)
    assert "sign_for.normal" in msg and "'-2h' is negative" in msg


@pytest.mark.parametrize("value", ["5x", "3w"])
def test_unknown_unit(tmp_path, value):
    data = sanya_data()
    data["handling"]["help"] = value
    msg = refused(tmp_path, data)
    assert "handling.help" in msg and "unknown unit of time" in msg and repr(value) in msg


@pytest.mark.parametrize("value", ["10d", "80h"])
def test_extension_in_calendar_units_is_refused(tmp_path, value):
    data = sanya_data() | {"extension_max": value}
    msg = refused(tmp_path, data)
    assert "extension_max" in msg and "working days" in msg


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.25])
def test_reminder_fraction_out_of_range(tmp_path, value):
    data = sanya_data() | {"reminder_fraction": value}
    assert "reminder_fraction" in refused(tmp_path, data)


def test_zero_limit_is_refused_but_zero_grace_allowed(tmp_path):
    data = sanya_data()
    data["sign_for"]["urgent"] = "0m"
    assert "sign_for.urgent: limit 0m must be longer than zero" in refused(tmp_path, data)
    assert str(load_policy("sanya").co_handler_grace) == "0s"


def test_missing_limit(tmp_path):
    data = sanya_data()
    del data["callback_call"]
    assert "missing key 'callback_call'" in refused(tmp_path, data)


def test_every_problem_is_its_own_line(tmp_path):
    data = sanya_data() | {"colour": "red", "reminder_fraction": 2}
    data["handling"]["help"] = "-3wd"
    lines = refused(tmp_path, data).splitlines()
    assert len(lines) == 3
    assert any("unknown key 'colour'" in line for line in lines)


def test_unquoted_yaml_time_is_explained(tmp_path):
    path = tmp_path / "p.yaml"
    text = (POLICY_DIR / "sanya.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace('["14:30", "17:30"]', "[14:30, 17:30]"), encoding="utf-8")
    with pytest.raises(PolicyError, match="quoted"):
        load_policy(str(path))


@pytest.mark.parametrize(
    "hours", [[["12:00", "08:00"]], [["08:00", "12:00"], ["11:00", "13:00"]], [["8am", "5pm"]], []]
)
def test_bad_working_hours(tmp_path, hours):
    data = sanya_data() | {"working_hours": hours}
    assert "working_hours" in refused(tmp_path, data)


def test_bad_timezone(tmp_path):
    data = sanya_data() | {"timezone": "Mars/Olympus"}
    assert "unknown time zone 'Mars/Olympus'" in refused(tmp_path, data)


def test_not_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(str(path))


def test_helpers_refuse_unknown_category_and_urgency():
    p = load_policy("sanya")
    with pytest.raises(ValueError, match="unknown category"):
        p.handling_limit("praise", "normal")
    with pytest.raises(ValueError, match="unknown urgency"):
        p.sign_limit("very")


def test_policy_is_immutable():
    p = load_policy("sanya")
    with pytest.raises(ValidationError, match="frozen"):
        p.max_reopens = 5  # type: ignore[misc]
    assert copy.deepcopy(p) == p
