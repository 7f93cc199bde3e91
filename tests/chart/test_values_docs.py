"""values.schema.json and the values tables are generated from values.yaml, and the schema does its job.

No cluster: helm-docs (pinned, built into the binary cache on first use) and the pinned helm.
Regenerate after editing values.yaml with ``mlendpoints dev values``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.backends.azureml.common import AzureSettings
from mlendpoints.controller.settings import OperatorSettings, SettingsError
from tests.chart.conftest import CHART, REPO, container_env, one, run_helm, values_file

DIGEST = "sha256:" + "cd" * 32


@pytest.fixture(scope="module")
def helm_docs() -> Path:
    """The pinned helm-docs; built (about a minute, with progress on stderr) when it is missing."""
    from mlendpoints_dev.build import BuildError, ensure_binaries

    try:
        return ensure_binaries(only=("helm-docs",)).helm_docs
    except BuildError as exc:  # no Go toolchain on this machine: say so instead of failing obscurely
        pytest.skip(f"helm-docs cannot be built here: {exc}")


def test_schema_and_tables_are_current(helm_docs: Path, tmp_path: Path) -> None:
    from mlendpoints_dev import valuesdocs

    files = valuesdocs.generate(REPO, helm_docs)
    assert {f.path for f in files} == {
        Path("charts/mlendpoints/values.schema.json"),
        *valuesdocs.DOCS,
    }
    valuesdocs.write(files, tmp_path)
    stale = [f.path for f in files if (tmp_path / f.path).read_text() != (REPO / f.path).read_text()]
    assert not stale, (
        f"{', '.join(map(str, stale))} differ from what values.yaml generates; run "
        f"`{valuesdocs.COMMAND}` and commit the result:\n{valuesdocs.diff(files, REPO)}"
    )


def test_every_value_has_a_row_with_its_description(helm_docs: Path) -> None:
    from mlendpoints_dev import valuesdocs

    table = valuesdocs.table(REPO, helm_docs)
    assert "| `operator.workers` | int | `16` | Parallel reconciles" in table
    assert '| `resources.requests.cpu` | string | `"100m"` | CPU request. |' in table
    assert "| `operator` | object | keys below | Operator settings" in table


@pytest.mark.parametrize(
    ("setting", "key", "expected"),
    [
        ("replicaCount=abc", "/replicaCount", "want integer"),
        ("operator.workers=eight", "/operator/workers", "want integer"),
        ("operator.workers=0", "/operator/workers", "minimum"),
        ("operator.logLevel=LOUD", "/operator/logLevel", "INFO"),
        ("networkPolicy.enabled=maybe", "/networkPolicy/enabled", "want boolean"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy", "IfNotPresent"),
        ("serviceMonitor.interval=soon", "/serviceMonitor/interval", "match pattern"),
        ("operator.apiDiscoveryInterval=0", "/operator/apiDiscoveryInterval", "exclusiveMinimum"),
        ("resources.limits.memory=null", "", ""),  # null removes a default: still accepted
    ],
)
def test_wrong_values_fail_naming_the_key(helm: Path, setting: str, key: str, expected: str) -> None:
    proc = subprocess.run(
        [str(helm), "template", "x", str(CHART), "--set", setting],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not key:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode != 0, f"--set {setting} was accepted"
    assert f"at '{key}'" in proc.stderr, proc.stderr
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


#: Values the chart must accept: what tests/e2e/test_helm.py, tests/chart/test_gitops.py and
#: docs/install.md install with, and the open parts of the schema (Kubernetes objects passed through).
ACCEPTED: list[dict[str, Any]] = [
    {
        "operator": {"watchNamespaces": ["team-a", "team-b"]},
        "crds": {"enabled": False},
        "nodeSelector": {"mlendpoints.io/node-kind": "process"},
        "tolerations": [{"key": "mlendpoints.io/process-node", "operator": "Exists", "effect": "NoSchedule"}],
    },
    {"operator": {"extraEnv": [{"name": "MLENDPOINTS_STALL_AFTER", "value": "3600"}]}},
    {
        "podSecurityContext": {
            "fsGroup": 2000,
            "seccompProfile": {"type": "Localhost", "localhostProfile": "p"},
        }
    },
    {"securityContext": {"capabilities": {"drop": ["ALL"], "add": []}, "privileged": False}},
    {
        "resources": {
            "requests": {"cpu": 1, "ephemeral-storage": "1Gi"},
            "limits": {"memory": "1Gi", "cpu": 2},
        }
    },
    {"operator": {"extraEnv": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}},
    {"operator": {"apiDiscoveryInterval": 0.5, "defaultGateway": "gateways/inference"}},
    {"image": {"digest": DIGEST}, "imagePullSecrets": [{"name": "regcred"}], "global": {"x": 1}},
    {"azure": {"pollInterval": 2.5, "workloadIdentity": {"enabled": True, "clientId": "c"}}},
]


@pytest.mark.parametrize("values", ACCEPTED, ids=lambda v: ",".join(sorted(v)))
def test_the_schema_accepts_kubernetes_objects_and_numbers(
    helm: Path, tmp_path: Path, values: dict[str, Any]
) -> None:
    out = run_helm(helm, "lint", "--strict", str(CHART), *values_file(tmp_path, values))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("path", sorted((REPO / "dev" / "values").glob("*.yaml")), ids=lambda p: p.name)
def test_the_schema_accepts_the_values_files_in_the_repository(helm: Path, path: Path) -> None:
    out = run_helm(helm, "lint", "--strict", str(CHART), "--values", str(path))
    assert "0 chart(s) failed" in out


#: Boundary values of every operator setting the chart passes on (key -> candidates).
CANDIDATES: dict[str, list[Any]] = {
    "operator.workers": [-1, 0, 1, 8, 100000, 1.5],
    "operator.logLevel": ["DEBUG", "CRITICAL", "debug", "LOUD", ""],
    "operator.metricsPort": [-1, 0, 1, 65535, 65536],
    "operator.healthPort": [-1, 0, 1, 65535, 65536],
    "operator.apiDiscoveryInterval": [-1, 0, 0.001, 60],
    "operator.watchNamespaces": [["team-a"], ["Team_A"], [""]],
    "operator.defaultGateway": ["gw/main", "main", "gw/"],
    "networkPolicy.fromNamespaces": [[], ["monitoring"], ["Not OK"]],
    "azure.pollInterval": [-1, 0, 0.1],
    "azure.resyncInterval": [0, 1],
}


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def test_what_the_chart_accepts_the_operator_accepts(
    helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operator settings are validated by pydantic-settings (controller/settings.py) at startup; the
    schema must refuse at install time whatever would make the operator refuse to start."""
    for name in list(os.environ):
        if name.startswith("MLENDPOINTS_"):
            monkeypatch.delenv(name)
    accepted, refused = 0, 0
    for key, candidates in CANDIDATES.items():
        for value in candidates:
            args = values_file(tmp_path, _nested(key, value))
            proc = subprocess.run(
                [str(helm), "template", "x", str(CHART), "--show-only", "templates/deployment.yaml", *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if proc.returncode != 0:
                refused += 1
                continue
            accepted += 1
            env = container_env(one(list(yaml.safe_load_all(proc.stdout)), "Deployment"))
            with monkeypatch.context() as m:
                for name, text in env.items():
                    m.setenv(name, text)
                try:
                    OperatorSettings.from_env()
                    AzureSettings.from_env()
                except (SettingsError, ValueError) as exc:
                    pytest.fail(f"the chart accepts {key}={value!r} but the operator refuses it: {exc}")
    assert accepted >= 15, (accepted, refused)  # the candidates fall on both sides
    assert refused >= 15, (accepted, refused)
