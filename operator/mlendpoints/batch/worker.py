"""One worker process: loads the scoring script (``init()`` once) or the MLflow model, then scores
mini-batches sent by the pool until told to stop.

Azure ML's contract for ``run(mini_batch)``: ``mini_batch`` is a list of local file paths;
``run`` returns a list or a pandas DataFrame whose length is the number of succeeded items.
Anything else fails the mini-batch. Remote inputs are downloaded to a local folder first and
removed after the call.

Messages on the pipe (pool -> worker): ``("run", mini_batch_id, [(input_index, rel), ...],
rows_rel, done_rel)``, ``("stop",)``; (worker -> pool): ``("ready", pid)``, ``("init_failed", message,
traceback)``, ``("done", mini_batch_id, Result)``. The pool may send a worker its next mini-batch
before the current one is done (messages are handled in order), so a worker never waits for the
runner between mini-batches. The worker writes a succeeded mini-batch's appendRow text itself, to
``rows_rel`` below the output, then its done record to ``done_rel`` (both atomically, before it
reports ``done``), so a pod that dies right after keeps it; only counts and errors travel on the
pipe. A failed mini-batch is the runner's to retry or record.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from mlendpoints.batch import contract
from mlendpoints.batch.config import APPEND_ROW, RunConfig
from mlendpoints.batch.files import Location
from mlendpoints.batch.state import success_record

log = logging.getLogger("mlendpoints.batch.worker")

RETURN_TYPE_MESSAGE = (
    "run() returned {kind}; run() must return a list or a DataFrame "
    "(its length is the number of successfully processed items)"
)


@dataclass(frozen=True)
class Result:
    ok: bool
    items: int
    """Files in the mini-batch."""
    succeeded: int = 0
    """Items that succeeded: the length of what run() returned, at most ``items``."""
    error: str = ""
    traceback: str = ""
    cpu_s: float = 0.0
    """CPU seconds the worker process spent on the mini-batch (``run`` and writing its rows)."""


def format_rows(result: Any) -> bytes:
    """appendRow text: a DataFrame's rows without header or index, values separated by a space;
    a list's elements one per line (a list/tuple/array element's values separated by a space)."""
    if hasattr(result, "to_csv"):
        return _frame_rows(result)
    lines = []
    for element in result:
        if isinstance(element, list | tuple) or hasattr(element, "tolist"):
            values = element.tolist() if hasattr(element, "tolist") else element
            lines.append(" ".join(str(v) for v in values) if isinstance(values, list) else str(values))
        else:
            lines.append(str(element))
    return ("".join(line + "\n" for line in lines)).encode()


def _frame_rows(frame: Any) -> bytes:
    """A DataFrame's appendRow text: Arrow's CSV writer (about 4x pandas'), else pandas for what
    Arrow cannot write unquoted (values holding the separator, quotes or newlines; mixed objects)."""
    try:
        import pyarrow as pa

        # nthreads=1: each worker is one of maxConcurrencyPerInstance processes sharing the pod's CPUs
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
        return _arrow_rows(table)
    except Exception:  # pyarrow missing, or values that need quoting: pandas quotes them
        text: str = frame.to_csv(sep=" ", header=False, index=False, lineterminator="\n")
        return text.encode()


def _arrow_rows(table: Any) -> bytes:
    """Arrow's CSV text of ``table``: no header, space-separated, nothing quoted.

    Raises:
        pyarrow.ArrowInvalid: a value would need quoting (holds the separator, a quote or a newline).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(
        table, sink, pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
    )
    text: bytes = sink.getvalue().to_pybytes()
    return text


_NEEDS_QUOTES = (" ", '"', "\n", "\r")


def _prediction_rows(prediction: Any, name: str) -> bytes | None:
    """appendRow text of a one-column prediction (an array, list or Series) followed by the file
    name, the same bytes :func:`format_rows` writes for the frame ``{prediction, file}``, without
    building that frame: Arrow formats the predictions once and the name is appended to every line.
    None when the fast path does not apply (a frame, several columns, values or a name that need
    quoting); the caller then builds the frame.
    """
    if (
        hasattr(prediction, "columns")
        or getattr(prediction, "ndim", 1) != 1
        or any(c in name for c in _NEEDS_QUOTES)
    ):
        return None
    try:
        import pyarrow as pa

        values = pa.array(prediction, from_pandas=True)  # NaN -> null, as pandas' conversion does
        if pa.types.is_nested(values.type) or len(values) == 0:
            return None
        text = _arrow_rows(pa.table({"prediction": values}))
    except Exception:  # pyarrow missing, mixed objects, values that need quoting
        return None
    return text.replace(b"\n", b" " + name.encode() + b"\n")


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


class MlflowBatch:
    """Scores CSV/Parquet files with an MLflow model, its signature enforced (the runtime's loader)."""

    def __init__(self, model_dir: str | None) -> None:
        from mlendpoints.runtime.mlflow_model import MlflowScorer, find_model

        path = find_model(model_dir)
        if path is None:
            raise FileNotFoundError(f"no MLmodel file under the model folder {model_dir!r}")
        self.scorer = MlflowScorer(path)
        self.scorer.load()

    def run(self, mini_batch: list[str]) -> Any:
        """Azure's contract: every file's rows with their prediction column(s) and ``file``, one frame."""
        import pandas as pd

        frames = [self._frame(self._predict(path), path) for path in mini_batch]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def score(self, mini_batch: list[str], *, rows: bool) -> tuple[int, bytes]:
        """What :meth:`run` returns, as ``(succeeded files, appendRow text)``, written straight from
        each file's predictions (no concatenated frame). ``rows=False`` (summaryOnly) skips the text.

        Raises:
            ValueError: a file is not CSV/Parquet or does not match the signature (names the file).
        """
        parts = []
        for path in mini_batch:
            prediction = self._predict(path)
            if rows:
                name = os.path.basename(path)
                text = _prediction_rows(prediction, name)
                parts.append(format_rows(self._frame(prediction, path)) if text is None else text)
        return len(mini_batch), b"".join(parts)

    @staticmethod
    def _frame(prediction: Any, path: str) -> Any:
        import pandas as pd

        out = (
            prediction.copy()
            if hasattr(prediction, "columns")
            else pd.DataFrame(
                {"prediction": list(prediction) if getattr(prediction, "ndim", 1) > 1 else prediction}
            )
        )
        out["file"] = os.path.basename(path)
        return out

    def _matches(self, frame: Any) -> bool:
        sig = self.scorer.signature
        if sig.kind != "columns" or list(frame.columns) != sig.names:
            return False
        return all(
            dtype is not None and frame[name].dtype == dtype for name, dtype in sig.column_types.items()
        )

    def _predict(self, path: str) -> Any:
        import pandas as pd

        from mlendpoints.runtime.mlflow_inputs import TENSORS, MlflowItem

        lowered = path.lower()
        if lowered.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif lowered.endswith((".csv", ".csv.gz", ".txt")):
            frame = pd.read_csv(path)
        else:
            raise ValueError(f"{os.path.basename(path)}: MLflow models score CSV or Parquet files only")
        sig = self.scorer.signature
        if sig.kind == "none" or self._matches(frame):
            # MLflow's own predict still enforces the signature; conversion is only needed when
            # the file's columns differ from it in order or type.
            prediction = self.scorer.model.predict(frame)
        else:
            data = (
                {sig.names[0] if sig.names else "input": frame.to_numpy()}
                if sig.kind == "tensor"
                else {str(c): frame[c].to_numpy() for c in frame.columns}
            )
            try:
                prediction = self.scorer.predict(MlflowItem(TENSORS, data, protocol="batch"))
            except Exception as exc:
                message = getattr(exc, "message", None) or str(exc)
                raise ValueError(f"{os.path.basename(path)}: {message}") from exc
        return prediction


def load(config: RunConfig) -> Any:
    """An object with ``run(mini_batch)``: the user's script module (after ``init()``) or MLflow."""
    if config.entry_script:
        from mlendpoints.runtime.config import Settings
        from mlendpoints.runtime.script import ScriptScorer

        scorer = ScriptScorer(
            Settings(
                model_dir=config.model_dir, source_dir=config.source_dir, entry_script=config.entry_script
            )
        )
        scorer.load()  # imports the script and calls init()
        return scorer.module
    return MlflowBatch(config.model_dir)


def _local_paths(config: RunConfig, files: list[tuple[int, str]], scratch: str) -> list[str]:
    paths = []
    for input_index, rel in files:
        inp = config.inputs[input_index]
        single = inp.type == "uri_file"
        where = Location(inp.path)
        if where.local:
            paths.append(where.file_path(rel, single=single))
            continue
        dest = os.path.join(scratch, inp.name, *rel.split("/"))
        where.download(rel, dest, single=single)
        paths.append(dest)
    return paths


def execute(
    model: Any, config: RunConfig, files: list[tuple[int, str]], scratch: str
) -> tuple[Result, bytes]:
    """Run one mini-batch and judge what ``run`` returned; with appendRow, also its rows' text
    (empty otherwise and on failure)."""
    import pandas as pd

    items = len(files)
    append = config.output_action == APPEND_ROW
    try:
        mini_batch = _local_paths(config, files, scratch)
        if isinstance(model, MlflowBatch):
            succeeded, rows = model.score(mini_batch, rows=append)
            return Result(True, items, succeeded=succeeded), rows
        result = model.run(mini_batch)
    except BaseException as exc:  # scripts raise anything, SystemExit included
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return Result(False, items, error=error, traceback=traceback.format_exc()), b""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not isinstance(result, list | pd.DataFrame):
        return Result(False, items, error=RETURN_TYPE_MESSAGE.format(kind=_kind(result))), b""
    return Result(True, items, succeeded=min(len(result), items)), format_rows(result) if append else b""


def _score(model: Any, config: RunConfig, out: Location, message: tuple[Any, ...], scratch: str) -> Result:
    """Execute a ``run`` message; a succeeded mini-batch's rows and then its done record are
    written to the output before it is reported."""
    _, mb_id, files, rows_rel, done_rel = message
    cpu = time.process_time()
    result, rows = execute(model, config, files, scratch)
    if result.ok:
        names = [config.item_name(i, rel) for i, rel in files]
        record = success_record(mb_id, result.items, result.succeeded, names)
        try:
            if rows_rel:
                out.write(rows_rel, rows)
            out.write(done_rel, json.dumps(record).encode())
        except Exception as exc:  # the output became unwritable: the mini-batch did not finish
            error = f"writing its results to the output: {type(exc).__name__}: {exc}"[:2000]
            result = Result(False, result.items, error=error, traceback=traceback.format_exc())
    return dataclasses.replace(result, cpu_s=time.process_time() - cpu)


def _setup(config: RunConfig, bi_output: str) -> None:
    os.environ.update(config.extra_env)
    if config.model_dir:
        os.environ[contract.MODEL_DIR] = config.model_dir
    os.environ["AZUREML_BI_OUTPUT_PATH"] = bi_output
    os.environ.setdefault("AZUREML_RUN_ID", config.job_name)
    os.environ["AZUREML_NODE_RANK"] = str(config.index)
    logging.basicConfig(
        level=config.logging_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # the fork server's imports may have configured logging already
    )


def main(conn: Connection, config: RunConfig, bi_output: str, env: dict[str, str], cwd: str) -> None:
    """The worker process's entry point (``multiprocessing`` target), in the runner's ``env`` and ``cwd``.

    The objects inherited from the fork server (its preloaded modules) and those ``init()`` made
    (the model) are moved out of the garbage collector's reach (:func:`gc.freeze`): a full
    collection would otherwise walk them all, writing to every page they share with the fork
    server (copied on write) and again at every later full collection.
    """
    gc.freeze()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    _setup(config, bi_output)
    try:
        model = load(config)
    except BaseException as exc:
        conn.send(("init_failed", f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()))
        return
    gc.freeze()
    conn.send(("ready", os.getpid()))
    out = Location(config.output)
    scratch_root = tempfile.mkdtemp(prefix="mlendpoints-batch-")
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message[0] != "run":
                return
            scratch = os.path.join(scratch_root, str(message[1]))
            conn.send(("done", message[1], _score(model, config, out, message, scratch)))
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
