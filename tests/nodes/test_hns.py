"""harness.hns.NodeHns against a real fake_hns: failures as HnsFailure, concurrent ADDs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fake_hns.errors import HCN_E_ENDPOINT_NOT_FOUND


def test_concurrent_first_adds_share_one_network(node_hns: Callable[[str], Any]) -> None:
    # Many ADDs on a fresh node race to create the L2Bridge network: the losers get
    # "already exists" from HNS and must use the winner's network, not fail the pod.
    hns = node_hns("hns-race")
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda _: hns.find_or_create_network(
                    "vpcbr0a0000000001", "10.9.0.0/24", "10.9.0.1"
                ),
                range(16),
            )
        )
    assert len(set(ids)) == 1
    net = hns.get_network("vpcbr0a0000000001")
    assert net is not None and (net.id, net.type, net.subnet, net.gateway) == (
        ids[0],
        "L2Bridge",
        "10.9.0.0/24",
        "10.9.0.1",
    )


def test_failures_carry_the_hresult_and_the_hcsshim_line(node_hns: Callable[[str], Any]) -> None:
    from harness.hns import HnsFailure, NodeHns

    hns = node_hns("hns-errors")
    ns = hns.create_namespace()
    with pytest.raises(HnsFailure) as info:
        hns.attach(ns, "00000000-0000-0000-0000-000000000000")
    assert info.value.hresult == HCN_E_ENDPOINT_NOT_FOUND and info.value.not_found
    assert str(info.value).endswith("(0x803b0002)") and "failed in Win32" in str(info.value)
    # A node fake_hns does not host: the RPC, the gRPC status and the server's words.
    with NodeHns(hns.target, "no-such-node") as other, pytest.raises(HnsFailure) as info:
        other.list_endpoints()
    assert str(info.value).startswith("ListEndpoints: NOT_FOUND: ")
    assert info.value.hresult == 0 and not info.value.not_found
