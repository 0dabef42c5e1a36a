"""Step and notice names are the rules' enums: every step the rules can write has a console label,
and the names are the texts the read model, history and reports have always held."""
from __future__ import annotations

import ast
from pathlib import Path

from hotline.console import labels
from hotline.domain.order_rules.kinds import NoticeKind, StepKind

RULES = Path(__file__).resolve().parents[2] / "hotline" / "domain" / "order_rules"


def test_every_step_has_a_chinese_label_in_the_console():
    missing = [k.value for k in StepKind if k not in labels.ACTIONS]
    assert missing == []
    assert labels.get(labels.ACTIONS, StepKind.SIGN_OVERDUE) == "签收超时"


def test_kinds_are_plain_text_where_they_are_stored():
    assert StepKind.RETURN_REVIEW == "return-review" and f"{NoticeKind.SURVEY}" == "survey"


def test_the_rules_name_steps_and_notices_only_through_the_enums():
    """No step(c, "…") or notify(c, "…") with a bare string: a new name goes into kinds.py first."""
    bare = []
    for path in RULES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("step", "notify", "tell_petitioners"):
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    bare.append(f"{path.name}:{node.lineno}")
    assert bare == []
