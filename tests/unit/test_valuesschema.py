"""The values-schema generator (mlendpoints_dev.valuesschema) on small values files; no helm, no files."""

from __future__ import annotations

import textwrap
from typing import Any

import jsonschema
import pytest

from mlendpoints_dev import valuesschema


def schema(text: str) -> dict[str, Any]:
    return valuesschema.generate(textwrap.dedent(text), title="t")


def test_types_come_from_defaults_and_descriptions_from_helm_docs_comments() -> None:
    out = schema(
        """
        # -- How many.
        # Continued here.
        count: 1
        # -- A ratio.
        ratio: 0.5
        # -- A name.
        name: ""
        # -- On or off.
        enabled: true
        # -- Some names.
        names: [a, b]
        # -- Free-form.
        extra: {}
        """
    )
    props = out["properties"]
    assert out["$schema"] == valuesschema.DRAFT_07
    assert out["additionalProperties"] is False
    assert props["count"] == {"type": "integer", "description": "How many. Continued here."}
    assert props["ratio"]["type"] == "number"
    assert props["name"]["type"] == "string"
    assert props["enabled"]["type"] == "boolean"
    assert props["names"] == {"type": "array", "description": "Some names.", "items": {"type": "string"}}
    assert props["extra"] == {"type": "object", "description": "Free-form."}
    jsonschema.Draft7Validator.check_schema(out)


def test_schema_annotations_become_keywords_and_validate() -> None:
    out = schema(
        r"""
        # -- Operator settings.
        operator:
          # @schema required: true
          # @schema enum: [DEBUG, INFO]
          # -- Log level.
          logLevel: INFO
          # @schema minimum: 1
          # @schema maximum: 512
          # -- Workers.
          workers: 8
          # @schema pattern: ^([\w][\w.-]{0,127})?$
          # -- A tag.
          tag: ""
          # @schema items: {type: string, pattern: '^[a-z]+$'}
          # -- Namespaces.
          namespaces: []
        """
    )
    operator = out["properties"]["operator"]
    assert operator["additionalProperties"] is False
    assert operator["required"] == ["logLevel"]
    assert operator["properties"]["logLevel"]["enum"] == ["DEBUG", "INFO"]
    assert operator["properties"]["tag"]["pattern"] == r"^([\w][\w.-]{0,127})?$"
    validator = jsonschema.Draft7Validator(out)
    assert validator.is_valid({"operator": {"logLevel": "INFO", "workers": 512, "namespaces": ["ab"]}})
    for bad in (
        {"operator": {"logLevel": "LOUD"}},
        {"operator": {"workers": 0}},
        {"operator": {"workers": "eight"}},
        {"operator": {"tag": "-x"}},
        {"operator": {"namespaces": ["A"]}},
        {"operator": {"typo": 1}},
        {"typo": 1},
    ):
        assert not validator.is_valid(bad), bad


def test_annotated_type_and_open_mapping() -> None:
    out = schema(
        """
        # @schema additionalProperties: {type: [string, integer]}
        # -- Requests.
        requests:
          # @schema type: [string, integer]
          # -- CPU.
          cpu: 100m
        """
    )
    requests = out["properties"]["requests"]
    assert requests["additionalProperties"] == {"type": ["string", "integer"]}
    assert requests["properties"]["cpu"]["type"] == ["string", "integer"]
    assert jsonschema.Draft7Validator(out).is_valid({"requests": {"cpu": 1, "ephemeral-storage": "1Gi"}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n", "values.yaml:1: a: no `# -- description`"),
        ("# -- A.\na:\n  b: 1\n", "values.yaml:3: a.b: no `# -- description`"),
        ("# -- A.\na: null\n", "a: the default is null"),
        ("# -- A.\na: []\n", "a: annotate the list's items"),
        ("# @schema minimun: 1\n# -- A.\na: 1\n", "values.yaml:1: a: `# @schema minimun: 1` is not"),
        ("# -- A.\n# @schema minimum: 1\na: 1\n", "values.yaml:2: a: `# @schema` lines go above"),
        ("# @schema minimum: 1\n# @schema minimum: 2\n# -- A.\na: 1\n", "`minimum` is annotated twice"),
        ("# @schema enum: [a, b\n# -- A.\na: a\n", "the value is not YAML"),
        ("# -- A.\n# @default -- x\na: 1\n", "not supported inside a description"),
    ],
)
def test_mistakes_name_the_line_and_key(text: str, message: str) -> None:
    with pytest.raises(valuesschema.ValuesSchemaError) as err:
        valuesschema.generate(text, title="t")
    assert message in str(err.value)


def test_dumps_is_stable() -> None:
    out = schema("# -- A.\na: 1\n")
    assert valuesschema.dumps(out) == valuesschema.dumps(schema("# -- A.\na: 1\n"))
    assert valuesschema.dumps(out).endswith("}\n")
