"""A chart's ``values.schema.json``, generated from the comments in its ``values.yaml``.

Called by :mod:`mlendpoints_dev.valuesdocs` (``mlendpoints dev values``), which also renders the
values table with helm-docs from the same comments, so the schema's descriptions and the docs'
cannot drift apart.

Why a generator of our own: the well-kept tool for this, helm-values-schema-json
(github.com/losisin/helm-values-schema-json), is not served by the Go module proxy our machines
build from (``go list -m -versions`` answers 403 for v1 and v2), and neither is
github.com/dadav/helm-schema. This module reads the same comment conventions:

* ``# -- text`` above a key, continued on the following ``#`` lines, is its description
  (helm-docs' syntax, which helm-values-schema-json reads with ``--useHelmDocs``). Every key
  must have one.
* ``# @schema keyword: value`` lines above the ``# --`` line add JSON Schema draft-07 keywords
  (helm-values-schema-json's annotation, one keyword per line). The value is YAML flow syntax
  (``enum: [A, B]``, ``minimum: 1``, ``items: {type: string}``) except for ``pattern``, which is
  taken verbatim. ``required: true`` lists the key in its parent's ``required``.
* The ``type`` comes from the default (``1`` integer, ``1.5`` number, ``""`` string, ``true``
  boolean, ``[]`` array, ``{}`` object) unless ``type`` is annotated; a list's ``items`` from its
  elements, or from an ``items`` annotation (required for an empty list).
* A mapping with keys gets ``properties`` and ``additionalProperties: false`` (an unknown key is
  a typo) unless ``additionalProperties`` is annotated.

Structure and line numbers come from PyYAML's node tree (``yaml.compose``); comments, which
PyYAML drops, are read from the lines directly above each key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
#: The JSON Schema draft-07 keywords a ``# @schema`` line may set.
KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "additionalProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "required",
        "examples",
    }
)
_VERBATIM = frozenset({"pattern"})
_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"))


class ValuesSchemaError(ValueError):
    """values.yaml cannot be turned into a schema; the message names the file line and the key."""


@dataclass
class _Comments:
    description: str | None = None
    keywords: dict[str, Any] = field(default_factory=dict)


def _comment_block(lines: list[str], line: int) -> list[tuple[int, str]]:
    """The ``#`` lines directly above 0-based ``line`` (no blank line between), top first."""
    block: list[tuple[int, str]] = []
    i = line - 1
    while i >= 0 and lines[i].lstrip().startswith("#"):
        block.append((i, lines[i].lstrip()[1:].strip()))
        i -= 1
    return block[::-1]


def _keyword(where: str, body: str) -> tuple[str, Any]:
    """``keyword: value`` of one ``# @schema`` line, the value parsed as YAML (``pattern`` verbatim)."""
    name, sep, raw = body.partition(":")
    name, raw = name.strip(), raw.strip()
    if not sep or name not in KEYWORDS:
        raise ValuesSchemaError(
            f"{where}: `# @schema {body}` is not `keyword: value` with a keyword among {sorted(KEYWORDS)}"
        )
    if name in _VERBATIM:
        return name, raw
    try:
        return name, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValuesSchemaError(f"{where}: `# @schema {body}`: the value is not YAML ({exc})") from None


def _comments(lines: list[str], line: int, filename: str, key: str) -> _Comments:
    """Description and ``# @schema`` keywords from the comment block above the key on ``line``."""
    found = _Comments()
    parts: list[str] | None = None
    for number, body in _comment_block(lines, line):
        at = f"{filename}:{number + 1}: {key}"
        if body.startswith("@schema"):
            if parts is not None:
                raise ValuesSchemaError(f"{at}: `# @schema` lines go above the `# --` description")
            name, value = _keyword(at, body[len("@schema") :].strip())
            if name in found.keywords:
                raise ValuesSchemaError(f"{at}: `{name}` is annotated twice")
            found.keywords[name] = value
        elif body.startswith("--"):
            parts = [body[2:].strip()]
        elif parts is not None:
            if body.startswith("@"):
                raise ValuesSchemaError(f"{at}: `# {body}` is not supported inside a description")
            parts.append(body)
    if parts is not None:
        found.description = " ".join(p for p in parts if p) or None
    return found


def _inferred_type(value: Any) -> str | None:
    for python_type, name in _TYPES:
        if isinstance(value, python_type):
            return name
    return "object" if isinstance(value, dict) else None


def _items(where: str, default: list[Any]) -> dict[str, Any]:
    kinds = {_inferred_type(v) for v in default}
    if not default or len(kinds) != 1 or kinds & {None, "object", "array"}:
        raise ValuesSchemaError(
            f"{where}: annotate the list's items, e.g. `# @schema items: {{type: string}}`"
        )
    return {"type": kinds.pop()}


class _Builder:
    """Walks values.yaml's node tree; one instance per file (holds its lines for the comments)."""

    def __init__(self, text: str, filename: str) -> None:
        self.lines = text.splitlines()
        self.filename = filename

    def mapping(self, node: yaml.MappingNode, values: dict[str, Any], path: str) -> dict[str, Any]:
        """``properties`` (and ``required``) of a mapping node whose loaded value is ``values``."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key_node, value_node in node.value:
            key = str(key_node.value)
            dotted = f"{path}.{key}" if path else key
            where = f"{self.filename}:{key_node.start_mark.line + 1}: {dotted}"
            comments = _comments(self.lines, key_node.start_mark.line, self.filename, dotted)
            flag = comments.keywords.get("required")
            if isinstance(flag, bool):  # `required: true` lists the key in its parent
                del comments.keywords["required"]
                required += [key] if flag else []
            properties[key] = self.value(value_node, values[key], dotted, where, comments)
        out: dict[str, Any] = {"properties": properties}
        if required:
            out["required"] = required
        return out

    def value(
        self, node: yaml.Node, default: Any, path: str, where: str, comments: _Comments
    ) -> dict[str, Any]:
        """The schema of one key: type, description, annotated keywords, then its keys or items."""
        if comments.description is None:
            raise ValuesSchemaError(f"{where}: no `# -- description` comment above the key")
        keywords = dict(comments.keywords)
        kind = keywords.pop("type", None) or _inferred_type(default)
        if kind is None:
            raise ValuesSchemaError(f"{where}: the default is null; annotate `# @schema type: ...`")
        schema: dict[str, Any] = {"type": kind, "description": comments.description}
        if isinstance(node, yaml.MappingNode) and node.value:
            schema.update(self.mapping(node, default, path))
            schema["additionalProperties"] = keywords.pop("additionalProperties", False)
        elif isinstance(default, list) and "items" not in keywords:
            schema["items"] = _items(where, default)
        schema.update(keywords)
        return schema


def generate(text: str, *, title: str, filename: str = "values.yaml") -> dict[str, Any]:
    """The draft-07 schema (a JSON-ready dict) of the values file ``text``.

    Args:
        text: values.yaml's content.
        title: the schema's ``title``.
        filename: the name errors give for ``text``.

    Raises:
        ValuesSchemaError: a key has no ``# --`` description, a null default without a ``type``,
            an empty list without ``items``, or an unknown or unparsable ``# @schema`` line; the
            message names the file, line and dotted key.
    """
    root = yaml.compose(text)
    values = yaml.safe_load(text)
    if not isinstance(root, yaml.MappingNode) or not isinstance(values, dict):
        raise ValuesSchemaError(f"{filename}: the top level is not a mapping")
    builder = _Builder(text, filename)
    schema: dict[str, Any] = {"$schema": DRAFT_07, "title": title, "type": "object"}
    schema.update(builder.mapping(root, values, ""))
    schema["additionalProperties"] = False
    return schema


def dumps(schema: dict[str, Any]) -> str:
    """The file text of a schema: two-space indented JSON with a final newline (stable for diffs)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
