"""Connecting to Temporal with the project's data converter, with one clear line on failure.

Every client the project makes comes through here (or `workflows.codec.data_converter`): the
pydantic converter with payload encryption, so nothing personal reaches the server in clear.
"""
from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from hotline.runtime.keyring import KeyRing
from hotline.runtime.settings import Settings, SettingsError, load_codec_keys
from hotline.runtime.temporal_tls import load_tls
from workflows.codec import data_converter


async def connect(settings: Settings, keys: KeyRing | None = None, runtime: Runtime | None = None) -> Client:
    """`keys` defaults to the configured key ring (HOTLINE_CODEC_KEYS, …_FILE or var/codec-keys);
    `runtime` to the SDK's default one (the worker passes one exporting Prometheus metrics).
    With tracing set up (hotline/runtime/tracing.py) the client and its workers carry the tracing
    interceptor."""
    from hotline.runtime.tracing import client_interceptors
    converter = data_converter(keys or load_codec_keys())
    address = settings.effective_temporal_address
    tls = load_tls()  # HOTLINE_TEMPORAL_TLS_*: mTLS to the frontend (hotline/runtime/temporal_tls.py)
    try:
        return await Client.connect(address, namespace=settings.temporal_namespace, data_converter=converter,
                                    tls=tls or False, runtime=runtime, interceptors=client_interceptors())
    except Exception as exc:  # the SDK raises RuntimeError with a long chain; keep one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(f"TEMPORAL_ADDRESS={address}{' (TLS)' if tls else ''}: cannot connect "
                            f"({first[:200]})") from None
