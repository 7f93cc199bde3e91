"""Pod IP allocation on process nodes: a freed address is not handed out again at once."""

from __future__ import annotations

import pytest

from mlendpoints_dev.nodeagent import network
from mlendpoints_dev.nodeagent.runtime import IPAllocator


def test_a_freed_address_is_reused_only_after_the_rest_of_the_range() -> None:
    ips = IPAllocator()
    first, second = ips.take(0), ips.take(0)
    assert (first, second) == (2, 3)
    ips.give(0, first)
    assert ips.take(0) == 4, "the address a deleted pod held went straight to a new pod"
    taken = [ips.take(0) for _ in range(250)]
    assert taken[-1] == 254
    assert ips.take(0) == first, "after .254 the search wraps to the freed .2"


def test_nodes_have_their_own_ranges_and_a_full_range_is_an_error() -> None:
    ips = IPAllocator()
    assert ips.take(0) == ips.take(1) == 2
    for _ in range(252):
        ips.take(0)
    with pytest.raises(network.NetworkError, match="no free pod IP"):
        ips.take(0)
    ips.give(0, 100)
    assert ips.take(0) == 100
