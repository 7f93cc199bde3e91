"""``needs_apply`` decides whether a write happens at all: it must ignore server additions only."""

from __future__ import annotations

from typing import Any

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


def _deployment(node_selector: dict[str, str] | None) -> dict[str, object]:
    pod: dict[str, object] = {
        "containers": [{"name": "scoring", "ports": [{"containerPort": 5001, "name": "http"}]}],
    }
    if node_selector is not None:
        pod["nodeSelector"] = node_selector
    return {"metadata": {"name": "ep1-blue", "labels": {"a": "b"}}, "spec": {"template": {"spec": pod}}}


OWNED_SELECTOR = {
    "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
    "f:spec": {
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"scoring"}': {
                        ".": {},
                        "f:name": {},
                        "f:ports": {'k:{"containerPort":5001,"protocol":"TCP"}': {".": {}, "f:name": {}}},
                    }
                },
                "f:nodeSelector": {"f:pool": {}},
            }
        }
    },
}


def _live(fields: dict[str, object], **entry: str) -> dict[str, object]:
    live = _deployment({"pool": "does-not-exist"})
    live["metadata"]["managedFields"] = [  # type: ignore[index]
        {"manager": "me", "operation": "Apply", "fieldsV1": fields, **entry},
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
    ]
    return live


def test_a_field_we_applied_and_no_longer_render_is_applied_away() -> None:
    live = _live(OWNED_SELECTOR)
    # The subset check alone cannot see the dropped nodeSelector (the bug behind a rollout that
    # never finished after an InstanceType was removed from a deployment).
    assert diff.is_subset(_deployment(None), live)
    assert diff.needs_apply(_deployment(None), live, manager="me")
    assert diff.needs_apply(_deployment({}), live, manager="me")
    assert diff.needs_apply(_deployment({"type": "kwok"}), live, manager="me")


def test_owned_fields_still_rendered_cause_no_write() -> None:
    live = _live(OWNED_SELECTOR)
    # The port's key holds the server-defaulted protocol the operator does not render.
    assert not diff.needs_apply(_deployment({"pool": "does-not-exist"}), live, manager="me")


def test_fields_of_other_managers_and_subresources_are_not_ours_to_drop() -> None:
    live = _live(OWNED_SELECTOR)
    assert not diff.needs_apply(_deployment(None), live, manager="someone-else")
    assert not diff.needs_apply(_deployment(None), live)
    status_entry = _live(OWNED_SELECTOR, subresource="status")
    assert not diff.needs_apply(_deployment(None), status_entry, manager="me")


def test_set_and_index_entries() -> None:
    entry = {"manager": "me", "operation": "Apply"}
    sets = {
        "metadata": {"managedFields": [entry | {"fieldsV1": {"f:metadata": {"f:finalizers": {'v:"a"': {}}}}}]}
    }
    assert not diff.owns_dropped({"metadata": {"finalizers": ["b", "a"]}}, sets, "me")
    assert diff.owns_dropped({"metadata": {"finalizers": ["b"]}}, sets, "me")
    index = {"metadata": {"managedFields": [entry | {"fieldsV1": {"f:spec": {"f:args": {"i:1": {}}}}}]}}
    assert not diff.owns_dropped({"spec": {"args": ["x", "y"]}}, index, "me")
    assert diff.owns_dropped({"spec": {"args": ["x"]}}, index, "me")
    assert diff.owns_dropped({"spec": {}}, index, "me")


def test_keys_added_to_selectors_and_node_selectors_are_drift_but_added_labels_are_not() -> None:
    desired = {"spec": {"selector": {"app": "a"}}, "metadata": {"labels": {"x": "1"}}}
    hijacked = {"spec": {"selector": {"app": "a", "hijack": "yes"}}, "metadata": {"labels": {"x": "1"}}}
    assert diff.needs_apply(desired, hijacked)
    labelled = {"spec": {"selector": {"app": "a"}}, "metadata": {"labels": {"x": "1", "team": "t"}}}
    assert not diff.needs_apply(desired, labelled)
    pod = {"spec": {"template": {"spec": {"nodeSelector": {"gpu": "a100"}}}}}
    pinned = {"spec": {"template": {"spec": {"nodeSelector": {"gpu": "a100", "zone": "z1"}}}}}
    assert diff.needs_apply(pod, pinned)


def test_env_vars_added_by_others_are_removed_by_a_guarded_json_patch() -> None:
    def template(*names: str) -> dict[str, Any]:
        env = [{"name": n, "value": "v"} for n in names]
        return {"spec": {"template": {"spec": {"containers": [{"name": "main", "env": env}]}}}}

    desired = template("A", "B")
    live = template("A", "MLENDPOINTS_DEBUG", "B", "X")
    assert diff.foreign_fields(desired, live) == [
        {"op": "test", "path": "/spec/template/spec/containers/0/env/3/name", "value": "X"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/3"},
        {"op": "test", "path": "/spec/template/spec/containers/0/env/1/name", "value": "MLENDPOINTS_DEBUG"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/1"},
    ]
    assert diff.foreign_fields(desired, template("A", "B")) == []
    assert diff.foreign_fields(desired, None) == []


def test_scheduling_fields_we_do_not_render_are_removed_and_ours_are_left_to_apply() -> None:
    ours = {"spec": {"template": {"spec": {"containers": [], "nodeSelector": {"gpu": "a100"}}}}}
    live = {"spec": {"template": {"spec": {"containers": [], "nodeSelector": {"zone": "z"}}}}}
    assert diff.foreign_fields(ours, live) == []  # ours: an apply replaces the (atomic) map
    none = {"spec": {"template": {"spec": {"containers": []}}}}
    assert diff.foreign_fields(none, live) == [
        {"op": "test", "path": "/spec/template/spec/nodeSelector", "value": {"zone": "z"}},
        {"op": "remove", "path": "/spec/template/spec/nodeSelector"},
    ]
