"""Shared helpers of the compose tests (tests/deploy/test_compose*.py).

No Docker engine runs where the suite runs, so nothing is built or started here. Instead the
compose file is parsed (with compose's `${VAR:-default}` interpolation applied, as `docker
compose` would with an empty environment) and its properties are asserted; the shell scripts
of the one-shot Temporal jobs are run against stub `temporal` / `temporal-sql-tool` commands
to check what they would do; the Dockerfile is parsed instruction by instruction.
"""
from __future__ import annotations

import re
import stat
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# SPEC §8: custom search attributes, so admins can filter orders in the Temporal UI.
SPEC_SEARCH_ATTRIBUTES = {
    "OrderNo": "Keyword",
    "Owner": "Keyword",
    "Category": "Keyword",
    "Urgency": "Keyword",
    "Stage": "Keyword",
    "District": "Keyword",
    "DueAt": "Datetime",
    "Overdue": "Bool",
    "ReturnCount": "Int",
}

ONE_SHOT = {"temporal-schema", "temporal-create-namespace", "app-migrate"}
LONG_RUNNING = {"postgresql", "temporal", "temporal-ui", "worker", "gateway"}
APP_SERVICES = ("app-migrate", "worker", "gateway")
TEMPORAL_SCHEMA_DIR = "/etc/temporal/schema/postgresql/v12"  # where admin-tools ships it


# --------------------------------------------------------------------------- helpers

_VAR = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value, env: dict[str, str]):
    """Compose variable interpolation (`$$`, `${X}`, `${X:-d}`, `${X-d}`, `${X:?e}`)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg")
        current = env.get(name)
        if op == ":-" and not current:
            return arg
        if op == "-" and current is None:
            return arg
        if op in (":?", "?") and not current:
            raise AssertionError(f"compose requires ${name}: {arg}")
        return current or ""

    return _VAR.sub(sub, value)


def load_compose(env: dict[str, str] | None = None) -> dict:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return interpolate(raw, env or {})


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), "depends_on must use the long form with conditions"
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def image_tag(image: str) -> tuple[str, str | None]:
    image = image.split("@", 1)[0]
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, None
    return name, tag


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    """(host path, container path) of the service's ./relative bind mounts."""
    mounts = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            source, target = vol.get("source", ""), vol.get("target", "")
        else:
            source, _, rest = vol.partition(":")
            target = rest.split(":", 1)[0]
        if source.startswith("."):
            mounts.append(((ROOT / source).resolve(), target))
    return mounts


def host_path(service: dict, container_path: str) -> Path:
    """The repository file a container path of the service is bind-mounted from."""
    for host, target in bind_mounts(service):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            return host / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not bind-mounted from the repository")


def as_argv(value) -> list[str]:
    return value if isinstance(value, list) else str(value).split()


def script_of(service: dict) -> Path:
    """Repository path of the shell script a one-shot admin-tools job runs."""
    argv = as_argv(service.get("entrypoint") or []) + as_argv(service.get("command") or [])
    scripts = [a for a in argv if a.endswith(".sh")]
    assert scripts, f"no script in {argv}"
    return host_path(service, scripts[0])


def parse_search_attributes(spec: str) -> dict[str, str]:
    pairs = {}
    for item in spec.split():
        name, sep, typ = item.partition("=")
        assert sep and name and typ, f"bad Name=Type pair {item!r}"
        assert name not in pairs, f"{name} listed twice"
        pairs[name] = typ
    return pairs


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            instr, _, args = full.partition(" ")
            out.append((instr.upper(), args.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def copy_sources(instructions) -> list[str]:
    sources = []
    for ins, args in instructions:
        if ins not in ("COPY", "ADD"):
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        if any(p.startswith("--from") for p in args.split()):
            continue
        sources.extend(parts[:-1])
    return sources


def make_stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
