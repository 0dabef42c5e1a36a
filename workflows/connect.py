"""Connecting to Temporal with the pydantic data converter, with one clear line on failure."""
from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from hotline.settings import Settings, SettingsError


async def connect(settings: Settings) -> Client:
    address = settings.effective_temporal_address
    try:
        return await Client.connect(address, namespace=settings.temporal_namespace,
                                    data_converter=pydantic_data_converter)
    except Exception as exc:  # the SDK raises RuntimeError with a long chain; keep one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(f"TEMPORAL_ADDRESS={address}: cannot connect ({first[:200]})") from None
