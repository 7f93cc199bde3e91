"""The az-ml verbs for real: Azure ML YAML with a local model and code folder, to a served prediction.

On the e2e dev cluster (process nodes run the pods, Traefik serves the Gateway, Azurite stores
blobs): ``online-deployment create`` uploads the local model folder to Azurite (the namespace's
``azurite-credentials`` Secret, found by itself) and puts the code folder in a ConfigMap;
``invoke --request-file`` scores through the gateway with the endpoint's key (and pinned with
``--deployment-name``); ``get-logs`` reads the scoring and storage-initializer containers' logs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
import yaml
from click.testing import CliRunner, Result

from mlendpoints import cli
from tests.e2e import helpers

pytestmark = pytest.mark.timeout(600)
SCHEMAS = "https://azuremlschemas.azureedge.net/latest"


def run(cluster: Any, *args: str, code: int = 0) -> Result:
    res = CliRunner().invoke(cli.root, list(args), env={"KUBECONFIG": str(cluster.kubeconfig)})
    assert res.exit_code == code, f"{args}: exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res


def test_azure_yaml_with_local_folders_is_served_and_invoked(
    cluster: Any, ns: str, scoring: dict[str, Any], tmp_path: Path
) -> None:
    from mlendpoints_dev import demoscore

    (tmp_path / "model").mkdir()
    joblib.dump(demoscore._diabetes_models()["blue"], tmp_path / "model" / "model.joblib")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(helpers.SCORE_PY)
    endpoint = {
        "$schema": f"{SCHEMAS}/managedOnlineEndpoint.schema.json",
        "name": "azcli",
        "auth_mode": "key",
    }
    blue = {
        "$schema": f"{SCHEMAS}/managedOnlineDeployment.schema.json",
        "name": "blue",
        "endpoint_name": "azcli",
        "model": {"path": "./model"},
        "code_configuration": {"code": "./src", "scoring_script": "score.py"},
        "instance_type": "Standard_DS3_v2",
        "instance_count": 1,
    }
    (tmp_path / "endpoint.yml").write_text(yaml.safe_dump(endpoint))
    (tmp_path / "blue.yml").write_text(yaml.safe_dump(blue))
    (tmp_path / "request.json").write_text(json.dumps({"data": scoring["row"]}))
    ns_ = ["--namespace", ns]
    gateway = f"{helpers.GATEWAY_NAMESPACE}/{helpers.GATEWAY_NAME}"

    run(
        cluster, "online-endpoint", "create", "-f", str(tmp_path / "endpoint.yml"), "--gateway", gateway, *ns_
    )
    res = run(cluster, "online-deployment", "create", "-f", str(tmp_path / "blue.yml"), "--all-traffic",
              "--instance-type", f"Standard_DS3_v2={helpers.INSTANCE_TYPE}", "--timeout", "300", *ns_)  # fmt: skip
    assert (
        "uploaded model of OnlineDeployment blue (./model): 1 file(s) to az://mlendpoints-uploads/azcli/blue-model/"
        in res.stderr
    )
    dep = json.loads(res.stdout)
    assert dep["spec"]["model"]["credentialsSecretRef"] == {"name": "azurite-credentials"}
    assert dep["spec"]["codeConfiguration"]["configMap"] == {"name": "azcli-blue-code"}

    invoke = [
        "online-endpoint",
        "invoke",
        "-n",
        "azcli",
        "--request-file",
        str(tmp_path / "request.json"),
        *ns_,
    ]
    deadline = time.monotonic() + 60
    while (
        res := CliRunner().invoke(cli.root, invoke, env={"KUBECONFIG": str(cluster.kubeconfig)})
    ).exit_code != 0:
        # Traefik applies the route a moment after the operator writes it
        assert time.monotonic() < deadline, res.stderr
        time.sleep(1)
    assert round(float(json.loads(res.stdout)[0]), 6) == scoring["expected"]["blue"]
    pinned = run(cluster, *invoke, "--deployment-name", "blue")
    assert round(float(json.loads(pinned.stdout)[0]), 6) == scoring["expected"]["blue"]
    no_route = run(
        cluster, *invoke, "--scoring-uri", helpers.score_url(scoring["gateway_url"], ns, "nosuch"), code=1
    )
    assert "Error: the endpoint answered HTTP 404" in no_route.stderr

    logs = run(cluster, "online-deployment", "get-logs", "-n", "blue", "-e", "azcli", *ns_).stdout
    assert logs.strip()
    init_logs = run(cluster, "online-endpoint", "get-logs", "-n", "azcli", "-d", "blue",
                    "--container", "storage-initializer", *ns_).stdout  # fmt: skip
    assert "azcli/blue-model/" in init_logs
    tail = run(
        cluster, "online-deployment", "get-logs", "-n", "blue", "-e", "azcli", "--lines", "1", *ns_
    ).stdout
    assert len(tail.strip().splitlines()) == 1
