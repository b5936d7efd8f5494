"""The controller under EC2 throttling and targeted EC2 errors (fake_ec2 fault injection)."""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

import pytest

from fake_ec2.admin import AdminClient
from harness.waiting import wait_until

from .conftest import (  # type: ignore[import-not-found]
    annotation,
    capacity,
    events_for,
    make_pod,
    windows_node,
)

pytestmark = pytest.mark.cluster
ASSIGN = "AssignPrivateIpAddresses"
# The SDK v2 standard retryer: 3 attempts per call (controller.awssdk).
MAX_ATTEMPTS = 3


def _secondary_ips(c: Any, eni: str) -> set[str]:
    d = c.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    return {a["PrivateIpAddress"] for a in d["PrivateIpAddresses"] if not a["Primary"]}


def test_throttling_is_retried_with_backoff(
    ekswin_cluster: Any, fake_ec2: str, controller_kubeconfig: Any, start_controller: Any
) -> None:
    cm = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "false"}
    win = windows_node(ekswin_cluster, fake_ec2, cm)
    core, c, eni, cidr, node = win.core, win.ec2, win.eni, win.cidr, win.name
    admin = AdminClient(fake_ec2)
    since = admin.requests()[-1]["seq"]
    # The first three assigns and the first two DescribeInstances are throttled for sure,
    # then every other assign at random (seeded).
    admin.set_faults(
        {
            "seed": 11,
            "actions": {
                ASSIGN: {
                    "throttle_rate": 0.5,
                    "error": {"code": "RequestLimitExceeded", "times": 3},
                },
                "DescribeInstances": {"error": {"code": "RequestLimitExceeded", "times": 2}},
            },
        }
    )
    start_controller(controller_kubeconfig, fake_ec2)
    wait_until(lambda: capacity(core, node) == "9", what="capacity 9")
    pods = [make_pod(core, node) for _ in range(8)]
    anns = [wait_until(lambda p=p: annotation(core, p), what=f"annotation of {p}") for p in pods]

    # Every pod has its own address, held by the node's ENI, with the subnet's mask.
    assert len(set(anns)) == len(pods)
    held = _secondary_ips(c, eni)
    for a in anns:
        ip, plen = a.split("/")
        assert ip in held, f"{a} not on {eni} ({sorted(held)})"
        assert plen == cidr.split("/")[1]

    log = admin.requests(since=since)
    describes = [r for r in log if r["action"] == "DescribeInstances"]
    assert [r["code"] for r in describes[:3]] == [
        "RequestLimitExceeded",
        "RequestLimitExceeded",
        "OK",
    ]
    assigns = [r for r in log if r["action"] == ASSIGN]
    throttled = [r for r in assigns if r["code"] == "RequestLimitExceeded"]
    assert all(r["status"] == 503 for r in throttled)
    assert len(throttled) >= 3 and assigns[0]["code"] == "RequestLimitExceeded"
    assert any(r["code"] == "OK" for r in assigns)
    # One node: its assigns are serial. A throttled assign is retried with the same
    # request; the SDK gives up after 3 attempts (the pool re-syncs and asks again), so
    # no run of identical throttled requests is longer than 3.
    retried = [
        (p, n)
        for p, n in itertools.pairwise(assigns)
        if p["code"] == "RequestLimitExceeded" and n["params"] == p["params"]
    ]
    assert retried
    run = 1  # attempts of one request so far
    for prev, nxt in itertools.pairwise(log):
        throttled = prev["action"] == ASSIGN and prev["code"] == "RequestLimitExceeded"
        same = nxt["action"] == ASSIGN and nxt["params"] == prev["params"]
        run = run + 1 if throttled and same else 1
        assert run <= MAX_ATTEMPTS, (prev, nxt)
    # What EC2 holds is exactly what the successful calls handed out: no retry double-assigned.
    assert len(held) == sum(
        int(r["params"]["SecondaryPrivateIpAddressCount"]) for r in assigns if r["code"] == "OK"
    )
    win.remove(pods)


def test_insufficient_cidr_blocks_reported_then_recovers(
    ekswin_cluster: Any, fake_ec2: str, controller_kubeconfig: Any, start_controller: Any
) -> None:
    cm = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
    win = windows_node(ekswin_cluster, fake_ec2, cm)
    core, c, eni, node = win.core, win.ec2, win.eni, win.name
    admin = AdminClient(fake_ec2)
    since = admin.requests()[-1]["seq"]
    admin.set_faults(
        {"actions": {ASSIGN: {"error": {"code": "InsufficientCidrBlocks", "times": 3}}}}
    )
    # What the controller's code intends (the released binary misses the SDK v2 text:
    # docs/fidelity.md). 2 min retry scaled to 2.4 s; the cool-down job (1 s) reconciles.
    start_controller(
        controller_kubeconfig, fake_ec2, "--retry-scale", "0.02", "--cidr-exhaustion=intended"
    )
    wait_until(lambda: capacity(core, node) == "144", what="capacity 144")
    pod = make_pod(core, node)

    node_ev = wait_until(
        lambda: [e for e in events_for(core, "Node", node) if e.reason == "InsufficientCidrBlocks"],
        what="node event InsufficientCidrBlocks",
    )
    assert node_ev[0].type == "Warning"
    assert "does not have enough free cidr blocks" in node_ev[0].message
    ann = wait_until(lambda: annotation(core, pod), what=f"annotation of {pod}")
    pod_ev = wait_until(
        lambda: [e for e in events_for(core, "Pod", pod) if e.reason == "ResourceAllocationFailed"],
        what="pod event ResourceAllocationFailed",
    )
    assert pod_ev[0].type == "Warning"
    assert "does not have enough free cidr blocks" in pod_ev[0].message
    assert "will retry in 2.4s" in pod_ev[0].message

    ip, plen = ann.split("/")
    assert plen == "32"
    d = c.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    prefixes = [ipaddress.ip_network(p["Ipv4Prefix"]) for p in d.get("Ipv4Prefixes", [])]
    assert any(ipaddress.ip_address(ip) in n for n in prefixes), (ann, prefixes)
    codes = [r["code"] for r in admin.requests(since=since, action=ASSIGN)]
    assert codes[:3] == ["InsufficientCidrBlocks"] * 3
    assert "OK" in codes[3:]
    win.remove([pod])
