"""CRDs are generated from the models; the committed files must equal a fresh generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlendpoints.api import crdgen
from mlendpoints.api import v1alpha1 as api

ROOT = Path(__file__).resolve().parents[2]


def test_committed_crds_match_the_models() -> None:
    fresh = crdgen.render_files()
    committed = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    assert set(committed) == set(fresh), "crds/ has extra or missing files: run `mlendpoints crds`"
    stale = [name for name, text in fresh.items() if committed[name] != text]
    assert not stale, f"stale CRDs {stale}: run `mlendpoints crds`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, child in node.get("properties", {}).items():
            out.extend(_walk(child, f"{path}.{key}"))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out.extend(_walk(node[key], f"{path}[{key}]"))
    return out


def test_schemas_have_no_json_schema_leftovers_and_every_field_is_described() -> None:
    for kind in api.KINDS:
        schema = crdgen.openapi_schema(kind)
        for path, node in _walk(schema):
            assert not {"$ref", "$defs", "title", "const"} & set(node), path
            assert node.get("additionalProperties") is not False, path
            if "anyOf" in node:
                assert node.get("x-kubernetes-int-or-string"), (
                    f"{kind.crd.kind}{path}: anyOf is not structural"
                )
            if path.count(".") >= 2 and "[" not in path and not path.endswith(".metadata"):
                assert node.get("description"), f"{kind.crd.kind}{path} has no description"
            if "properties" in node or "additionalProperties" in node:
                assert node.get("type") == "object", path


def test_crd_metadata() -> None:
    by_kind = {c["spec"]["names"]["kind"]: c for c in crdgen.all_crds()}
    assert set(by_kind) == {k.crd.kind for k in api.KINDS}
    assert by_kind["InstanceType"]["spec"]["scope"] == "Cluster"
    assert by_kind["OnlineEndpoint"]["spec"]["names"]["shortNames"] == ["oep"]
    for crd in by_kind.values():
        version = crd["spec"]["versions"][0]
        assert "ml" in crd["spec"]["names"]["categories"]
        assert version["subresources"]["status"] == {}
    scale = by_kind["OnlineDeployment"]["spec"]["versions"][0]["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.instanceCount",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [c["name"] for c in by_kind["BatchJob"]["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:4] == ["Phase", "Ready", "Reason", "Progress"]


def test_generated_yaml_parses_to_the_same_objects() -> None:
    for name, text in crdgen.render_files().items():
        obj = yaml.safe_load(text)
        assert obj["metadata"]["name"] + ".yaml" == name


def test_committed_api_reference_matches_the_models() -> None:
    from mlendpoints.api import docgen

    assert (ROOT / "docs/api-reference.md").read_text() == docgen.render(), "run `mlendpoints crds`"


def test_committed_chart_crds_match_the_models() -> None:
    fresh = crdgen.render_chart_files()
    chart_dir = ROOT / crdgen.CHART_CRDS
    committed = {p.name: p.read_text() for p in chart_dir.glob("*.yaml")}
    assert set(committed) == set(fresh), f"{chart_dir} has extra or missing files: run `mlendpoints crds`"
    stale = [name for name, text in fresh.items() if committed[name] != text]
    assert not stale, f"stale chart CRDs {stale}: run `mlendpoints crds`"


def test_chart_crd_templates_carry_the_same_spec_as_crds() -> None:
    for obj in crdgen.all_crds():
        text = crdgen.chart_template(obj)
        assert text.startswith("{{- if .Values.crds.enabled }}\n")
        assert "helm.sh/resource-policy: keep" in text
        # Outside the Go-template lines, the template is the CRD's spec as YAML.
        body = "\n".join(line for line in text.splitlines() if "{{" not in line and "keep" not in line)
        parsed = yaml.safe_load(body)
        assert parsed["spec"] == obj["spec"]
        assert parsed["metadata"]["name"] == obj["metadata"]["name"]
