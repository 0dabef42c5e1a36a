"""Secrets the hotline keeps in its own database, sealed with the payload key ring.

Why: a unit's webhook signing secret lets whoever holds it forge deliveries to that unit. A
copy of the database (a backup, a support dump, a PostgreSQL replica) must not hand it out, so
the column holds `sealed:v1:<key id>:<base64 of nonce + AES-256-GCM ciphertext>`, made with the
newest key of the same ring that seals Temporal payloads (hotline/runtime/keyring.py). Rotation works
the same way: every key of the ring opens what it sealed, the newest seals what is written.

Rows written before sealing hold the secret in clear; they are still read as they are, and the
migration that widened the column seals them when a key ring is configured (any catalogue
import seals them too, since it writes every unit again).
"""
from __future__ import annotations

import base64
import binascii
import os
from typing import TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, TypeDecorator

from hotline.runtime.keyring import ENV_FILE, ENV_KEYS, KeyRing

PREFIX = "sealed:v1:"
NONCE_BYTES = 12


class UnsealError(ValueError):
    """A sealed value cannot be opened: its key is not in the ring, or it was altered."""


def is_sealed(value: str | None) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(purpose: str) -> bytes:
    # bound to what it is: a value sealed for one purpose does not open as another
    return b"hotline-sealed:" + purpose.encode()


def seal(ring: KeyRing, purpose: str, plaintext: str) -> str:
    key_id, key = ring.current
    nonce = os.urandom(NONCE_BYTES)
    blob = nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), _aad(purpose))
    return f"{PREFIX}{key_id}:{base64.b64encode(blob).decode()}"


def sealed_key_id(value: str) -> str:
    return value[len(PREFIX):].partition(":")[0]


def unseal(ring: KeyRing, purpose: str, value: str) -> str:
    """The secret in `value`; a value written before sealing (no prefix) is returned as it is."""
    if not is_sealed(value):
        return value
    key_id, _, b64 = value[len(PREFIX):].partition(":")
    key = ring.get(key_id)
    if key is None:
        raise UnsealError(f"sealed with key {key_id!r}, which is not in the key ring "
                          f"(ring: {', '.join(ring.ids)})")
    try:
        blob = base64.b64decode(b64, validate=True)
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(purpose)).decode()
    except (binascii.Error, ValueError, InvalidTag):
        raise UnsealError(f"sealed with key {key_id!r} but does not open: altered or truncated") from None


_cached: tuple[tuple, KeyRing] | None = None


def current_ring() -> KeyRing:
    """The configured key ring (HOTLINE_CODEC_KEYS, …_FILE or var/codec-keys), read once per
    configuration; a missing ring is the settings' one-line error."""
    global _cached
    from hotline.runtime.settings import load_codec_keys
    marker = (os.environ.get(ENV_KEYS), os.environ.get(ENV_FILE))
    if _cached is None or _cached[0] != marker:
        _cached = (marker, load_codec_keys())
    return _cached[1]


class SealedString(TypeDecorator):
    """A string column stored sealed: written with the ring's newest key, read back in clear.

    A value that cannot be opened (its key retired from the ring) is read back still sealed,
    so listing or re-importing units keeps working; whoever needs the secret checks
    `is_sealed` and says which key is missing."""

    impl = String
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__(512)  # room for the prefix, a 40-character key id, nonce and tag
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None or is_sealed(value):
            return value
        return seal(current_ring(), self.purpose, value)

    def process_result_value(self, value, dialect):
        if not is_sealed(value):
            return value
        try:
            return unseal(current_ring(), self.purpose, value)
        except UnsealError:
            return value
