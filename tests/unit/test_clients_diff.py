"""``needs_apply`` decides whether a write happens at all: it must ignore server additions only."""

from __future__ import annotations

from mlendpoints.clients import diff


def test_quantities_compare_by_value() -> None:
    assert diff.is_subset({"cpu": "1000m", "memory": "1Gi"}, {"cpu": "1", "memory": "1073741824"})
    assert not diff.is_subset({"cpu": "1500m"}, {"cpu": "1"})


def test_server_defaults_are_ignored_but_changes_are_not() -> None:
    desired = {"spec": {"ports": [{"port": 80, "name": "http"}]}, "metadata": {"labels": {"a": "b"}}}
    live = {
        "spec": {"ports": [{"port": 80, "name": "http", "protocol": "TCP"}], "clusterIP": "10.0.0.9"},
        "metadata": {"labels": {"a": "b"}, "resourceVersion": "7"},
        "status": {},
    }
    assert not diff.needs_apply(desired, live)
    assert diff.needs_apply({"spec": {"ports": [{"port": 81}]}}, live)
    assert diff.needs_apply({"spec": {"ports": [{"port": 80}, {"port": 81}]}}, live)
    assert diff.needs_apply({"metadata": {"labels": {"a": "c"}}}, live)
    assert diff.needs_apply(desired, None)


def test_numbers_and_strings() -> None:
    assert diff.is_subset({"x": 1}, {"x": "1"})
    assert not diff.is_subset({"x": True}, {"x": "true"})
    assert diff.quantity("2Ki") == 2048
    assert diff.quantity("abc") is None


def test_secret_string_data_is_compared_as_the_server_stores_it() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "k"},
        "stringData": {"primaryKey": "abc"},
    }
    canon = diff.canonical(desired)
    assert canon["data"] == {"primaryKey": "YWJj"}
    assert "stringData" not in canon
    live = {**canon, "metadata": {"name": "k", "uid": "u"}, "type": "Opaque"}
    assert not diff.needs_apply(canon, live)
    assert diff.needs_apply(diff.canonical({**desired, "stringData": {"primaryKey": "xyz"}}), live)
