"""Who acts on an order: a unit (by its code) or a named admin of the hotline office.

The gateway derives the actor from the API key and the workflow checks it by its kind, never by
how its text begins. On the wire (update payloads, recorded histories) an actor stays the plain
string it always was: `ZJJ`, `admin:<name>`, or `HOTLINE` (the hotline office itself), so
orders recorded before keep replaying.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hotline.domain.codes import UNIT_CODE_RE  # as in the unit catalogue and the key roles

ADMIN = re.compile(r"^admin:(?P<name>[^\x00-\x1f\x7f]{1,58})$")
OFFICE = "HOTLINE"  # the hotline office's own unit code: it acts as the office, i.e. as an admin


class ActorError(ValueError):
    pass


@dataclass(frozen=True)
class Actor:
    kind: Literal["unit", "admin"]
    name: str  # the unit code, or the admin's name

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def unit(self) -> str | None:
        return self.name if self.kind == "unit" else None

    def __str__(self) -> str:
        if self.kind == "unit" or self.name == OFFICE:
            return self.name
        return f"admin:{self.name}"

    @classmethod
    def of_unit(cls, code: str) -> "Actor":
        if not UNIT_CODE_RE.match(code):
            _refuse(code)
        return cls("unit", code)

    @classmethod
    def of_admin(cls, name: str) -> "Actor":
        """A named admin; the name is cleaned of control characters and cut to fit."""
        clean = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()[:58] or "admin"
        return cls("admin", clean)


def _refuse(by: object) -> Actor:
    raise ActorError(f"{by!r} is not an actor: expected a unit code (e.g. ZJJ) or admin:<name>")


def parse_actor(by: str) -> Actor:
    if not isinstance(by, str):
        return _refuse(by)
    if by == OFFICE:
        return Actor("admin", OFFICE)
    if UNIT_CODE_RE.match(by):
        return Actor("unit", by)
    m = ADMIN.match(by)
    if m and m.group("name").strip():
        return Actor("admin", m.group("name"))
    return _refuse(by)
