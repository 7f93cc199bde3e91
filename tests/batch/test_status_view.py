"""A BatchJob's phase and progress from its Job and pods (pure): what the reconciler writes."""

from __future__ import annotations

import json
from typing import Any

from mlendpoints.status import batchjobs
from mlendpoints.status.batchjobs import view


def _pod(index: int, message: Any, finished: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    text = message if isinstance(message, str) else json.dumps(message)
    return {
        "metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": str(index)}},
        "status": {
            "containerStatuses": [
                {"name": "batch", "state": {"terminated": {"message": text, "finishedAt": finished}}}
            ]
        },
    }


def _job(conditions: list[dict[str, str]] | None = None, **status: Any) -> dict[str, Any]:
    return {"spec": {}, "status": {"conditions": conditions or [], "startTime": "t0", **status}}


def test_running_sums_the_latest_message_of_each_index() -> None:
    pods = [
        _pod(
            0, {"completedMiniBatches": 1, "succeededItems": 5, "failedItems": 0, "totalMiniBatches": 8}, "1"
        ),
        _pod(
            0, {"completedMiniBatches": 4, "succeededItems": 19, "failedItems": 1, "totalMiniBatches": 8}, "2"
        ),
        _pod(
            1, {"completedMiniBatches": 2, "succeededItems": 10, "failedItems": 0, "totalMiniBatches": 8}, "3"
        ),
    ]
    seen = view(_job(active=1, succeeded=1), pods, "batch")
    assert seen.phase == "Running"
    assert seen.progress_text == "6/8"
    assert seen.progress["succeededItems"] == 29
    assert seen.start_time == "t0"


def test_assembled_counters_win_and_complete_is_succeeded() -> None:
    pods = [
        _pod(0, {"completedMiniBatches": 4, "succeededItems": 20, "totalMiniBatches": 8}, "1"),
        _pod(
            1,
            {"completedMiniBatches": 8, "succeededItems": 40, "totalMiniBatches": 8, "assembled": True},
            "2",
        ),
    ]
    done = _job([{"type": "Complete", "status": "True"}], completionTime="t1")
    seen = view(done, pods, "batch")
    assert (seen.phase, seen.progress_text, seen.completion_time) == ("Succeeded", "8/8", "t1")
    assert seen.message == "8/8 mini-batches, 40 items succeeded, 0 failed"


def test_failed_quotes_the_first_error_and_plain_text_messages_count() -> None:
    pods = [_pod(0, "Traceback ...\nMemoryError", "1"), _pod(1, {"error": "init() failed: boom"}, "2")]
    failed = _job(
        [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "lastTransitionTime": "t2"}]
    )
    seen = view(failed, pods, "batch")
    assert seen.phase == "Failed"
    assert seen.message.startswith("Traceback ...\nMemoryError")
    assert seen.completion_time == "t2"


def test_a_traceback_in_the_log_tail_gives_its_exception_line() -> None:
    tail = (
        'nfig(p_tokenize_options)\n    ^^^^^^^^^^^^^^^^^^^\n  File "/x/adlfs/spec.py", line 12, in do_connect\n'
        "    raise ValueError(msg)\nValueError: Must provide either a connection_string or account_name\n"
    )
    pods = [_pod(0, "Traceback (most recent call last):\n  File ...\n" + tail, "1")]
    failed = _job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
    seen = view(failed, pods, "batch")
    assert seen.message == (
        "ValueError: Must provide either a connection_string or account_name "
        "(see logs/user/job_error.txt in the output)"
    )
    # a tail that starts inside the traceback (FallbackToLogsOnError keeps the last 2 KiB)
    assert batchjobs.log_error(tail) == "ValueError: Must provide either a connection_string or account_name"
    assert batchjobs.log_error("plain failure text\n") == "plain failure text"


def test_pending_and_canceled() -> None:
    assert view(None, [], "batch").phase == "Pending"
    assert view(_job(), [], "batch").progress_text == "0/?"
    suspended = _job()
    suspended["spec"]["suspend"] = True
    assert view(suspended, [], "batch").phase == "Canceled"
