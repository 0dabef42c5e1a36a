"""The receiving side of the hotline's webhooks, for a department's system (and the tests).

Each delivery is an HTTP POST of a JSON body with:
  X-Hotline-Signature: sha256=<hex HMAC-SHA256 of the raw body with the unit's secret>
  X-Hotline-Delivery:  the message's key, one per fact: drop a key you have already processed
The secret is set (and rotated) by an admin: POST /api/v1/units/{code}/webhook-secret.
"""
from __future__ import annotations

import hmac

from hotline.outbox import sign_body

SIGNATURE_HEADER = "X-Hotline-Signature"
DELIVERY_HEADER = "X-Hotline-Delivery"


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """True when `signature` is the hotline's signature of exactly these bytes."""
    return bool(signature) and hmac.compare_digest(sign_body(secret, body), signature)
