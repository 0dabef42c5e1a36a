"""OpenTelemetry tracing, on only when the standard OTEL_* variables ask for it.

`setup(service)` makes the process's tracer provider exporting over OTLP (HTTP/protobuf) when
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and neither
OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none); the exporter reads the rest of the
standard variables itself (headers, timeout, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
Otherwise nothing is set up, no interceptor is added and tracing costs nothing.

`client_interceptors()` is what workflows/connect.py gives every Temporal client: the SDK's
TracingInterceptor, which also serves the worker built on that client, so one intake is one
trace: HTTP request → StartUpdateWithStartWorkflow → RunWorkflow → StartActivity → RunActivity.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

_provider = None  # the provider set up by this process, if any


def otlp_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    if (env.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower() == "none":
        return False
    return bool((env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip())


def setup(service: str, env: Mapping[str, str] | None = None):
    """The process's tracer provider (also made the global one), or None when tracing is off."""
    global _provider
    if _provider is not None or not otlp_configured(env):
        return _provider
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attrs = {} if (os.environ.get("OTEL_SERVICE_NAME") or "").strip() else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attrs))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def interceptor(tracer_provider):
    """The SDK's tracing interceptor on `tracer_provider`'s tracer (client and worker side)."""
    from temporalio.contrib.opentelemetry import TracingInterceptor
    return TracingInterceptor(tracer_provider.get_tracer("hotline"))


def client_interceptors() -> list:
    return [interceptor(_provider)] if _provider is not None else []


def shutdown() -> None:
    """Flush the spans still batched (at the process's end)."""
    if _provider is not None:
        _provider.shutdown()
