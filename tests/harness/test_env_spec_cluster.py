"""`ekswin up -f`: an environment starts exactly what its spec says (whole stack)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from harness.spec import parse_spec

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SPEC: dict[str, Any] = {
    "version": 1,
    "name": "spec-test",
    "seed": 11,
    "timing": {"profile": "fast", "cooldown_s": 4},
    "vpc": {
        "cidr": "10.0.0.0/16",
        "subnets": [
            {
                "name": "a",
                "cidr": "10.0.0.0/24",
                "reservations": [{"cidr": "10.0.0.64/26", "type": "prefix"}],
            },
            {
                "name": "b",
                "cidr": "10.0.1.0/24",
                "az": "us-west-2b",
                "fragment": {"every": 16, "offset": 5},
            },
        ],
    },
    "configmap": {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"},
    "nodes": [
        {"name": "win", "instance_type": "t3.2xlarge", "subnet": "a"},
        {"name": "frag", "subnet": "b", "count": 2, "windows_build": "10.0.20348"},
    ],
    "kube_proxy": {"dsr": True},
    "hns": {"dynamic_port_range": [50000, 51023]},
    "controller": {"replicas": 2, "log_level": "DEBUG"},
}


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any) -> Any:
    return ekswin_env_factory("spec", spec=SPEC)


def test_nodes_are_the_spec_nodes_in_their_subnets_and_zones(env: Any) -> None:
    from kubernetes import client

    nodes = {
        n.metadata.name: n
        for n in client.CoreV1Api(env.cluster.api)
        .list_node(label_selector="kubernetes.io/os=windows")
        .items
    }
    assert sorted(nodes) == ["frag-0", "frag-1", "win"]
    labels = {k: v.metadata.labels for k, v in nodes.items()}
    assert labels["win"]["node.kubernetes.io/instance-type"] == "t3.2xlarge"
    assert labels["frag-0"]["node.kubernetes.io/instance-type"] == "m5.large"
    assert labels["frag-1"]["topology.kubernetes.io/zone"] == "us-west-2b"
    assert labels["frag-1"]["node.kubernetes.io/windows-build"] == "10.0.20348"
    ips = {k: v.status.addresses for k, v in nodes.items()}
    internal = {
        k: next(a.address for a in addrs if a.type == "InternalIP") for k, addrs in ips.items()
    }
    assert ipaddress.ip_address(internal["win"]) in ipaddress.ip_network("10.0.0.0/24")
    assert ipaddress.ip_address(internal["frag-0"]) in ipaddress.ip_network("10.0.1.0/24")


def test_ec2_has_the_subnets_reservation_and_fragmentation(env: Any) -> None:
    from harness.nodes.ec2 import ec2_client
    from harness.waiting import wait_until

    ec2 = ec2_client(env.pipeline.ec2_url, "us-west-2")
    subnets = {s["CidrBlock"]: s for s in ec2.describe_subnets()["Subnets"]}
    assert {"10.0.0.0/24", "10.0.1.0/24"} <= set(subnets)
    assert subnets["10.0.1.0/24"]["AvailabilityZone"] == "us-west-2b"
    res = ec2.get_subnet_cidr_reservations(SubnetId=subnets["10.0.0.0/24"]["SubnetId"])
    assert [r["Cidr"] for r in res["SubnetIpv4CidrReservations"]] == ["10.0.0.64/26"]
    by_name = {n["name"]: n for n in env.pipeline.nodes}

    def prefixes(node: str) -> list[str]:
        eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[by_name[node]["eni_id"]])
        return [p["Ipv4Prefix"] for p in eni["NetworkInterfaces"][0].get("Ipv4Prefixes", [])]

    wait_until(lambda: len(prefixes("win")) == 1, 60, "win's warm /28")
    # PD prefixes come from the prefix-type reservation first (EC2's rule).
    assert ipaddress.ip_network(prefixes("win")[0]).subnet_of(ipaddress.ip_network("10.0.0.64/26"))
    # Subnet b is fragmented: no aligned /28 is free, so its nodes get none.
    assert prefixes("frag-0") == [] and prefixes("frag-1") == []


def test_hns_kube_proxy_and_controller_follow_the_spec(env: Any) -> None:
    from fake_hns.client import HnsClient

    with HnsClient(env.pipeline.hns_target, host="win") as hns:
        host = hns.get_host()
    rng = host.port_pool.dynamic_port_range
    assert (rng.start, rng.end) == (50000, 51023)
    agent = json.loads((Path(env.run_dir) / "components" / "nodes" / "agent.json").read_text())
    assert agent["kube_proxy"]["enable_dsr"] is True
    assert agent["cni"]["annotation_timeout_s"] == env.spec.timing.cni_annotation_wait_s
    names = [c.name for c in env.pipeline.controllers]
    assert names == ["controller", "controller-1"] and all(
        c.alive() for c in env.pipeline.controllers
    )
    argv = " ".join(env.pipeline.controllers[0].argv)
    assert "--cooldown-seconds=4" in argv and "--log-level=DEBUG" in argv


def test_env_json_records_the_resolved_spec(env: Any) -> None:
    state = json.loads((Path(env.run_dir) / "env.json").read_text())
    assert parse_spec(state["spec"], "env.json") == env.spec
    assert state["spec"]["timing"] == {"profile": "fast", "cooldown_s": 4}
