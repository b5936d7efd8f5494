"""The observer against real fake_ec2 and fake_hns processes (the Kubernetes side is
exercised by the whole-stack tests in tests/nodes/test_e2e_nodes.py)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fake_ec2.admin import AdminClient
from fake_hns.client import HnsClient, pb
from harness.invariants import (
    CidrReservation,
    ClusterState,
    NodeState,
    PodState,
    check,
)
from harness.nodes.ec2 import ec2_client
from harness.observe import (
    ObserveError,
    endpoints_from_dump,
    observe,
    observe_ec2,
    observe_hns,
    observe_run_dir,
)
from harness.servers import ServerGroup
from harness.waiting import wait_until

REGION = "us-west-2"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def ec2_url(listening_servers: ServerGroup) -> str:
    url = listening_servers.start("fake_ec2", ["--port", "0"], env={**os.environ, **CREDS}).url
    wait_until(AdminClient(url).healthy, 20, "fake_ec2 health")
    return url


@pytest.fixture
def hns_target(listening_servers: ServerGroup) -> str:
    return listening_servers.start("fake_hns", ["--port", "0"]).url


def _instance(ec2: Any, subnet: str, itype: str) -> tuple[str, str]:
    inst = ec2.run_instances(
        ImageId="ami-0e0f1d2c3b4a59687",
        InstanceType=itype,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
    )["Instances"][0]
    return inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_ec2_view_types_limits_enis_and_reservations(ec2_url: str) -> None:
    ec2 = ec2_client(ec2_url, REGION)
    vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="192.168.0.0/24", AvailabilityZone="us-west-2a")
    sid = subnet["Subnet"]["SubnetId"]
    ec2.create_subnet_cidr_reservation(
        SubnetId=sid, Cidr="192.168.0.128/26", ReservationType="explicit"
    )
    nitro_id, nitro_eni = _instance(ec2, sid, "t3.2xlarge")
    xen_id, xen_eni = _instance(ec2, sid, "m4.large")
    _other_id, other_eni = _instance(ec2, sid, "m5.large")  # not asked for
    prefix = ec2.assign_private_ip_addresses(NetworkInterfaceId=nitro_eni, Ipv4PrefixCount=1)
    secondaries = ec2.assign_private_ip_addresses(
        NetworkInterfaceId=xen_eni, SecondaryPrivateIpAddressCount=2
    )

    view = observe_ec2(ec2_url, REGION, [nitro_id, xen_id])

    assert set(view.instances) == {nitro_id, xen_id}
    t3, m4 = view.instances[nitro_id], view.instances[xen_id]
    assert (t3.instance_type, t3.ipv4_per_interface, t3.nitro) == ("t3.2xlarge", 15, True)
    assert (m4.instance_type, m4.ipv4_per_interface, m4.nitro) == ("m4.large", 10, False)
    assert t3.eni is not None and m4.eni is not None
    assert t3.eni.eni_id == nitro_eni and t3.eni.subnet_id == sid
    assert t3.eni.prefixes == tuple(p["Ipv4Prefix"] for p in prefix["AssignedIpv4Prefixes"])
    assert t3.eni.secondary_ips == ()
    assert sorted(m4.eni.secondary_ips) == sorted(
        a["PrivateIpAddress"] for a in secondaries["AssignedPrivateIpAddresses"]
    )
    assert m4.eni.primary_ip not in m4.eni.secondary_ips
    # The admin state: every ENI (the one not asked for too) and the reservation.
    assert {e.eni_id for e in view.enis} >= {nitro_eni, xen_eni, other_eni}
    (sub,) = [s for s in view.subnets if s.subnet_id == sid]
    assert sub.cidr == "192.168.0.0/24"
    assert sub.reservations == (CidrReservation("192.168.0.128/26", "explicit"),)

    # Plain pods over the observed EC2 state: the rules that read EC2 hold, and a pod
    # annotated with an address EC2 did not assign to its node is caught.
    nodes = (
        NodeState("win-0", nitro_id, t3.instance_type, 15, True, t3.eni, capacity=224),
        NodeState("win-1", xen_id, m4.instance_type, 10, False, m4.eni, capacity=9),
    )
    pd = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
    state = ClusterState(nodes=nodes, subnets=view.subnets, enis=view.enis, configmap=pd)
    assert check(state, cooldown_passed=False) == []
    stray = PodState("default", "p", "win-1", "Pending", None, f"{t3.eni.primary_ip}/24")
    found = check(dataclasses.replace(state, pods=(stray,)))
    assert [v.id for v in found] == ["ip-assigned-by-ec2"]
    # win-1 has 2 secondary IPs where the default warm pool is 3; win-0 holds one prefix.
    assert [(v.id, v.node) for v in check(state, cooldown_passed=True)] == [
        ("no-leak-after-cooldown", "win-1")
    ]


def test_hns_view_every_host_and_remote_flag(hns_target: str) -> None:
    with HnsClient(hns_target, host="win-0") as hns:
        for host in ("win-0", "win-1"):
            h = hns.for_host(host)
            h.create_host("ltsc2019")
            net = h.create_network(
                pb.Network(
                    name="vpcbr0",
                    type=pb.NETWORK_TYPE_L2BRIDGE,
                    ipams=[pb.Ipam(subnets=[pb.Subnet(ip_address_prefix="192.168.0.0/24")])],
                )
            )
            h.create_endpoint(
                pb.Endpoint(
                    name=f"cid-{host}",
                    host_compute_network=net.id,
                    ip_configurations=[pb.IpConfig(ip_address=f"192.168.0.{10 + len(host)}")],
                )
            )
        remote = hns.list_networks()[0].id
        hns.create_endpoint(
            pb.Endpoint(
                host_compute_network=remote,
                flags=1,
                ip_configurations=[pb.IpConfig(ip_address="10.1.2.3", prefix_length=32)],
            )
        )

    eps = observe_hns(hns_target)

    assert {(e.node, e.name, e.ips, e.remote) for e in eps} == {
        ("win-0", "cid-win-0", ("192.168.0.15",), False),
        ("win-1", "cid-win-1", ("192.168.0.15",), False),
        ("win-0", "", ("10.1.2.3",), True),
    }


def test_endpoints_from_dump_reads_the_dump_shape() -> None:
    dump = {
        "hosts": {
            "n": {"endpoints": [{"Name": "cid-1", "IpConfigurations": [], "Flags": 0}]},
            "m": {},
        }
    }
    (ep,) = endpoints_from_dump(dump)
    assert (ep.node, ep.name, ep.ips, ep.remote) == ("n", "cid-1", (), False)


def test_bad_node_entries_and_run_dirs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ObserveError, match=r"nodes\[0\]: expected a mapping with non-empty"):
        observe(None, ec2_url="", region=REGION, hns_target="", nodes=[{"name": "win-0"}])
    assert observe_run_dir(tmp_path) == ClusterState()  # no Windows nodes
    (tmp_path / "nodes.json").write_text(json.dumps({"nodes": []}))
    with pytest.raises(ObserveError, match="expected JSON with 'ec2', 'hns' and 'nodes'"):
        observe_run_dir(tmp_path)
