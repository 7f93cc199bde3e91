"""The demo's wait for the diabetes endpoint: a lasting Stalled ends it at once, a short one is waited out."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from mlendpoints_dev import demoscore


def _obj(kind: str, name: str, ready: str, stalled: str = "False", msg: str = "") -> dict[str, Any]:
    conds = [
        {"type": "Ready", "status": ready, "reason": "R", "message": msg},
        {"type": "Stalled", "status": stalled, "reason": "CrashLoopBackOff", "message": msg},
    ]
    return {"kind": kind, "metadata": {"name": name}, "status": {"conditions": conds}}


class Cluster:
    """Plays the API server's answers, one list per call (the last one repeats)."""

    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls = 0

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        items = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return {"items": items}

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), 0, "", "")


def _all(ready: str, blue_stalled: str = "False") -> list[dict[str, Any]]:
    return [
        _obj("OnlineEndpoint", "diabetes", ready),
        _obj("OnlineDeployment", "blue", ready, blue_stalled, "init() failed: boom"),
        _obj("OnlineDeployment", "green", ready),
    ]


def test_a_lasting_stall_ends_the_wait_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demoscore, "STALLED_FOR", 0.0)
    monkeypatch.setattr(demoscore.time, "sleep", lambda s: None)
    cluster = Cluster([_all("False", blue_stalled="True")])
    with pytest.raises(
        RuntimeError, match=r"OnlineDeployment/blue is Stalled \(CrashLoopBackOff: init\(\) failed: boom\)"
    ):
        demoscore.wait_ready(cluster, lambda line: None, timeout=300)  # type: ignore[arg-type]
    assert cluster.calls == 1


def test_a_short_stall_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demoscore, "STALLED_FOR", 3600.0)
    monkeypatch.setattr(demoscore.time, "sleep", lambda s: None)
    cluster = Cluster([_all("False", blue_stalled="True"), _all("False"), _all("True")])
    demoscore.wait_ready(cluster, lambda line: None, timeout=300)  # type: ignore[arg-type]
    assert cluster.calls == 3


def test_the_demo_names_every_example_that_is_not_ready() -> None:
    from mlendpoints_dev.cli import not_ready

    items = [
        {**_obj("OnlineDeployment", "credit-v1", "False", msg='persistentvolumeclaim "payloads" not found')},
        _obj("OnlineEndpoint", "diabetes", "True"),
        {"kind": "BatchJob", "metadata": {"name": "heart-2026-11", "namespace": "default"}},
    ]
    items[0]["metadata"]["namespace"] = "default"
    lines = not_ready(items)
    assert (
        lines[0]
        == '  NOT READY: default/OnlineDeployment/credit-v1: R: persistentvolumeclaim "payloads" not found'
    )
    assert lines[1] == "  NOT READY: default/BatchJob/heart-2026-11: no status yet"
    assert "see each file's header" in lines[2]
    assert len(lines) == 3
