"""Log records as JSON lines: time, level, logger, message, and where known the order number,
the workflow id and the trace id, so a log search joins a trace and an order's history.

The message and the traceback have already been through hotline.domain.masking's filter (installed on
the same handler); the other fields are codes the formatter picks itself (the SDK's workflow
and activity context, the current span), never free text.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from hotline.domain.codes import order_no_of
from hotline.domain.masking import mask_log_handlers


def _trace_ids() -> tuple[str | None, str | None]:
    try:
        from opentelemetry import trace
    except ImportError:  # tracing not installed: no ids
        return None, None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _workflow_id(record: logging.LogRecord) -> str | None:
    for key in ("temporal_workflow", "temporal_activity"):  # the SDK's loggers put these on the record
        ctx = getattr(record, key, None)
        if isinstance(ctx, dict) and ctx.get("workflow_id"):
            return str(ctx["workflow_id"])
    return getattr(record, "workflow_id", None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        workflow_id = _workflow_id(record)
        order_no = getattr(record, "order_no", None) or order_no_of(workflow_id)
        trace_id, span_id = _trace_ids()
        for key, value in (("order_no", order_no), ("workflow_id", workflow_id),
                           ("trace_id", trace_id), ("span_id", span_id)):
            if value:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """The processes' logging: one JSON line per record, personal data masked."""
    logging.basicConfig(level=level)
    for logger in (logging.getLogger(), *map(logging.getLogger, ("uvicorn", "uvicorn.error", "uvicorn.access"))):
        mask_log_handlers(logger)  # uvicorn's loggers have their own handlers, not propagated
        for handler in logger.handlers:
            if type(handler) in (logging.StreamHandler, logging.FileHandler):  # not a test's capture
                handler.setFormatter(JsonFormatter())
