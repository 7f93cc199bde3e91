"""api/errors.py: the one formatter of validation errors (status, render, convert)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlendpoints.api import errors
from mlendpoints.api.v1alpha1 import InstanceType, OnlineEndpoint


def _error(model: type, body: dict[str, object]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return info.value


def test_list_indexes_and_nested_fields_form_one_path() -> None:
    exc = _error(InstanceType, {"metadata": {"name": "it"}, "spec": {"tolerations": [{"operator": "Maybe"}]}})
    assert errors.validation_message(exc).startswith("spec.tolerations[0].operator: ")


def test_a_model_validator_naming_a_field_is_reported_at_that_field() -> None:
    exc = _error(OnlineEndpoint, {"metadata": {"name": "ep1"}, "spec": {"traffic": {"a": 60, "b": 30}}})
    message = errors.validation_message(exc)
    assert message.startswith("spec.traffic: "), message
    assert "Value error" not in message


def test_errors_past_the_limit_are_counted() -> None:
    traffic = {f"d{i}": 150 for i in range(errors.MAX_ERRORS + 3)}
    exc = _error(OnlineEndpoint, {"metadata": {"name": "ep1"}, "spec": {"traffic": traffic}})
    parts = errors.validation_message(exc).split("; ")
    assert len(parts) == errors.MAX_ERRORS + 1
    assert parts[-1] == f"({len(exc.errors()) - errors.MAX_ERRORS} more)"
