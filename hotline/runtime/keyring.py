"""The key ring that encrypts what the hotline hands to Temporal (and nothing else needs it).

Why a ring and not one key: keys must rotate without losing old orders. Every encrypted payload
names the key that sealed it, the newest key seals everything new, and every key in the ring
still opens what it sealed. Retiring a key means re-encrypting nothing: keep it in the ring
until the last order sealed with it has aged out of Temporal's retention.

Format (environment variable `HOTLINE_CODEC_KEYS`, or a file named by `HOTLINE_CODEC_KEYS_FILE`):
entries `<key id>:<base64 of 32 random bytes>`, separated by commas or new lines, oldest first;
the last entry is the newest and encrypts. In a file, `#` starts a comment. With neither set,
`var/codec-keys` is used when it exists; the run command creates it (mode 0600) on first start.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
ENV_KEYS, ENV_FILE = "HOTLINE_CODEC_KEYS", "HOTLINE_CODEC_KEYS_FILE"


class KeyRingError(ValueError):
    """The key ring is missing or malformed; the message names where it came from."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, in order; `current` is the newest (the one that encrypts)."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("the key ring holds no key")
        ids = [k for k, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise KeyRingError(f"the key ring names a key id twice: {sorted(i for i in ids if ids.count(i) > 1)[0]}")

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[-1]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    @property
    def ids(self) -> list[str]:
        return [k for k, _ in self.keys]

    def rotated(self, key_id: str | None = None) -> "KeyRing":
        """The ring with a fresh newest key appended (the old ones still decrypt)."""
        return KeyRing(self.keys + (new_key(key_id),))

    def as_env(self) -> str:
        """The ring as one line for HOTLINE_CODEC_KEYS."""
        return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in self.keys)

    def dump(self) -> str:
        lines = ["# hotline codec key ring: oldest first, the last key encrypts. Keep it secret."]
        lines += [f"{k}:{base64.b64encode(v).decode()}" for k, v in self.keys]
        return "\n".join(lines) + "\n"


def new_key(key_id: str | None = None) -> tuple[str, bytes]:
    key_id = key_id or f"k{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"
    if not KEY_ID.match(key_id):
        raise KeyRingError(f"key id {key_id!r} is malformed: letters, digits, '.', '_' or '-', at most 40")
    return key_id, secrets.token_bytes(KEY_BYTES)


def generate(key_id: str | None = None) -> KeyRing:
    return KeyRing((new_key(key_id),))


def parse(text: str, source: str) -> KeyRing:
    """Parse entries `id:base64key` (commas or new lines between them; `#` comments)."""
    entries: list[tuple[str, bytes]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        for raw in filter(None, (p.strip() for p in line.split(","))):
            key_id, sep, b64 = raw.partition(":")
            where = f"{source} entry {len(entries) + 1} (line {n})"
            if not sep or not KEY_ID.match(key_id.strip()):
                raise KeyRingError(f"{where}: expected <key id>:<base64 key>")
            try:  # standard or URL-safe alphabet, strictly
                key = base64.b64decode(b64.strip().replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"{where}: the key of {key_id.strip()!r} is not base64") from None
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"{where}: the key of {key_id.strip()!r} has {len(key)} bytes, "
                                   f"expected {KEY_BYTES} (AES-256)")
            entries.append((key_id.strip(), key))
    if not entries:
        raise KeyRingError(f"{source}: no key")
    try:
        return KeyRing(tuple(entries))
    except KeyRingError as exc:
        raise KeyRingError(f"{source}: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only (0600 from the first byte, not chmod after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def default_path(var_dir: Path) -> Path:
    return var_dir / "codec-keys"


def load(env: dict, var_dir: Path) -> KeyRing:
    """The configured key ring: the variable, else the file it names, else var/codec-keys."""
    if env.get(ENV_KEYS):
        return parse(env[ENV_KEYS], ENV_KEYS)
    path = Path(env[ENV_FILE]) if env.get(ENV_FILE) else default_path(var_dir)
    source = f"{ENV_FILE}={path}" if env.get(ENV_FILE) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if env.get(ENV_FILE):
            raise KeyRingError(f"{source}: no such file") from None
        raise KeyRingError(f"no codec key ring: set {ENV_KEYS} or {ENV_FILE} "
                           "(the run command creates a development one under var/)") from None
    except OSError as exc:
        raise KeyRingError(f"{source}: cannot read ({exc.strerror})") from None
    return parse(text, source)


def ensure_dev_keyring(env: dict, var_dir: Path) -> Path | None:
    """First start of the embedded stack: create var/codec-keys (0600) if no ring is configured.
    Returns the path when it created one."""
    if env.get(ENV_KEYS) or env.get(ENV_FILE):
        return None
    path = default_path(var_dir)
    if path.exists():
        return None
    write_private(path, generate().dump())
    return path
