"""Chart values for the Azure ML target: workload identity (pod label, ServiceAccount annotations), polling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.chart.conftest import one, template


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    return {
        e["name"]: e.get("value", "") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }


def _sa(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(
        [o for o in objects if not (o["metadata"].get("annotations") or {}).get("helm.sh/hook")],
        "ServiceAccount",
    )


def test_workload_identity_values_label_the_pod_and_annotate_the_service_account(
    helm: Path, tmp_path: Path
) -> None:
    values = {
        "azure": {
            "workloadIdentity": {
                "enabled": True,
                "clientId": "11111111-2222-3333-4444-555555555555",
                "tenantId": "t-1",
            },
            "pollInterval": 5,
            "resyncInterval": 300,
        },
        "serviceAccount": {"annotations": {"team": "ml"}},
    }
    objects = template(helm, tmp_path, values)
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert _sa(objects)["metadata"]["annotations"] == {
        "team": "ml",
        "azure.workload.identity/client-id": "11111111-2222-3333-4444-555555555555",
        "azure.workload.identity/tenant-id": "t-1",
    }
    env = _env(deployment)
    assert (env["MLENDPOINTS_AZURE_POLL_INTERVAL"], env["MLENDPOINTS_AZURE_RESYNC_INTERVAL"]) == ("5", "300")


def test_no_workload_identity_by_default(helm: Path, tmp_path: Path) -> None:
    objects = template(helm, tmp_path)
    deployment = one(objects, "Deployment")
    assert "azure.workload.identity/use" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert not _sa(objects)["metadata"].get("annotations")
    assert _env(deployment)["MLENDPOINTS_AZURE_POLL_INTERVAL"] == "10"
