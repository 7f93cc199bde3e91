"""One JSON object per log line, for the operator (``mlendpoints run``) and the CLI's long commands.

The schema is the scoring runtime's (:class:`mlendpoints.runtime.logs.JsonFormatter`):
``{"time": "2026-01-02T03:04:05.678Z", "level": "INFO", "logger": "...", "message": "...",
...extras, "exception": "..."}``; a unit test holds the two to the same fields. Standard library
only, so the operator image needs no extra package. ``MLENDPOINTS_LOG_FORMAT=text`` gives the
classic one-line text format for reading logs in a terminal.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
from typing import Any

#: record attributes that are not extras passed with ``extra=`` (``taskName`` is Python 3.12's)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON as it is (kopf passes its settings object as an extra: left out)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"time", "level", "logger", "message", ...extras, "exception"}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and _plain(value):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(level: int, fmt: str = "json") -> None:
    """Send the root logger's records to stderr as JSON (``fmt="json"``) or text (``"text"``).

    Raises:
        ValueError: ``fmt`` is neither.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class StdoutToLog(io.TextIOBase):
    """A ``sys.stdout`` that turns what libraries print into log records, one per line.

    The operator itself never prints, but azure-ai-ml's ``AzureMLPolling`` prints a ``.`` per poll
    to stdout, which would break the one-JSON-object-per-line log: those progress dots are
    dropped, anything else becomes an INFO record of logger ``stdout``. Lines are buffered per thread.
    """

    def __init__(self, logger: str = "stdout") -> None:
        super().__init__()
        self.logger = logging.getLogger(logger)
        self._partial = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        *lines, rest = pending.split("\n")
        for line in lines:
            if line.strip(". "):
                self.logger.info("%s", line)
        self._partial.text = "" if not rest.strip(". ") else rest
        return len(text)
