"""Scale rules without servers: what nodes take from a subnet, the capacity check of a
spec, the default subnet for a node count, shards and the start-up deadline."""

from __future__ import annotations

import pytest

from harness.nodes.progress import count_nodes
from harness.spec import PROFILES, SpecError, parse_spec, scale, spec_from_flags
from harness.spec.scale import NodeNeed

PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
SECONDARY = {"enable-windows-ipam": "true"}


def test_node_need_counts_the_primary_and_the_initial_warm_pool() -> None:
    # m5.large: 10 IPv4 per ENI. PD defaults: one /28; secondary defaults: 3 warm IPs.
    assert scale.node_need(PD, nitro=True, ipv4_per_interface=10) == NodeNeed(1, 1)
    assert scale.node_need(SECONDARY, nitro=True, ipv4_per_interface=10) == NodeNeed(4, 0)
    assert scale.node_need(None, nitro=True, ipv4_per_interface=10) == NodeNeed(1, 0)
    # A non-Nitro node in a PD cluster falls back to secondary IPs.
    assert scale.node_need(PD, nitro=False, ipv4_per_interface=10) == NodeNeed(4, 0)
    more = {**PD, "warm-prefix-target": "2"}
    assert scale.node_need(more, nitro=True, ipv4_per_interface=10).prefixes == 2


def test_room_takes_out_aws_reserved_addresses_and_their_blocks() -> None:
    assert scale.room("10.0.0.0/24") == scale.Room(251, 14)
    assert scale.room("10.0.0.0/28") == scale.Room(11, 0)
    assert scale.room("192.168.0.0/19") == scale.Room(8187, 510)


def test_holds_packed_primaries_share_blocks_worst_case_breaks_one_each() -> None:
    # 480 PD nodes in a /19: 480 primaries pack into 31 blocks (30 beyond block 0).
    assert scale.holds("192.168.0.0/19", NodeNeed(480, 480))
    assert not scale.holds("192.168.0.0/19", NodeNeed(481, 481))
    assert not scale.holds("192.168.0.0/19", NodeNeed(480, 480), worst_case=True)
    assert scale.holds("192.168.0.0/19", NodeNeed(255, 255), worst_case=True)
    # Secondary mode: addresses only.
    assert scale.holds("10.20.0.0/27", NodeNeed(27))
    assert not scale.holds("10.20.0.0/27", NodeNeed(28))
    # No block is whole in a /28: no prefix at all.
    assert not scale.holds("10.0.0.0/28", NodeNeed(1, 1))


def test_default_subnet_grows_with_the_nodes_and_the_mode() -> None:
    vpc = "192.168.0.0/16"
    assert scale.default_subnet_cidr(vpc, NodeNeed(0)) == "192.168.0.0/19"
    assert scale.default_subnet_cidr(vpc, NodeNeed(100, 100)) == "192.168.0.0/19"
    # 1,000 PD nodes need 2,000 blocks in the worst case: a /17 (2,046 whole blocks).
    assert scale.default_subnet_cidr(vpc, NodeNeed(1000, 1000)) == "192.168.0.0/17"
    # 1,000 secondary nodes: 4,000 addresses fit the /19.
    assert scale.default_subnet_cidr(vpc, NodeNeed(4000)) == "192.168.0.0/19"
    # Past the worst case of the whole VPC, but packed it still fits: the VPC itself.
    assert scale.default_subnet_cidr(vpc, NodeNeed(3000, 3000)) == "192.168.0.0/16"
    assert scale.default_subnet_cidr(vpc, NodeNeed(5000, 5000)) is None


def test_flags_size_the_default_subnet_for_the_nodes() -> None:
    assert spec_from_flags(windows_nodes=3).vpc.subnets[0].cidr == "192.168.0.0/19"
    big = spec_from_flags(windows_nodes=1000, prefix_delegation=True)
    assert big.vpc.subnets[0].cidr == "192.168.0.0/17"
    assert spec_from_flags(windows_nodes=1000).vpc.subnets[0].cidr == "192.168.0.0/19"


def test_flags_with_a_subnet_too_small_name_the_flag_and_the_shortfall() -> None:
    with pytest.raises(SpecError) as e:
        spec_from_flags(windows_nodes=1000, prefix_delegation=True, subnet="192.168.0.0/19")
    text = str(e.value)
    assert "--windows-nodes" in text
    assert "cannot hold 1000 node(s) in prefix mode" in text
    assert "1000 /28 prefix(es)" in text and "510 whole /28 block(s)" in text


def _doc(subnets: list[dict[str, object]], nodes: list[dict[str, object]]) -> dict[str, object]:
    return {
        "version": 1,
        "vpc": {"cidr": "10.0.0.0/16", "subnets": subnets},
        "configmap": dict(PD),
        "nodes": nodes,
    }


def test_spec_capacity_error_names_the_group_and_subnet_and_line() -> None:
    doc = _doc(
        [{"name": "a", "cidr": "10.0.0.0/24"}, {"name": "b", "cidr": "10.0.1.0/24"}],
        [
            {"name": "x", "subnet": "a", "count": 10},
            {"name": "y", "subnet": "a", "count": 5},  # 15 nodes: 15 blocks > 13
            {"name": "z", "subnet": "b", "count": 12},
        ],
    )
    with pytest.raises(SpecError) as e:
        parse_spec(doc, "env.yaml", {("nodes", 1, "count"): 9})
    (problem,) = e.value.problems
    assert problem.path == ("nodes", 1, "count")
    assert problem.line == 9
    assert "subnet 'a' (10.0.0.0/24) cannot hold 15 node(s)" in problem.message


def test_spec_capacity_ignores_fragmentation_and_fits_the_shipped_scenarios() -> None:
    # Fragmentation is what a scenario studies: a node that then gets no prefix is the
    # point of the scenario, not a spec error.
    doc = _doc([{"name": "a", "cidr": "10.0.0.0/24", "fragment": {"every": 16}}], [{"name": "n"}])
    parse_spec(doc)
    from pathlib import Path

    from harness.scenario import load_scenario

    for path in sorted(Path(__file__).parents[2].glob("e2e/scenarios/*.yaml")):
        load_scenario(path)


def test_default_agents_one_per_200_nodes_at_most_one_per_core() -> None:
    assert scale.default_agents(0, 2) == 0
    assert scale.default_agents(1, 2) == 1
    assert scale.default_agents(200, 2) == 1
    assert scale.default_agents(201, 2) == 2
    assert scale.default_agents(1000, 2) == 2
    assert scale.default_agents(1000, 8) == 5
    spec = spec_from_flags(windows_nodes=3)
    assert spec.node_agent.shards(3, cores=2) == 1
    from dataclasses import replace

    forced = replace(spec.node_agent, agents=2)
    assert forced.shards(3) == 2
    assert forced.shards(1) == 1  # never more shards than nodes


def test_shard_slices_cover_every_node_once_near_equal() -> None:
    for count, shards in [(1, 1), (10, 3), (1000, 2), (3, 5)]:
        parts = scale.shard_slices(count, shards)
        assert [i for p in parts for i in p] == list(range(count))
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_ready_deadline_grows_with_nodes_and_the_real_rate_limits() -> None:
    fast, real = PROFILES["fast"], PROFILES["real"]
    assert scale.nodes_ready_deadline_s(10, fast) < scale.nodes_ready_deadline_s(1000, fast)
    # fast lifts the client limits: the per-node part alone.
    assert scale.nodes_ready_deadline_s(1000, fast) == 60 + 0.5 * 1000
    # real: 1,000 nodes x 4 EC2 calls at 12/s and 2 writes at 20/s, with a margin.
    forced = 1.5 * (1000 * 4 / 12 + 1000 * 2 / 20)
    assert scale.nodes_ready_deadline_s(1000, real) == pytest.approx(560 + forced)
    # Without IPAM the controller does nothing per node.
    assert scale.nodes_ready_deadline_s(1000, real, ipam=False) == 560
    # The old fixed deadline was 120 s; 1,000 nodes may now take far longer.
    assert scale.nodes_ready_deadline_s(1000, fast) > 120


def _node(name: str, ready: bool, ips: bool) -> dict[str, object]:
    alloc = {"cpu": "2", **({"vpc.amazonaws.com/PrivateIPv4Address": "144"} if ips else {})}
    return {
        "metadata": {"name": name},
        "status": {
            "allocatable": alloc,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_count_nodes_registered_initialised_ready() -> None:
    nodes = [
        _node("a", ready=True, ips=True),
        _node("b", ready=True, ips=False),
        _node("c", ready=False, ips=True),
        _node("other", ready=True, ips=True),  # not one of ours
    ]
    counts = count_nodes(nodes, {"a", "b", "c", "d"}, needs_ip=True)
    assert (counts.registered, counts.initialised, counts.ready) == (3, 2, 2)
    assert counts.schedulable == 1
    assert counts.line(True) == "nodes: 3/4 registered, 2 initialised, 2 Ready"
    assert count_nodes(nodes, {"a", "b"}, needs_ip=False).schedulable == 2
