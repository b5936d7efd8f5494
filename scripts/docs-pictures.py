"""Draw docs/pictures/fragmented-subnet.png: two nodes on a /22 whose lower half fake_ec2
has fragmented. Run from the checkout: `.venv/bin/python scripts/docs-pictures.py`.

A real fake_ec2 (in this process) holds the addresses; which of them pods use and which
cool down is given here as data, as Kubernetes and the controller would report it.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from fake_ec2.admin import AdminClient
from fake_ec2.server import serve
from harness.invariants import ClusterState, NodeState, PodState
from harness.observe import observe_ec2
from harness.pictures.model import build_node_map
from harness.pictures.render import render_node_map
from harness.testing import REGION, ec2_client

OUT = Path(__file__).resolve().parents[1] / "docs" / "pictures" / "fragmented-subnet.png"


def _launch(ec2: Any, subnet: str, instance_type: str) -> tuple[str, str]:
    inst = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, SubnetId=subnet
    )["Instances"][0]
    return inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]


def main() -> int:
    """Build the state in fake_ec2, draw it, print where."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    with serve(seed=1) as server:
        ec2 = ec2_client(server.url, single_attempt=True)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/22")["Subnet"]["SubnetId"]
        pd_iid, pd_eni = _launch(ec2, subnet, "c5.xlarge")
        sec_iid, sec_eni = _launch(ec2, subnet, "m5.large")
        ec2.assign_private_ip_addresses(NetworkInterfaceId=pd_eni, Ipv4PrefixCount=2)
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=sec_eni, SecondaryPrivateIpAddressCount=6
        )
        AdminClient(server.url).fragment(subnet, every=16, offset=9, cidr="10.0.0.0/23")
        view = observe_ec2(server.url, REGION, [pd_iid, sec_iid])
    pd, sec = view.instances[pd_iid].eni, view.instances[sec_iid].eni
    assert pd is not None and sec is not None
    prefix = sorted(ipaddress.IPv4Network(p) for p in pd.prefixes)[0]
    used = [str(prefix[i]) for i in range(0, 7)]
    used += sorted(sec.secondary_ips, key=ipaddress.IPv4Address)[:4]
    pods = tuple(
        PodState("default", f"app-{i}", "win-pd" if i < 7 else "win-sec", "Running",
                 annotation=f"{ip}/22")
        for i, ip in enumerate(used)
    )  # fmt: skip
    state = ClusterState(
        nodes=(
            NodeState("win-pd", pd_iid, "c5.xlarge", 15, True, pd),
            NodeState("win-sec", sec_iid, "m5.large", 10, True, sec),
        ),
        pods=pods,
        subnets=view.subnets,
        enis=view.enis,
    )
    cooling = {"win-pd": {str(prefix[7]), str(prefix[8])}}
    path = render_node_map(
        build_node_map(state, cooling),
        OUT,
        title="Address map: the lower /23 fragmented (one address held in every /28)",
    )
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
