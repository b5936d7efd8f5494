"""Contract with the upstream controller: its EC2 calls with Windows nodes, replayed with
botocore (SigV4-signed, the same Query parameters and filters the Go SDK v2 sends),
and every answer field its Go code dereferences present (harness/upstream/contract.py,
docs/upstream-controller.md)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fake_ec2.admin import AdminClient
from harness.upstream.contract import (
    CLEANER_PAGE,
    DEREFERENCED,
    NOT_FOUND_INTERFACE,
    OWNER_TAG,
    cleaner_filters,
    missing,
)
from harness.upstream.plan import offered_instance_types, upstream_instance_types

CLUSTER = "ekswin-contract"


def _node(ec2: Any, make_subnet: Any, launch: Any, itype: str = "m5.large") -> dict[str, str]:
    subnet = make_subnet("10.0.0.0/24")
    instance, eni = launch(subnet, itype)
    return {"subnet": subnet, "instance": instance, "eni": eni}


def _check(answer: dict[str, Any], key: str) -> None:
    assert missing(answer, DEREFERENCED[key]) == [], f"{key}: fields the Go code reads are absent"


def _last(admin: AdminClient, action: str) -> dict[str, Any]:
    rows = admin.requests(action=action)
    assert rows, f"fake_ec2 logged no {action}"
    row: dict[str, Any] = rows[-1]
    assert row["status"] == 200, row  # fake_ec2 refuses what is not SigV4-signed
    return row


def test_node_start_describe_instance_and_subnet(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    node = _node(ec2, make_subnet, launch)
    inst = ec2.describe_instances(InstanceIds=[node["instance"]])
    _check(inst, "DescribeInstances")
    i = inst["Reservations"][0]["Instances"][0]
    assert _last(admin, "DescribeInstances")["params"] == {"InstanceId.1": node["instance"]}
    # The primary ENI is the one whose address is the instance's (instance.go).
    primaries = [
        n for n in i["NetworkInterfaces"] if n["PrivateIpAddress"] == i["PrivateIpAddress"]
    ]
    assert [p["NetworkInterfaceId"] for p in primaries] == [node["eni"]]
    assert i["InstanceType"] in upstream_instance_types()
    sub = ec2.describe_subnets(SubnetIds=[i["SubnetId"]])
    _check(sub, "DescribeSubnets")
    assert sub["Subnets"][0]["CidrBlock"].split("/")[1] == "24"  # the annotation's length


def test_secondary_ip_assign_poll_unassign(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    node = _node(ec2, make_subnet, launch)
    out = ec2.assign_private_ip_addresses(
        NetworkInterfaceId=node["eni"], SecondaryPrivateIpAddressCount=3
    )
    _check(out, "AssignPrivateIpAddresses:secondary")
    assert _last(admin, "AssignPrivateIpAddresses")["params"] == {
        "NetworkInterfaceId": node["eni"],
        "SecondaryPrivateIpAddressCount": "3",
    }
    assigned = [a["PrivateIpAddress"] for a in out["AssignedPrivateIpAddresses"]]
    assert len(assigned) == 3  # only what this call assigned (the poll waits for these)
    desc = ec2.describe_network_interfaces(NetworkInterfaceIds=[node["eni"]])
    _check(desc, "DescribeNetworkInterfaces")
    assert len(desc["NetworkInterfaces"]) == 1
    on_eni = {a["PrivateIpAddress"] for a in desc["NetworkInterfaces"][0]["PrivateIpAddresses"]}
    assert set(assigned) <= on_eni
    # A restarted controller rebuilds its pool from DescribeInstances.
    inst = ec2.describe_instances(InstanceIds=[node["instance"]])
    _check(inst, "DescribeInstances")
    eni = inst["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    secondary = {a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"] if not a["Primary"]}
    assert secondary == set(assigned)
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=node["eni"], PrivateIpAddresses=assigned)
    params = _last(admin, "UnassignPrivateIpAddresses")["params"]
    assert params == {
        "NetworkInterfaceId": node["eni"],
        **{f"PrivateIpAddress.{k + 1}": ip for k, ip in enumerate(assigned)},
    }


def test_prefix_assign_poll_unassign(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    node = _node(ec2, make_subnet, launch, "t3.2xlarge")
    out = ec2.assign_private_ip_addresses(NetworkInterfaceId=node["eni"], Ipv4PrefixCount=1)
    _check(out, "AssignPrivateIpAddresses:prefix")
    assert _last(admin, "AssignPrivateIpAddresses")["params"] == {
        "NetworkInterfaceId": node["eni"],
        "Ipv4PrefixCount": "1",
    }
    prefix = out["AssignedIpv4Prefixes"][0]["Ipv4Prefix"]
    assert prefix.endswith("/28")
    desc = ec2.describe_network_interfaces(NetworkInterfaceIds=[node["eni"]])
    _check(desc, "DescribeNetworkInterfaces")
    assert [p["Ipv4Prefix"] for p in desc["NetworkInterfaces"][0]["Ipv4Prefixes"]] == [prefix]
    inst = ec2.describe_instances(InstanceIds=[node["instance"]])
    _check(inst, "DescribeInstances")
    eni = inst["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    assert [p["Ipv4Prefix"] for p in eni["Ipv4Prefixes"]] == [prefix]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=node["eni"], Ipv4Prefixes=[prefix])
    assert _last(admin, "UnassignPrivateIpAddresses")["params"] == {
        "NetworkInterfaceId": node["eni"],
        "Ipv4Prefix.1": prefix,
    }


@pytest.mark.parametrize("variant", [0, 1], ids=["vpc-cni cluster tag", "controller cluster tag"])
def test_eni_cleaner_finds_and_deletes_a_leaked_eni(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any, variant: int
) -> None:
    node = _node(ec2, make_subnet, launch)
    vpc = ec2.describe_subnets(SubnetIds=[node["subnet"]])["Subnets"][0]["VpcId"]
    tags = [
        [
            {"Key": OWNER_TAG, "Value": "amazon-vpc-cni"},
            {"Key": "cluster.k8s.amazonaws.com/name", "Value": CLUSTER},
        ],
        [
            {"Key": OWNER_TAG, "Value": "eks-vpc-resource-controller"},
            {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"},
        ],
    ][variant]
    leaked = ec2.create_network_interface(
        SubnetId=node["subnet"],
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": tags}],
    )["NetworkInterface"]["NetworkInterfaceId"]
    other = ec2.create_network_interface(SubnetId=node["subnet"])["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    filters = cleaner_filters(vpc, CLUSTER)[variant]
    pages = ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=filters, PaginationConfig={"PageSize": CLEANER_PAGE}
    )
    found = []
    for page in pages:
        _check(page, "DescribeNetworkInterfaces:cleaner")
        found += [n["NetworkInterfaceId"] for n in page["NetworkInterfaces"]]
    assert found == [leaked]  # not the attached primary ENI, not the untagged one
    params = _last(admin, "DescribeNetworkInterfaces")["params"]
    assert params["MaxResults"] == str(CLEANER_PAGE)
    for k, f in enumerate(filters, start=1):
        assert params[f"Filter.{k}.Name"] == f["Name"]
        for j, v in enumerate(f["Values"], start=1):
            assert params[f"Filter.{k}.Value.{j}"] == v
    ec2.delete_network_interface(NetworkInterfaceId=leaked)
    with pytest.raises(ClientError) as err:
        ec2.delete_network_interface(NetworkInterfaceId=leaked)
    # The cleaner matches this code in the error text and ignores it.
    assert NOT_FOUND_INTERFACE in str(err.value)
    ec2.delete_network_interface(NetworkInterfaceId=other)


def test_upstream_and_fake_ec2_agree_on_addresses_per_interface() -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    from fake_ec2.limits import default_catalog

    table = upstream_instance_types()
    both = offered_instance_types(set(INSTANCE_TYPES))
    assert {"m5.large", "t3.2xlarge"} <= both
    assert len(both) < len(INSTANCE_TYPES) and len(both) < len(table)
    disagree = {
        t: (table[t], default_catalog().limits(t).ipv4_per_interface)
        for t in both
        if table[t] != default_catalog().limits(t).ipv4_per_interface
    }
    assert disagree == {}


def test_missing_names_each_absent_field() -> None:
    answer = {
        "Reservations": [
            {
                "Instances": [
                    {
                        "SubnetId": "subnet-1",
                        "NetworkInterfaces": [
                            {"NetworkInterfaceId": "eni-1", "PrivateIpAddresses": []},
                            {"Attachment": {}, "NetworkInterfaceId": "eni-2"},
                        ],
                    }
                ]
            }
        ]
    }
    paths = DEREFERENCED["DescribeInstances"]
    got = missing(answer, paths)
    base = "Reservations[0].Instances[0]"
    assert f"{base}.InstanceType" in got
    assert f"{base}.NetworkInterfaces[0].Attachment" in got
    assert f"{base}.NetworkInterfaces[1].Attachment.DeviceIndex" in got
    assert f"{base}.NetworkInterfaces[0].PrivateIpAddresses[0]" in got
    assert not any(".Groups" in g for g in got)  # an absent list is ranged over, not read
    assert missing({"Subnets": []}, DEREFERENCED["DescribeSubnets"]) == ["Subnets[0]"]
    assert (
        missing({"Subnets": [{"CidrBlock": "10.0.0.0/24"}]}, DEREFERENCED["DescribeSubnets"]) == []
    )
