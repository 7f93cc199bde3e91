"""Inputs and outputs in Azure Blob Storage (az://) through fsspec/adlfs, against Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlendpoints.batch.config import Input, RunConfig
from mlendpoints.batch.runner import run_index
from tests.azurite import azurite_blob
from tests.batch.conftest import write_script


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import fsspec

    with azurite_blob(tmp_path_factory.mktemp("azurite")) as conn:
        mp = pytest.MonkeyPatch()
        mp.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
        fs = fsspec.filesystem("az", connection_string=conn)
        fs.mkdir("inputs")
        fs.mkdir("outputs")
        yield fs
        mp.undo()


SCRIPT = """
import os
def init(): pass
def run(mini_batch):
    out = os.environ["AZUREML_BI_OUTPUT_PATH"]
    rows = []
    for p in mini_batch:
        text = open(p, encoding="utf-8").read()
        with open(os.path.join(out, "own-" + os.path.basename(p)), "w") as fh:
            fh.write(text.upper())
        rows.append(f"{os.path.basename(p)} {len(text)}")
    return rows
"""


def test_az_inputs_and_outputs_through_azurite(tmp_path: Path, blob: Any) -> None:
    files = {"data/b.txt": "bee", "data/a.txt": "a", "data/sub/ü.txt": "umlaut", "data/sub/zero.txt": ""}
    for name, text in files.items():
        blob.pipe_file(f"inputs/{name}", text.encode())
    write_script(tmp_path / "code", SCRIPT)
    config = RunConfig(
        inputs=(Input("data", "az://inputs/data"),),
        output="az://outputs/job1",
        source_dir=str(tmp_path / "code"),
        entry_script="score.py",
        mini_batch_size=2,
        max_concurrency_per_instance=2,
    )
    outcome = run_index(config)
    assert outcome.ok, outcome.message
    assert outcome.counters.succeeded_items == 4
    predictions = blob.cat_file("outputs/job1/predictions.csv").decode().splitlines()
    assert predictions == ["a.txt 1", "b.txt 3", "zero.txt 0", "ü.txt 6"]
    assert b"result: Succeeded" in blob.cat_file("outputs/job1/logs/user/job_result.txt")
    assert b"2 of 2 mini-batches" in blob.cat_file("outputs/job1/logs/user/job_progress_overview.txt")
    # files the script wrote to AZUREML_BI_OUTPUT_PATH are uploaded to the output
    assert blob.cat_file("outputs/job1/own-b.txt") == b"BEE"


def test_missing_blob_input_is_a_clear_failure(tmp_path: Path, blob: Any) -> None:
    write_script(tmp_path / "code", SCRIPT)
    config = RunConfig(
        inputs=(Input("data", "az://inputs/nothing-here"),),
        output="az://outputs/job2",
        source_dir=str(tmp_path / "code"),
        entry_script="score.py",
    )
    outcome = run_index(config)
    assert not outcome.ok
    assert "az://inputs/nothing-here: not found" in outcome.message


def test_the_pods_of_one_job_check_the_same_blob_output_at_once(blob: Any) -> None:
    """An Indexed Job's pods all check that the output is writable as they start; with one shared
    probe name, one pod's removal failed another's (FileNotFoundError, the job Failed)."""
    from concurrent.futures import ThreadPoolExecutor

    from mlendpoints.batch.files import Location

    def check(_: int) -> None:
        Location("az://outputs/shared").check_writable()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, range(32)))  # raises the first LocationError, if any
    assert not [p for p in blob.find("outputs/shared") if ".write-probe" in p]  # each removed its own
