"""`ekswin step remove_nodes` against a running environment: one node of a two-node
group leaves as when its EC2 instance is terminated — its Node, instance, ENI, HNS host
and (through kube-controller-manager's pod garbage collector) its pods go, its
addresses return to the subnet, the other node and its pods stay as they were, and
status and the invariants see nothing broken. Then a node group with its own agent is
added and removed: its agent stops and is no longer supervised."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.testing import detached_environment, ec2_client, run_ekswin
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NAME = "remover"
SPEC = """\
version: 1
timing: fast
vpc:
  cidr: 10.30.0.0/16
  subnets: [{name: a, cidr: 10.30.0.0/24}]
configmap: {enable-windows-ipam: "true"}
nodes:
  - {name: win, instance_type: m5.large, count: 2}
"""
POD_GC_S = 120.0  # 40 s quarantine, a 20 s period, and slack for a loaded machine


def _step(tmp: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return run_ekswin(tmp, "step", "--name", NAME, *words)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("remove")
    with detached_environment(tmp, NAME, SPEC):
        yield tmp


def _pods(api: Any) -> dict[str, tuple[str, str, str, str]]:
    """name -> (uid, node, phase, podIP) of the workload pods."""
    from kubernetes import client

    return {
        p.metadata.name: (p.metadata.uid, p.spec.node_name, p.status.phase, p.status.pod_ip)
        for p in client.CoreV1Api(api).list_namespaced_pod("default").items
    }


def _held_ips(ec2: Any) -> set[str]:
    return {
        a["PrivateIpAddress"]
        for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
        for a in e["PrivateIpAddresses"]
    }


def _status(tmp: Path) -> dict[str, Any]:
    r = run_ekswin(tmp, "status", "--name", NAME, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(json.loads(r.stdout))


def test_remove_a_node_then_a_group_with_its_own_agent(running: Path) -> None:
    from kubernetes import client, config

    from fake_hns.client import HnsClient

    tmp = running
    run_dir = tmp / "state" / NAME
    for words in (
        ("create_pods", "name=keep", "count=2", "node=win-0"),
        ("create_pods", "name=gone", "count=3", "node=win-1"),
        ("expect", "pods_running=5", "timeout=90"),
    ):
        r = _step(tmp, *words)
        assert r.returncode == 0, r.stdout + r.stderr
    recorded = json.loads((run_dir / "nodes.json").read_text())
    node = {n["name"]: n for n in recorded["nodes"]}["win-1"]
    ec2 = ec2_client(recorded["ec2"])
    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[node["eni_id"]])[
        "NetworkInterfaces"
    ]
    subnet_id = eni["SubnetId"]
    gone_ips = {a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"]}
    assert len(gone_ips) >= 4  # the primary and at least the three pods' addresses
    free_before = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"
    ]
    api = config.new_client_from_config(str(run_dir / "kubeconfig"))
    core = client.CoreV1Api(api)
    before = _pods(api)
    kept = {k: v for k, v in before.items() if v[1] == "win-0"}
    assert len(kept) == 2 and all(v[2] == "Running" for v in kept.values())

    bad = _step(tmp, "remove_nodes", "name=ghost")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "remove_nodes.name: got 'ghost'; expected a node or node group" in bad.stderr

    r = _step(tmp, "remove_nodes", "name=win-1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "✓ remove_nodes" in r.stdout and "nodes win-1 removed" in r.stdout
    assert "3 pod(s) left to the pod garbage collector" in r.stdout

    # the Node, the instance, its ENI and its HNS host are gone; its addresses are free
    assert "win-1" not in {n.metadata.name for n in core.list_node().items}
    (inst,) = ec2.describe_instances(InstanceIds=[node["instance_id"]])["Reservations"][0][
        "Instances"
    ]
    assert inst["State"]["Name"] == "terminated"
    assert not ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": [node["eni_id"]]}]
    )["NetworkInterfaces"]
    assert not gone_ips & _held_ips(ec2)
    free_after = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0][
        "AvailableIpAddressCount"
    ]
    assert free_after == free_before + len(gone_ips)
    with HnsClient(recorded["hns"], host="") as hns:
        assert {h.name for h in hns.list_hosts()} == {"win-0"}
    # a later step may not name it
    again = _step(tmp, "create_pods", "name=late", "node=win-1")
    assert again.returncode == 2 and "create_pods.node: got 'win-1'" in again.stderr

    # pod GC deletes the pods of the deleted Node; win-0's pods are untouched
    wait_until(
        lambda: not [v for v in _pods(api).values() if v[1] == "win-1"],
        POD_GC_S,
        "the pod garbage collector to delete win-1's pods",
    )
    assert _pods(api) == kept
    leases = client.CoordinationV1Api(api)  # the Node's Lease goes with it (owner reference)
    wait_until(
        lambda: (
            "win-1"
            not in {x.metadata.name for x in leases.list_namespaced_lease("kube-node-lease").items}
        ),
        60,
        "the garbage collector to delete win-1's Lease",
    )
    status = _status(tmp)
    assert [n["name"] for n in status["nodes"]] == ["win-0"]
    assert status["invariants"]["ok"] is True, status["invariants"]
    assert status["down"] == []
    assert status["nodes"][0]["assigned_ips"] == 2

    # a node group of its own agent: removing all of it stops that agent for good
    r = _step(tmp, "add_nodes", "name=extra", "instance_type=m5.large", "count=2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "node-agent-1" in _status(tmp)["components"]
    r = _step(tmp, "remove_nodes", "name=extra")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nodes extra-0, extra-1 removed" in r.stdout
    status = _status(tmp)
    assert "node-agent-1" not in status["components"]
    assert status["down"] == [] and status["supervision"]["node-agent"]["units"] == ["node-agent"]
    assert [n["name"] for n in status["nodes"]] == ["win-0"]
    assert status["invariants"]["ok"] is True, status["invariants"]
    assert {n.metadata.name for n in core.list_node().items} == {"win-0"}
    r = _step(tmp, "expect", "pods_running=2", "timeout=30")
    assert r.returncode == 0, r.stdout + r.stderr
    api.close()
