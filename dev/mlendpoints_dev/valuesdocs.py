"""``mlendpoints dev values``: the chart's values schema and values tables, generated from values.yaml.

Both come from the comments in ``charts/mlendpoints/values.yaml`` (``# -- description`` and
``# @schema keyword: value``, see :mod:`mlendpoints_dev.valuesschema`):

* ``charts/mlendpoints/values.schema.json`` by :func:`mlendpoints_dev.valuesschema.generate`;
* the Markdown values table by helm-docs (pinned in :mod:`mlendpoints_dev.versions`, built into
  the binary cache on first use) with ``values-table.gotmpl``, spliced between
  ``<!-- values:begin -->`` and ``<!-- values:end -->`` in each file of :data:`DOCS`.

tests/chart/test_values_docs.py regenerates everything into a temporary directory and fails with
a diff, and the command to run, when a checked-in file differs.
"""

from __future__ import annotations

import difflib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlendpoints_dev import valuesschema

CHART = Path("charts") / "mlendpoints"
#: Files (relative to the repository) that hold the values table between the markers.
DOCS = (Path("README.md"), Path("docs") / "install.md", CHART / "README.md")
TEMPLATE = Path(__file__).with_name("values-table.gotmpl")
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"
COMMAND = "mlendpoints dev values"


class ValuesDocsError(RuntimeError):
    """The table or schema could not be generated (helm-docs failed, markers missing, bad comments)."""


@dataclass(frozen=True)
class Generated:
    """One generated file: its path relative to the repository and its full new text."""

    path: Path
    text: str


def table(repo: Path, helm_docs: Path) -> str:
    """The Markdown values table (ending in a newline) that helm-docs renders from values.yaml.

    Runs ``helm-docs --dry-run``. Not with ``--documentation-strict-mode``: v1.14.2 then reports
    every key as undocumented and exits 0 with no output; :mod:`valuesschema` enforces the
    descriptions instead.

    Raises:
        ValuesDocsError: helm-docs exited non-zero; the message carries its output.
    """
    proc = subprocess.run(
        [
            str(helm_docs),
            "--dry-run",
            "--chart-search-root",
            str(repo / CHART),
            "--template-files",
            str(TEMPLATE),
            "--sort-values-order",
            "file",
            "--log-level",
            "error",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ValuesDocsError(f"helm-docs exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    return proc.stdout.rstrip() + "\n"


def splice(document: str, generated: str, *, name: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``.

    Raises:
        ValuesDocsError: ``document`` (called ``name`` in the message) lacks a marker.
    """
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValuesDocsError(f"{name}: needs a line `{BEGIN}` followed by a line `{END}`")
    return document[: start + len(BEGIN)] + "\n" + generated + document[end:]


def generate(repo: Path, helm_docs: Path) -> list[Generated]:
    """The schema and every document of :data:`DOCS` as they should read, from ``repo``'s files.

    Raises:
        ValuesDocsError: helm-docs failed, a document lacks the markers, or values.yaml's comments
            do not make a schema (the message names the line and key).
    """
    values = repo / CHART / "values.yaml"
    chart_name = yaml.safe_load((repo / CHART / "Chart.yaml").read_text())["name"]
    try:
        schema = valuesschema.generate(
            values.read_text(), title=f"{chart_name} chart values", filename=str(CHART / "values.yaml")
        )
    except valuesschema.ValuesSchemaError as exc:
        raise ValuesDocsError(str(exc)) from None
    out = [Generated(CHART / "values.schema.json", valuesschema.dumps(schema))]
    rows = table(repo, helm_docs)
    for doc in DOCS:
        out.append(Generated(doc, splice((repo / doc).read_text(), rows, name=str(doc))))
    return out


def write(files: list[Generated], root: Path) -> list[Path]:
    """Write ``files`` under ``root`` (creating directories); returns the paths whose text changed."""
    changed = []
    for item in files:
        target = root / item.path
        if target.is_file() and target.read_text() == item.text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.text)
        changed.append(item.path)
    return changed


def diff(files: list[Generated], repo: Path) -> str:
    """A unified diff from ``repo``'s files to ``files`` (empty when all are current)."""
    chunks: list[str] = []
    for item in files:
        current = repo / item.path
        old = current.read_text() if current.is_file() else ""
        chunks += difflib.unified_diff(
            old.splitlines(keepends=True),
            item.text.splitlines(keepends=True),
            fromfile=f"a/{item.path}",
            tofile=f"b/{item.path}",
        )
    return "".join(chunks)
