"""Structured (one JSON object per line) logging for the runtime, with request ids.

Log records from the event loop carry ``request_id`` through ``extra=``; records written while a
worker thread runs user code pick the id up from :data:`current` (a thread-local the worker sets),
so a scoring script's own ``logging`` calls are tagged with the request they serve. What a script
writes with ``print()`` (or to ``sys.stdout`` / ``sys.stderr``) while it serves a request becomes a
JSON line too (logger ``mlendpoints.runtime.script.stdout`` / ``.stderr``), tagged with that request
id: :class:`ScriptOutput`. Request headers are never logged, so keys cannot leak through logs.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from typing import Any, TextIO

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


class ScriptOutput(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` replacement: text written by a worker thread that serves a
    request becomes one INFO (stdout) or WARNING (stderr) record per line, tagged with the
    request id; everything else (start-up, ``init()``, other threads) passes through unchanged.

    Lines are buffered per thread until ``\n`` (or until the call ends: :func:`flush_script_output`),
    so concurrent requests never interleave within a line.
    """

    def __init__(self, stream: TextIO, name: str) -> None:
        super().__init__()
        self.stream = stream
        self.logger = logging.getLogger(f"mlendpoints.runtime.script.{name}")
        self.level = logging.INFO if name == "stdout" else logging.WARNING
        self._partial = threading.local()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8") or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    def write(self, text: str) -> int:
        request_id = getattr(current, "request_id", "")
        if not request_id:
            return self.stream.write(text)
        buffered = getattr(self._partial, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._partial.text = rest
        for line in lines:
            self.logger.log(self.level, line, extra={"request_id": request_id})
        return len(text)

    def end_request(self) -> None:
        """Emit a line left without its newline by the call that just finished."""
        rest = getattr(self._partial, "text", "")
        if rest:
            self._partial.text = ""
            self.logger.log(self.level, rest, extra={"request_id": getattr(current, "request_id", "")})

    def flush(self) -> None:
        self.stream.flush()


def flush_script_output() -> None:
    """Called by a worker thread when a call ends: emit partial lines of ``print(..., end="")``."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, ScriptOutput):
            stream.end_request()


def configure(level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, the user's) to stderr as JSON lines at ``level``, and
    scripts' ``print()`` output during requests too (:class:`ScriptOutput`)."""
    out = sys.stdout if isinstance(sys.stdout, ScriptOutput) else ScriptOutput(sys.stdout, "stdout")
    err = sys.stderr if isinstance(sys.stderr, ScriptOutput) else ScriptOutput(sys.stderr, "stderr")
    sys.stdout, sys.stderr = out, err
    # The handler writes to the real stream: records must never go through ScriptOutput again.
    handler = logging.StreamHandler(err.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
