"""Structured (one JSON object per line) logging for the runtime, with request ids.

Log records from the event loop carry ``request_id`` through ``extra=``; records written while a
worker thread runs user code pick the id up from :data:`current` (a thread-local the worker sets),
so a scoring script's own ``logging`` calls are tagged with the request they serve. Request headers
are never logged, so keys cannot leak through logs.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import orjson

#: per-thread request id of the call a worker thread is running ("" when idle)
current = threading.local()

#: record attributes that are not user extras (``color_message`` is uvicorn's ANSI-coloured copy)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"time", "level", "logger", "message", "request_id", ...extras}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or getattr(current, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, the user's) to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
