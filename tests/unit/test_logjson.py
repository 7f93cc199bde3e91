"""The operator's JSON log lines have the scoring runtime's schema."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from mlendpoints import logjson
from mlendpoints.runtime import logs as runtime_logs


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "mlendpoints.controller", logging.WARNING, __file__, 1, "ep %s stalled", ("blue",), None
    )
    rec.__dict__.update(extra)
    return rec


def test_same_fields_as_the_runtime() -> None:
    rec = record(k8s_ref={"name": "blue", "namespace": "ns"})
    ours = json.loads(logjson.JsonFormatter().format(rec))
    theirs = json.loads(runtime_logs.JsonFormatter().format(rec))
    assert ours == theirs
    assert ours["message"] == "ep blue stalled"
    assert ours["level"] == "WARNING"
    assert ours["k8s_ref"] == {"name": "blue", "namespace": "ns"}


def test_extras_that_are_not_json_are_left_out_and_exceptions_kept() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = record(settings=object(), count=3)
        rec.exc_info = sys.exc_info()
    entry = json.loads(logjson.JsonFormatter().format(rec))
    assert "settings" not in entry
    assert entry["count"] == 3
    assert "RuntimeError: boom" in entry["exception"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format 'xml': expected one of json, text"):
        logjson.configure(logging.INFO, "xml")


def test_per_event_lines_are_debug() -> None:
    from mlendpoints.controller.cli import PerEventAtDebug

    def rec(name: str, msg: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, (), None)

    at_info, at_debug = PerEventAtDebug(logging.INFO), PerEventAtDebug(logging.DEBUG)
    event = rec("kopf.objects", "Handler 'observe-onlineendpoints' succeeded.")
    assert not at_info.filter(event)
    assert event.levelname == "DEBUG"
    assert at_debug.filter(rec("aiohttp.access", "GET /healthz 200"))
    assert not at_info.filter(rec("aiohttp.access", "GET /healthz 200"))
    assert at_info.filter(rec("kopf.objects", "Handler 'x' failed with an exception. Will retry."))
    assert at_info.filter(rec("kopf.objects", "Handler 'x' succeeded.", logging.WARNING))
    assert at_info.filter(rec("mlendpoints.controller", "OnlineEndpoint ns/ep: Ready"))


def test_stdout_prints_become_records_and_poll_dots_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    out = logjson.StdoutToLog()
    with caplog.at_level(logging.INFO, logger="stdout"):
        out.write(".")
        out.write("..")  # azure-ai-ml's AzureMLPolling: a dot per poll, no newline
        out.write("hello ")
        out.write("world\n...\n")
    assert [r.getMessage() for r in caplog.records] == ["hello world"]
