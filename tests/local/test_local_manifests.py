"""``local up`` of our own manifests: the model fetched from its URI, the code from a ConfigMap in -f."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.conftest import SAMPLE, cli, pids_of, wait_gone

pytestmark = pytest.mark.timeout(300)

MANIFESTS = """\
apiVersion: mlendpoints.io/v1alpha1
kind: OnlineEndpoint
metadata: {{name: crs}}
spec:
  authMode: none
  traffic: {{only: 100}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: crs-code}}
data:
  score.py: |
{script}
---
apiVersion: mlendpoints.io/v1alpha1
kind: OnlineDeployment
metadata: {{name: only}}
spec:
  endpointName: crs
  model: {{path: "{model_uri}", credentialsSecretRef: {{name: store}}}}
  codeConfiguration: {{configMap: {{name: crs-code}}, scoringScript: score.py}}
  environmentVariables: {{COLOR: "literal $(NOT_EXPANDED)"}}
"""


@pytest.fixture
def model_server() -> Iterator[str]:
    """The sample's model folder over HTTP (a directory listing, as the storage initializer reads it)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/model/"
    server.shutdown()
    server.server_close()


def test_our_manifests_run_with_the_model_fetched_and_the_code_from_the_config_map(
    tmp_path: Path, model_server: str
) -> None:
    script = "\n".join("    " + line for line in (SAMPLE / "src" / "score.py").read_text().splitlines())
    manifests = tmp_path / "crs.yaml"
    manifests.write_text(MANIFESTS.format(script=script, model_uri=model_server))
    up = cli("local", "up", "--detach", "-f", manifests, state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "credentialsSecretRef" in up.stderr  # said, not silently dropped
    state = json.loads(cli("local", "show", "-n", "crs", state_dir=tmp_path).stdout)
    try:
        fetched = Path(state["deployments"]["only"]["model_dir"])
        assert (fetched / "weights.json").read_text() == (SAMPLE / "model" / "weights.json").read_text()
        # authMode none: no key needed, and none printed
        assert "primaryKey" not in state
        result = cli(
            "online-endpoint",
            "invoke",
            "--local",
            "-n",
            "crs",
            "--request-file",
            SAMPLE / "request.json",
            state_dir=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert body == {"deployment": "literal $(NOT_EXPANDED)", "predictions": [12.0, 30.0]}
        keys = cli("online-endpoint", "get-credentials", "--local", "-n", "crs", state_dir=tmp_path)
        assert keys.returncode == 1
        assert "authMode none" in keys.stderr
    finally:
        cli("local", "down", "-n", "crs", state_dir=tmp_path)
    assert wait_gone(pids_of(state)) == []
