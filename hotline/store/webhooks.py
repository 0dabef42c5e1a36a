"""The receiving side of the hotline's webhooks, for a department's system (and the tests).

Each delivery is an HTTP POST of a JSON body with:
  X-Hotline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + the raw body, with the
                       unit's secret>
  X-Hotline-Delivery:  the message's key, one per fact: drop a key you have already processed
The time is signed with the body: `verify` refuses a delivery older (or newer) than its
tolerance, so a captured delivery cannot be replayed later. The secret is set (and rotated) by
an admin: POST /api/v1/units/{code}/webhook-secret; a unit without one is sent nothing.
"""
from __future__ import annotations

import hmac
import time

from hotline.store.outbox import sign_body

SIGNATURE_HEADER = "X-Hotline-Signature"
DELIVERY_HEADER = "X-Hotline-Delivery"
TOLERANCE_SECONDS = 300


def verify(secret: str, body: bytes, signature: str | None, tolerance: float = TOLERANCE_SECONDS,
           now: float | None = None) -> bool:
    """True when `signature` is the hotline's signature of exactly these bytes, made within
    `tolerance` seconds of `now` (default: this machine's clock)."""
    if not signature:
        return False
    try:
        fields = dict(part.split("=", 1) for part in signature.split(","))
        at = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - at) > tolerance:
        return False
    return hmac.compare_digest(sign_body(secret, body, at), f"t={at},v1={given}")
