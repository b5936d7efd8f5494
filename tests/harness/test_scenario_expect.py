"""`expect` keys over events and EC2 call counts (plain data, no cluster)."""

from __future__ import annotations

from typing import Any

from harness.invariants import ClusterState
from harness.scenario.expect import evaluate
from harness.scenario.live import Event
from harness.scenario.snapshot import Snapshot

EVENTS = [
    Event(1.0, "ec2", "InsufficientCidrBlocks", "The specified subnet does not have enough"),
    Event(2.0, "vpc-resource-controller", "ResourceAllocationFailed", "will retry in 30ms"),
    Event(3.0, "vpc-resource-controller", "InsufficientCidrBlocks", "node", node="win"),
]


def _snap() -> Snapshot:
    return Snapshot(0.0, ClusterState(), {}, [], None)


def _ok(args: dict[str, Any], calls: dict[str, int] | None = None) -> list[bool]:
    return [o.ok for o in evaluate(args, _snap(), EVENTS, [], ec2_calls=calls)]


def test_event_source_and_node_filters() -> None:
    assert _ok({"event": "InsufficientCidrBlocks", "source": "ec2"}) == [True]
    assert _ok({"event": "InsufficientCidrBlocks", "source": "kubelet"}) == [False]
    assert _ok({"event": "InsufficientCidrBlocks", "node": "win"}) == [True]
    assert _ok({"event": "InsufficientCidrBlocks", "node": "other"}) == [False]


def test_no_event_fails_when_a_matching_event_exists() -> None:
    assert _ok({"no_event": "InsufficientCidrBlocks"}) == [False]
    assert _ok({"no_event": "InsufficientCidrBlocks", "source": "kubelet"}) == [True]
    assert _ok({"no_event": "ResourceAllocationFailed", "message": "retry in 2m0s"}) == [True]
    assert _ok({"no_event": "ResourceAllocationFailed", "message": "30ms"}) == [False]
    out = evaluate({"no_event": "InsufficientCidrBlocks"}, _snap(), EVENTS, [])
    assert "expected 'no InsufficientCidrBlocks'" in out[0].text()


def test_ec2_calls_bounds_per_action() -> None:
    calls = {"AssignPrivateIpAddresses": 60, "DescribeInstances": 3}
    args = {"ec2_calls": {"AssignPrivateIpAddresses": {"min": 50}, "DescribeInstances": {"max": 5}}}
    assert _ok(args, calls) == [True, True]
    assert _ok({"ec2_calls": {"AssignPrivateIpAddresses": {"max": 15}}}, calls) == [False]
    # An action never called counts 0.
    assert _ok({"ec2_calls": {"CreateNetworkInterface": {"max": 0}}}, calls) == [True]
    assert _ok({"ec2_calls": {"CreateNetworkInterface": {"min": 1}}}, calls) == [False]
