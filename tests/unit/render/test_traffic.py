"""Ready gating of the traffic split (mlendpoints.render.traffic)."""

from __future__ import annotations

import random

import pytest

from mlendpoints.render import traffic
from mlendpoints.render.traffic import apportion, effective_traffic, limit_backends


def test_all_ready_keeps_desired() -> None:
    assert effective_traffic({"blue": 90, "green": 10}, {"blue", "green"}) == {"blue": 90, "green": 10}


def test_not_ready_green_moves_its_weight_to_blue() -> None:
    assert effective_traffic({"blue": 90, "green": 10}, {"blue"}) == {"blue": 100, "green": 0}


def test_weight_moves_proportionally_to_desired_weights() -> None:
    got = effective_traffic({"a": 50, "b": 30, "c": 20}, {"b", "c"})
    assert got == {"a": 0, "b": 60, "c": 40}


def test_largest_remainder_rounding_keeps_the_sum() -> None:
    # 100 over three equal weights: 34/33/33, the extra point to the first name.
    assert effective_traffic({"c": 25, "a": 25, "b": 25, "d": 25}, {"a", "b", "c"}) == {
        "c": 33,
        "a": 34,
        "b": 33,
        "d": 0,
    }


def test_rounding_tie_goes_to_larger_desired_weight() -> None:
    # a: 100*2/3 = 66.67, b: 100*1/3 = 33.33 -> remainder favours a.
    assert effective_traffic({"a": 40, "b": 20, "x": 40}, {"a", "b"}) == {"a": 67, "b": 33, "x": 0}


def test_zero_sum_stays_zero() -> None:
    assert effective_traffic({"blue": 0, "green": 0}, {"blue", "green"}) == {"blue": 0, "green": 0}
    assert effective_traffic({}, {"blue"}) == {}


def test_zero_percent_deployment_gets_traffic_only_when_nothing_weighted_is_ready() -> None:
    # Blue/green cut-over: green (100 %) not Ready yet, blue (0 %) still serving.
    assert effective_traffic({"blue": 0, "green": 100}, {"blue"}) == {"blue": 100, "green": 0}
    # Green Ready: blue is back to 0 %.
    assert effective_traffic({"blue": 0, "green": 100}, {"blue", "green"}) == {"blue": 0, "green": 100}


def test_fallback_splits_equally_over_ready_zero_percent_deployments() -> None:
    got = effective_traffic({"a": 0, "b": 0, "c": 0, "new": 100}, {"a", "b", "c"})
    assert got == {"a": 34, "b": 33, "c": 33, "new": 0}


def test_fallback_never_uses_a_mirror_target() -> None:
    got = effective_traffic({"main": 100, "shadow": 0}, {"shadow"}, shadows={"shadow"})
    assert got == {"main": 0, "shadow": 0}


def test_deployment_not_in_the_map_never_gets_traffic() -> None:
    assert effective_traffic({"blue": 100}, {"other"}) == {"blue": 0}


def test_nothing_ready_routes_nothing() -> None:
    assert effective_traffic({"blue": 60, "green": 40}, set()) == {"blue": 0, "green": 0}


def _random_case(rng: random.Random) -> tuple[dict[str, int], set[str], set[str]]:
    names = [f"d{i}" for i in range(rng.randint(1, 8))]
    cuts = sorted(rng.randint(0, 100) for _ in range(len(names) - 1))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    if rng.random() < 0.1:
        weights = [0] * len(names)
    desired = dict(zip(names, weights, strict=True))
    ready = {n for n in names if rng.random() < 0.5}
    shadows = {n for n in names if desired[n] == 0 and rng.random() < 0.3}
    return desired, ready, shadows


@pytest.mark.parametrize("seed", range(5))
def test_properties_on_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        desired, ready, shadows = _random_case(rng)
        got = effective_traffic(desired, ready, shadows=shadows)
        assert list(got) == list(desired)  # same keys, same order
        assert all(got[k] == 0 for k in desired if k not in ready), (
            desired,
            ready,
            got,
        )  # never to not-Ready
        assert all(got[k] == 0 for k in shadows)  # never live traffic to a shadow
        assert all(v >= 0 for v in got.values())
        weighted_ready = [k for k in desired if desired[k] > 0 and k in ready]
        fallback = [k for k in desired if desired[k] == 0 and k in ready and k not in shadows]
        if sum(desired.values()) and (weighted_ready or fallback):
            assert sum(got.values()) == 100, (desired, ready, got)  # sum preserved
        else:
            assert sum(got.values()) == 0
        if weighted_ready:  # 0 % deployments stay at 0 while a weighted one can answer
            assert all(got[k] == 0 for k in desired if desired[k] == 0)
        # Deterministic: same inputs in another order give the same result.
        shuffled = dict(sorted(desired.items(), reverse=True))
        again = effective_traffic(shuffled, sorted(ready), shadows=shadows)
        assert again == got


def test_apportion_is_proportional_within_one_point() -> None:
    rng = random.Random(7)
    for _ in range(200):
        weights = {f"k{i}": rng.randint(0, 50) for i in range(rng.randint(1, 6))}
        got = apportion(100, weights)
        base = sum(weights.values())
        if base == 0:
            assert set(got.values()) == {0}
            continue
        assert sum(got.values()) == 100
        for k, w in weights.items():
            assert abs(got[k] - 100 * w / base) < 1


def test_limit_backends_keeps_the_largest_and_redistributes() -> None:
    assert limit_backends({"a": 50, "b": 30, "c": 20}, 2) == {"a": 63, "b": 37, "c": 0}
    assert limit_backends({"a": 50, "b": 50}, 1) == {"a": 100, "b": 0}
    assert limit_backends({"a": 90, "b": 10}, 2) == {"a": 90, "b": 10}
    assert limit_backends({"a": 0, "b": 0}, 1) == {"a": 0, "b": 0}


def test_effective_mirror_needs_a_ready_target_and_live_traffic() -> None:
    assert traffic.effective_mirror({"shadow": 10}, {"shadow"}, live=100) == {"shadow": 10}
    assert traffic.effective_mirror({"shadow": 10}, set(), live=100) == {"shadow": 0}
    assert traffic.effective_mirror({"shadow": 10}, {"shadow"}, live=0) == {"shadow": 0}


def test_primary_is_largest_weight_then_name() -> None:
    assert traffic.primary({"green": 50, "blue": 50}) == "blue"
    assert traffic.primary({"blue": 10, "green": 90}) == "green"
    assert traffic.primary({"blue": 0}) is None


def test_waiting_lists_not_ready_deployments_with_live_or_mirror_traffic() -> None:
    assert traffic.waiting({"blue": 90, "green": 10, "old": 0}, {"shadow": 5}, {"blue"}) == [
        "green",
        "shadow",
    ]
