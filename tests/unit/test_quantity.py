"""Quantities: the API's parser (api/quantity.py) agrees with kubernetes.utils.parse_quantity.

The API and the renderers may not import ``kubernetes`` (import-linter), so they keep their own
parser; the operator's clients use ``parse_quantity``. These tests hold the two to the same values
and give bad input one message wherever it is found.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from kubernetes.utils import parse_quantity
from pydantic import ValidationError

from mlendpoints.api import errors, quantity
from mlendpoints.api.v1alpha1 import InstanceType
from mlendpoints.clients import diff

VALID = [
    "0", "1", "+1", "-1", "1.5", ".5", "5.", "100m", "1500m", "250u", "3n", "2k", "2M", "3G", "1T",
    "1P", "1E", "1Ki", "256Mi", "1.5Gi", "4Ti", "1Pi", "1Ei", "1e3", "1E3", "2e-3", "1.5e+2",
]  # fmt: skip
INVALID = ["", "abc", "1ki", "1Mb", "1 Gi", "Gi", "1.5.5", "1e2.5", "NaN", "Infinity", "1i", "--1", "0x10"]


@pytest.mark.parametrize("value", VALID)
def test_the_same_value_as_parse_quantity(value: str) -> None:
    assert quantity.parse(value) == parse_quantity(value)
    assert diff.quantity(value) == parse_quantity(value)


@pytest.mark.parametrize("value", INVALID)
def test_bad_input_is_rejected_with_one_message(value: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity") as info:
        quantity.parse(value)
    assert str(info.value) == quantity.ERROR.format(value=value)
    if " " not in value:  # parse_quantity reads "1 Gi" (harmless: live objects hold canonical forms)
        assert diff.quantity(value) is None  # compared as a plain string instead


def test_exact_values() -> None:
    assert quantity.parse("100m") == Decimal("0.1")
    assert quantity.parse("1Gi") == 2**30
    assert quantity.parse(2) == 2


def test_the_api_models_report_the_same_message() -> None:
    body = {"metadata": {"name": "it"}, "spec": {"resources": {"limits": {"memory": "1Mb"}}}}
    with pytest.raises(ValidationError) as info:
        InstanceType.model_validate(body)
    assert errors.validation_message(info.value) == (
        f"spec.resources.limits.memory: {quantity.ERROR.format(value='1Mb')}"
    )
