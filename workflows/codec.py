"""Payload encryption: what the hotline hands to Temporal is sealed with AES-256-GCM.

Why: a work order's history holds the petitioner's name, phone and words in dozens of payloads
(workflow input, activity inputs, update results, memo, summaries). Anyone who reaches the
Temporal frontend or its Web UI would read them. With this codec on every client the project
makes, the server stores only ciphertext; the worker, the gateway and the CLI decrypt with the
key ring (hotline/runtime/keyring.py), and an admin's browser decrypts through the gateway's codec
server (`/codec/decode`). Search attributes are not payloads and stay plaintext: they must never
hold personal data.

Each sealed payload carries `encoding: binary/encrypted` and the id of the key that sealed it,
so keys rotate: the newest key seals, every key in the ring opens. A payload without that
encoding (orders recorded before encryption, e.g. the saved histories) passes through unchanged.
The key id is also the AES-GCM associated data, so a payload cannot be relabelled to another key.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from hotline.runtime.keyring import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(ValueError):
    """A sealed payload cannot be opened: unknown key id, or tampered/corrupt ciphertext."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aead = {key_id: AESGCM(key) for key_id, key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        key_id, _ = self.ring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not sealed: written before encryption was switched on
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self._aead.get(key_id)
        if aead is None:
            raise CodecError(f"payload sealed with key {key_id!r}, which is not in the key ring "
                             f"({', '.join(self.ring.ids)})")
        try:
            plain = aead.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise CodecError(f"payload sealed with key {key_id!r} does not authenticate "
                             "(tampered or corrupt)") from None
        return Payload.FromString(plain)


def data_converter(ring: KeyRing) -> DataConverter:
    """The project's converter: pydantic payloads, sealed by the codec; failure messages and
    stack traces are moved into (sealed) payloads too, since an error can quote its input."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(ring),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
