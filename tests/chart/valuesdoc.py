"""The chart's configuration table, generated from the ``# --`` comments in values.yaml.

Each key in ``charts/mlendpoints/values.yaml`` carries a helm-docs style comment (``# -- text``,
continued on following ``#`` lines) directly above it. :func:`parse` reads them with their dotted
key paths; :func:`table` renders a Markdown table; the table is kept between
``<!-- values:begin -->`` and ``<!-- values:end -->`` in the files listed in :data:`TARGETS`.

Used by tests/chart/test_chart.py (every key documented; tables current). Rewrite the tables
after changing values.yaml with::

    python -m tests.chart.valuesdoc
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "charts" / "mlendpoints" / "values.yaml"
TARGETS = (REPO / "README.md", REPO / "docs" / "install.md", REPO / "charts" / "mlendpoints" / "README.md")
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")


@dataclass(frozen=True)
class Key:
    path: str
    description: str | None
    default: Any
    has_children: bool


def _lookup(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def parse(text: str | None = None) -> list[Key]:
    """Every key of values.yaml in file order, with its ``# --`` description (None if missing)."""
    text = VALUES.read_text() if text is None else text
    values = yaml.safe_load(text)
    keys: list[Key] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if body.startswith("--"):
                pending = [body[2:].strip()]
            elif pending is not None:
                pending.append(body)
            continue
        match = _KEY.match(line)
        if match is None:  # a list item or a continuation line
            pending = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [match["key"]])
        default = _lookup(values, path)
        keys.append(
            Key(
                path=path,
                description=" ".join(pending) if pending else None,
                default=default,
                has_children=isinstance(default, dict) and bool(default),
            )
        )
        stack.append((indent, match["key"]))
        pending = None
    return keys


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def table(keys: list[Key] | None = None) -> str:
    """The Markdown configuration table (leaf keys; a mapping's own row only if it has no keys)."""
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key in parse() if keys is None else keys:
        if key.has_children:
            continue
        default = json.dumps(key.default, separators=(",", ":"))
        description = (key.description or "").replace("|", "\\|")
        rows.append(f"| `{key.path}` | {_type(key.default)} | `{default}` | {description} |")
    return "\n".join(rows) + "\n"


def splice(document: str, generated: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``."""
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    return document[:start] + "\n" + generated + document[end:]


def main() -> int:
    generated = table()
    for target in TARGETS:
        text = target.read_text()
        updated = splice(text, generated)
        if updated != text:
            target.write_text(updated)
            print(f"updated {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
