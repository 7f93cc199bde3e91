"""Fixtures: the fake ARM/AAD server and the real azure-ai-ml client pointed at it (no Azure access)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azureml.fake_arm import FakeArm

SUB = "00000000-0000-0000-0000-000000000000"
SP = {"AZURE_TENANT_ID": "tenant1", "AZURE_CLIENT_ID": "test-client", "AZURE_CLIENT_SECRET": "test-secret"}


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    arm = FakeArm(tmp_path / "arm", lro_seconds=0.2, job_seconds=0.6).start()
    for var in (
        "AZUREML_CURRENT_CLOUD",
        "ARM_CLOUD_METADATA_URL",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    for k, v in arm.env().items():
        monkeypatch.setenv(k, v)
    yield arm
    arm.stop()


@pytest.fixture
def azure(fake: FakeArm) -> Any:
    from mlendpoints.clients.azureml import AzureML

    return AzureML(polling_interval=0.1)


@pytest.fixture
def cred() -> Any:
    from mlendpoints.clients.azureml import Credential

    return Credential("secret", tuple(SP.items()))


def ws(name: str = "ws1") -> Any:
    from mlendpoints.clients.azureml import Workspace

    return Workspace(SUB, "rg1", name)


def ws_path(name: str = "ws1") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/{name}"
