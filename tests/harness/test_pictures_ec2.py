"""The node-map SVG against a real fake_ec2: per-cell states counted in the SVG equal
what fake_ec2's admin state holds (ENI addresses and prefixes, the subnet's /28 blocks
under fragmentation), and the picture agrees with EC2 that no /28 is left."""

from __future__ import annotations

import ipaddress
import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fake_ec2.admin import AdminClient
from harness.invariants import ClusterState, NodeState, PodState
from harness.observe import observe_ec2
from harness.pictures.model import build_node_map
from harness.pictures.render import render_node_map
from harness.servers import ServerGroup
from harness.testing import REGION, ec2_client
from harness.waiting import wait_until

SVG = "{http://www.w3.org/2000/svg}"
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
SUBNET_CIDR = "10.3.0.0/22"  # 64 blocks


@pytest.fixture
def ec2_url(listening_servers: ServerGroup, monkeypatch: pytest.MonkeyPatch) -> str:
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    server = listening_servers.start("fake_ec2", ["--port", "0"], env={**os.environ, **CREDS})
    wait_until(AdminClient(server.url).healthy, 20, "fake_ec2 to answer its health check")
    return server.url


def _groups(path: Path, cls: str) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def _launch(ec2: Any, subnet: str, instance_type: str) -> tuple[str, str]:
    inst = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, SubnetId=subnet
    )["Instances"][0]
    return inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_svg_cell_states_match_fake_ec2_admin_state(ec2_url: str, tmp_path: Path) -> None:
    ec2 = ec2_client(ec2_url, single_attempt=True)
    admin = AdminClient(ec2_url)
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
    pd_iid, pd_eni = _launch(ec2, subnet, "c5.xlarge")  # Nitro: prefixes
    ec2.assign_private_ip_addresses(NetworkInterfaceId=pd_eni, Ipv4PrefixCount=3)
    sec_iid, sec_eni = _launch(ec2, subnet, "m5.large")
    ec2.assign_private_ip_addresses(NetworkInterfaceId=sec_eni, SecondaryPrivateIpAddressCount=5)
    admin.fragment(subnet, every=16, offset=5)
    with pytest.raises(ClientError) as no_block:  # EC2 agrees: no /28 left
        ec2.assign_private_ip_addresses(NetworkInterfaceId=pd_eni, Ipv4PrefixCount=1)
    assert no_block.value.response["Error"]["Code"] == "InsufficientCidrBlocks"

    # Pod usage and cooling come from Kubernetes and the controller in a live
    # environment; here they are given as data.
    view = observe_ec2(ec2_url, REGION, [pd_iid, sec_iid])
    pd_prefixes = sorted(view.instances[pd_iid].eni.prefixes)  # type: ignore[union-attr]
    first = ipaddress.IPv4Network(pd_prefixes[0])
    pod_ip, cooling_ip = str(first[1]), str(first[2])
    sec_ips = sorted(view.instances[sec_iid].eni.secondary_ips)  # type: ignore[union-attr]
    state = ClusterState(
        nodes=tuple(
            NodeState(
                name, iid, view.instances[iid].instance_type, 0, True, view.instances[iid].eni
            )
            for name, iid in (("win-pd", pd_iid), ("win-sec", sec_iid))
        ),
        pods=(
            PodState("default", "a", "win-pd", "Running", annotation=f"{pod_ip}/22"),
            PodState("default", "b", "win-sec", "Running", annotation=f"{sec_ips[0]}/22"),
        ),
        subnets=view.subnets,
        enis=view.enis,
    )
    nm = build_node_map(state, cooling={"win-pd": {cooling_ip}})
    out = render_node_map(nm, tmp_path / "fragmented.svg")
    render_node_map(nm, tmp_path / "fragmented.png")

    truth = admin.state()
    enis = {e["eni_id"]: e for e in truth["enis"]}
    (sub,) = [s for s in truth["subnets"] if s["subnet_id"] == subnet]
    cells = _groups(out, "eni-cell")
    for node, eni_id in (("win-pd", pd_eni), ("win-sec", sec_eni)):
        e = enis[eni_id]
        held = [e["primary"], *e["secondaries"]]
        held += [str(a) for p in e["prefixes"] for a in ipaddress.IPv4Network(p)]
        mine = [c for c in cells if c.get("data-node") == node]
        assert sorted(c.get("data-address") or "" for c in mine) == sorted(held)
        reserved = [c.get("data-address") for c in mine if c.get("data-state") == "reserved"]
        assert reserved == [e["primary"]]
        rows = Counter(c.get("data-row") for c in mine)
        assert {r for r in rows if "/" in str(r)} == set(e["prefixes"])
        assert all(rows[p] == 16 for p in e["prefixes"])
    states = Counter((c.get("data-node"), c.get("data-state")) for c in cells)
    assert states[("win-pd", "used")] == 1 and states[("win-pd", "cooling")] == 1
    assert states[("win-pd", "free")] == 16 * 3 - 2
    assert states[("win-sec", "used")] == 1 and states[("win-sec", "free")] == 4

    # The subnet map, block by block, from the admin state's raw lists.
    net = ipaddress.IPv4Network(sub["cidr"])
    base = int(net.network_address)
    prefix_blocks = {p for e in enis.values() for p in e["prefixes"]}
    singles = {a for e in enis.values() for a in (e["primary"], *e["secondaries"])}
    singles |= set(sub["fragment"])

    def block_of(address: str) -> str:
        start = base + (int(ipaddress.IPv4Address(address)) - base) // 16 * 16
        return f"{ipaddress.IPv4Address(start)}/28"

    partial = {block_of(a) for a in singles} - prefix_blocks
    blocks = _groups(out, "subnet-block")
    assert len(blocks) == net.num_addresses // 16
    by_state: dict[str, set[str]] = {}
    for b in blocks:
        by_state.setdefault(b.get("data-state") or "", set()).add(b.get("data-cidr") or "")
    assert by_state["prefix"] == prefix_blocks
    assert by_state["partial"] == partial
    assert "free" not in by_state  # fragmentation left no /28 (EC2 said so above)
    assert by_state.get("reserved", set()) == set()  # the AWS-reserved blocks hold IPs too
    assert len(sub["fragment"]) > 0
    assert nm.subnets[0].available == sub["available"]
    held_in_blocks = {b.get("data-cidr"): int(b.get("data-held") or 0) for b in blocks}
    assert sum(held_in_blocks.values()) == len(singles) + 16 * len(prefix_blocks)
