"""The chart installs the same CRDs as ``crds/``: one generator (``mlendpoints crds``) writes both.

tests/unit/test_crdgen.py checks the committed files against the models; this checks what Helm
actually renders from the templates against ``crds/``, byte-for-byte in ``spec``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.chart.conftest import CRDS, of_kind, template


def test_rendered_chart_crds_equal_crds_dir(helm: Path, tmp_path: Path) -> None:
    rendered = {
        c["metadata"]["name"]: c for c in of_kind(template(helm, tmp_path), "CustomResourceDefinition")
    }
    committed = {p.stem: yaml.safe_load(p.read_text()) for p in CRDS.glob("*.yaml")}
    assert set(rendered) == set(committed)
    for name, crd in committed.items():
        chart = rendered[name]
        assert chart["spec"] == crd["spec"], f"{name}: chart and crds/ differ; run `mlendpoints crds`"
        assert set(crd["metadata"]["labels"].items()) <= set(chart["metadata"]["labels"].items())
        assert chart["apiVersion"] == crd["apiVersion"]
