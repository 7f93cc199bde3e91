"""``mlendpoints local up`` of the Azure YAML sample (two deployments at 90/10), used through its front.

Real processes on loopback ports: the CLI in a subprocess, requests with httpx.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from scipy.stats import binomtest

from tests.local.conftest import SAMPLE, SAMPLE_ARGS, cli

pytestmark = pytest.mark.timeout(300)

REQUEST = SAMPLE / "request.json"
#: the sample model's scale (examples/local/model/weights.json) times the request's row sums (6, 15)
EXPECTED = [12.0, 30.0]


def post(state: dict, *, key: str | None = None, pin: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if pin is not None:
        headers["azureml-model-deployment"] = pin
    return httpx.post(state["scoringUri"], content=REQUEST.read_bytes(), headers=headers, timeout=30)


def test_invoke_local_answers_with_the_score_script_and_the_model_folder(
    sample: dict, local_dir: Path
) -> None:
    result = cli(
        "online-endpoint",
        "invoke",
        "--local",
        "-n",
        "local-demo",
        "--request-file",
        REQUEST,
        state_dir=local_dir,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["predictions"] == EXPECTED
    assert body["deployment"] in {"blue", "green"}
    # the folders are the sample's own, used in place
    assert sample["deployments"]["blue"]["model_dir"] == str((SAMPLE / "model").resolve())
    assert sample["deployments"]["blue"]["code_dir"] == str((SAMPLE / "src").resolve())


def test_invoke_local_with_a_deployment_is_served_by_it(sample: dict, local_dir: Path) -> None:
    for name in ("blue", "green"):
        result = cli(
            "online-endpoint",
            "invoke",
            "--local",
            "-n",
            "local-demo",
            "-d",
            name,
            "--request-file",
            REQUEST,
            state_dir=local_dir,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["deployment"] == name


def test_without_a_valid_key_401(sample: dict) -> None:
    assert post(sample).status_code == 401
    assert post(sample, key="not-the-key").status_code == 401
    assert post(sample, key=sample["secondaryKey"]).status_code == 200
    # the runtime's loopback port checks the key too: it is no way around the front
    blue = sample["deployments"]["blue"]["port"]
    direct = httpx.post(f"http://127.0.0.1:{blue}/score", content=REQUEST.read_bytes(), timeout=30)
    assert direct.status_code == 401


def test_the_pin_header_sends_to_that_deployment(sample: dict) -> None:
    for name in ("blue", "green"):
        answer = post(sample, key=sample["primaryKey"], pin=name)
        assert answer.status_code == 200
        assert answer.json()["deployment"] == name
        assert answer.headers.get_list("azureml-model-deployment") == [name]  # once: the front's


def test_a_pin_to_an_unknown_deployment_is_404_with_the_reason(sample: dict) -> None:
    answer = post(sample, key=sample["primaryKey"], pin="purple")
    assert answer.status_code == 404
    assert "purple" in answer.json()["error"]
    assert "blue, green" in answer.json()["error"]


def test_the_traffic_split_holds(sample: dict) -> None:
    served: Counter[str] = Counter()
    with httpx.Client(timeout=30) as http:
        for _ in range(200):
            answer = http.post(
                sample["scoringUri"],
                content=REQUEST.read_bytes(),
                headers={
                    "Authorization": f"Bearer {sample['primaryKey']}",
                    "Content-Type": "application/json",
                },
            )
            assert answer.status_code == 200
            assert answer.headers["azureml-model-deployment"] == answer.json()["deployment"]
            served[answer.json()["deployment"]] += 1
    assert set(served) <= {"blue", "green"}
    # 90 % to blue: a two-sided binomial test rejects only a split that is off (p < 0.001)
    assert binomtest(served["blue"], 200, 0.9).pvalue > 0.001, served


def test_get_credentials_and_show_print_the_same_keys(sample: dict, local_dir: Path) -> None:
    result = cli("online-endpoint", "get-credentials", "--local", "-n", "local-demo", state_dir=local_dir)
    assert result.returncode == 0, result.stderr
    keys = json.loads(result.stdout)
    assert keys == {"primaryKey": sample["primaryKey"], "secondaryKey": sample["secondaryKey"]}
    assert len(keys["primaryKey"]) >= 32
    assert keys["primaryKey"] != keys["secondaryKey"]


def test_list_shows_the_endpoint_running(sample: dict, local_dir: Path) -> None:
    result = cli("local", "list", state_dir=local_dir)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("local-demo"))
    assert sample["scoringUri"] in row
    assert "blue=90 green=10" in row
    assert row.rstrip().endswith("running")


def test_get_logs_local_reads_the_runtime_log(sample: dict, local_dir: Path) -> None:
    result = cli(
        "online-endpoint", "get-logs", "--local", "-n", "local-demo", "-d", "green", state_dir=local_dir
    )
    assert result.returncode == 0, result.stderr
    assert "model ready" in result.stdout
    one = cli(
        "online-deployment",
        "get-logs",
        "--local",
        "-e",
        "local-demo",
        "-n",
        "green",
        "--lines",
        "1",
        state_dir=local_dir,
    )
    assert one.returncode == 0, one.stderr
    assert len(one.stdout.strip().splitlines()) == 1
    missing = cli(
        "online-endpoint", "get-logs", "--local", "-n", "local-demo", "-d", "purple", state_dir=local_dir
    )
    assert missing.returncode == 1
    assert "purple" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_regenerate_keys_local_rotates_one_key_without_a_restart(tmp_path: Path) -> None:
    """On its own endpoint (not the module's sample, whose keys other tests use)."""
    up = cli("local", "up", "--detach", *SAMPLE_ARGS, state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    try:
        before = json.loads(cli("local", "show", "-n", "local-demo", state_dir=tmp_path).stdout)
        done = cli(
            "online-endpoint",
            "regenerate-keys",
            "--local",
            "-n",
            "local-demo",
            "--key-type",
            "secondary",
            state_dir=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        after = json.loads(cli("local", "show", "-n", "local-demo", state_dir=tmp_path).stdout)
        assert after["primaryKey"] == before["primaryKey"]
        assert after["secondaryKey"] != before["secondaryKey"]
        assert after["pid"] == before["pid"]  # no restart
        deadline = time.monotonic() + 10
        while post(after, key=before["secondaryKey"]).status_code != 401:
            assert time.monotonic() < deadline, "the old secondary key still works"
            time.sleep(0.2)
        assert post(after, key=after["secondaryKey"]).status_code == 200
        assert post(after, key=after["primaryKey"]).status_code == 200
    finally:
        cli("local", "down", "-n", "local-demo", state_dir=tmp_path)
