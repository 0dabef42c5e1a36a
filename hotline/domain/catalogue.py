"""The unit catalogue (单位目录) and its responsibility lists (权责清单), SPEC §5.

The catalogue is a YAML file the hotline office can replace. It is validated as a whole
before anything uses it: every problem is collected with the line it sits on, and either the
whole file is accepted or a `CatalogueError` lists everything wrong with it. Nothing partial
is ever returned, so an import that fails changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from hotline.domain.codes import DISTRICTS, UNIT_CODE_RE, District

UNIT_TYPES: tuple[str, ...] = ("district", "bureau", "enterprise", "hotline")
CATEGORIES: tuple[str, ...] = ("consultation", "help", "complaint", "report", "suggestion")

UnitType = Literal["district", "bureau", "enterprise", "hotline"]
Category = Literal["consultation", "help", "complaint", "report", "suggestion"]


class ResponsibilityEntry(BaseModel):
    """One line of a unit's published responsibility list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matter: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    # Restricts the entry to some districts (e.g. a project that only exists in 崖州区).
    districts: list[District] | None = None
    basis: str | None = None
    # Sites the entry is bound to (e.g. an enterprise's project sites). When set, the entry
    # only applies where the request names one of these places: a construction company is
    # responsible for the ditch along *its* road, not for every ditch in the city.
    places: list[str] = Field(default_factory=list)


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1)
    type: UnitType
    districts: list[District] = Field(min_length=1)
    webhook_url: str | None = None
    # For district governments: place names inside the district (towns, villages, beaches),
    # used to infer the district from the text when the caller gave none.
    places: list[str] = Field(default_factory=list)
    responsibilities: list[ResponsibilityEntry] = Field(default_factory=list)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    city: str = "三亚市"
    units: list[Unit]

    def unit(self, code: str) -> Unit:
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(f"unknown unit code {code!r}")

    def has_unit(self, code: str) -> bool:
        return any(u.code == code for u in self.units)

    @property
    def codes(self) -> list[str]:
        return [u.code for u in self.units]

    def owners(self) -> list[Unit]:
        """Units that may own a work order: every unit except the hotline office."""
        return [u for u in self.units if u.type != "hotline"]

    def district_government(self, district: str) -> Unit | None:
        for u in self.units:
            if u.type == "district" and district in u.districts:
                return u
        return None


class CatalogueError(ValueError):
    """The catalogue file is invalid; `errors` lists every problem, each with its line."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"catalogue rejected, {len(self.errors)} problem(s):\n{lines}")


def default_catalogue_path() -> Path:
    """The Sanya catalogue shipped with the package."""
    return Path(__file__).resolve().parent.parent / "data" / "units.yaml"


# --------------------------------------------------------------------------- YAML with lines


class _LineDict(dict):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict


class _LineList(list):
    line: int = 0
    item_lines: list


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps line numbers and reports duplicate keys (PyYAML keeps the last
    one silently, which would hide a unit typed twice)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.problems: list[str] = []


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.problems.append(f"line {line}: a mapping key must be a plain value")
            continue
        if key in out:
            loader.problems.append(
                f"line {line}: duplicate key {key!r} (first at line {out.key_lines[key]})"
            )
            continue
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _line_of(raw: Any, loc: tuple) -> int:
    """Best line for a pydantic error location: the deepest element of `loc` we can find."""
    line = getattr(raw, "line", 0)
    node = raw
    for part in loc:
        if isinstance(node, _LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _describe(err: ErrorDetails) -> str:
    loc = err["loc"]
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    path = ".".join(str(p) for p in loc)
    value = err.get("input")
    if err["type"] == "literal_error":
        allowed = {
            "categories": ("unknown category", CATEGORIES),
            "districts": ("unknown district code", DISTRICTS),
            "type": ("unknown unit type", UNIT_TYPES),
        }.get(field)
        if allowed:
            return f"{path}: {allowed[0]} {value!r} (allowed: {', '.join(allowed[1])})"
    if err["type"] == "missing":
        return f"{path}: missing field"
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    if err["type"] == "too_short" and field in ("keywords", "categories", "districts"):
        return f"{path}: must not be empty"
    return f"{path}: {err['msg']}"


# --------------------------------------------------------------------------- loading


def _read_source(path_or_text: str | os.PathLike) -> tuple[str, str]:
    """Return (text, label). A Path, or a one-line str naming a .yaml/.yml file, is read;
    any other str is taken as the YAML text itself."""
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str)
        and "\n" not in path_or_text
        and path_or_text.strip().lower().endswith((".yaml", ".yml"))
    ):
        path = Path(path_or_text)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError([f"line 0: cannot read catalogue file {path}: {exc}"]) from exc
    if not isinstance(path_or_text, str):
        raise TypeError("load_catalogue expects a path or YAML text")
    return path_or_text, "<text>"


def load_catalogue(path_or_text: str | os.PathLike) -> Catalogue:
    """Load and validate a whole catalogue; raise CatalogueError listing every problem."""
    text, _label = _read_source(path_or_text)
    loader = None
    try:
        loader = _LineLoader(text)  # the reader itself rejects bytes that are not text
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogueError([f"line {line}: YAML syntax error: {problem}"]) from exc
    except RecursionError:  # thousands of nested [ or {: the parser recurses once per level
        raise CatalogueError(["line 1: not valid YAML: nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()

    errors = list(loader.problems)
    if not isinstance(raw, _LineDict) or not isinstance(raw.get("units"), _LineList):
        errors.append(
            f"line {getattr(raw, 'line', 1)}: the file must be a mapping with a 'units' list"
        )
        raise CatalogueError(errors)
    for key in raw:
        if key not in ("version", "city", "units"):
            errors.append(f"line {raw.key_lines[key]}: unknown top-level field {key!r}")

    units: list[Unit] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw["units"]):
        line = raw["units"].item_lines[index]
        if not isinstance(item, _LineDict):
            errors.append(f"line {line}: units[{index}] must be a mapping")
            continue
        code = item.get("code")
        label = f"unit {code}" if isinstance(code, str) else f"units[{index}]"
        errors.extend(_semantic_problems(item, label, seen))
        try:
            units.append(Unit.model_validate(dict(item)))
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(f"line {_line_of(item, err['loc'])}: {label}: {_describe(err)}")

    if not units and not errors:
        errors.append(f"line {raw['units'].line}: the catalogue has no units")
    if errors:
        raise CatalogueError(errors)
    return Catalogue(
        version=raw.get("version", 1), city=raw.get("city", "三亚市"), units=units
    )


def _semantic_problems(item: _LineDict, label: str, seen: dict[str, int]) -> list[str]:
    """Rules pydantic's field types cannot express: uniqueness, non-empty lists for owners,
    entry districts inside the unit's, keywords long enough to mean something."""
    out: list[str] = []
    code = item.get("code")
    line = item.key_lines.get("code", item.line)
    if isinstance(code, str):
        if not UNIT_CODE_RE.match(code):
            out.append(f"line {line}: {label}: code must be upper-case letters/digits")
        if code in seen:
            out.append(
                f"line {line}: duplicate unit code {code!r} (first defined at line {seen[code]})"
            )
        else:
            seen[code] = line
    unit_type = item.get("type")
    entries = item.get("responsibilities")
    if unit_type != "hotline" and (entries is None or entries == []):
        where = item.key_lines.get("responsibilities", item.line)
        out.append(
            f"line {where}: {label}: responsibility list is empty "
            "(every unit except the hotline office must publish its duties)"
        )
    places = item.get("places")
    if isinstance(places, list):
        for j, word in enumerate(places):
            if not isinstance(word, str) or len(word.strip()) < 2:
                out.append(
                    f"line {_line_of(item, ('places', j))}: {label}: places.{j}: {word!r} "
                    "must be text of at least 2 characters"
                )
    unit_districts = item.get("districts")
    if not isinstance(entries, _LineList):
        return out
    for i, entry in enumerate(entries):
        if not isinstance(entry, _LineDict):
            continue
        e_districts = entry.get("districts")
        if isinstance(e_districts, list) and isinstance(unit_districts, list):
            for j, d in enumerate(e_districts):
                if d in DISTRICTS and d not in unit_districts:
                    out.append(
                        f"line {_line_of(entry, ('districts', j))}: {label}: "
                        f"responsibilities.{i}.districts: {d!r} is outside the unit's districts"
                    )
        for field in ("keywords", "places"):
            words = entry.get(field)
            if not isinstance(words, list):
                continue
            for j, word in enumerate(words):
                if not isinstance(word, str) or len(word.strip()) < 2:
                    out.append(
                        f"line {_line_of(entry, (field, j))}: {label}: "
                        f"responsibilities.{i}.{field}.{j}: {word!r} must be text of at "
                        "least 2 characters (one character matches almost anything)"
                    )
    return out
