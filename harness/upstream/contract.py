"""The upstream controller's EC2 contract as plain data: each call it makes with Windows
nodes, and the answer fields its Go code dereferences (docs/upstream-controller.md has
the sources). The contract test replays the calls against fake_ec2 and checks the
fields with :func:`missing`.

Paths use `.` between fields and `[]` for "every element" (an absent or empty list
has none, so nothing under it is required: Go ranges over a nil slice); `[0]` is the
first element, which must exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OWNER_TAG = "eks:eni:owner"
OWNER_VALUES = ("eks-vpc-resource-controller", "amazon-vpc-cni")
CLUSTER_TAG_CNI = "cluster.k8s.amazonaws.com/name"
CLUSTER_TAG_RC = "kubernetes.io/cluster/{cluster}"
NOT_FOUND_INTERFACE = "InvalidNetworkInterfaceID.NotFound"  # ignored by the ENI cleaner
CLEANER_PAGE = 1000

DEREFERENCED: Mapping[str, tuple[str, ...]] = {
    "DescribeInstances": (
        "Reservations[0].Instances[0].SubnetId",
        "Reservations[0].Instances[0].InstanceType",
        "Reservations[0].Instances[0].PrivateIpAddress",
        "Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId",
        "Reservations[0].Instances[0].NetworkInterfaces[].Attachment.DeviceIndex",
        "Reservations[0].Instances[0].NetworkInterfaces[].NetworkInterfaceId",
        "Reservations[0].Instances[0].NetworkInterfaces[].PrivateIpAddress",
        "Reservations[0].Instances[0].NetworkInterfaces[].Groups[].GroupId",
        "Reservations[0].Instances[0].NetworkInterfaces[].PrivateIpAddresses[0].Primary",
        "Reservations[0].Instances[0].NetworkInterfaces[].PrivateIpAddresses[].Primary",
        "Reservations[0].Instances[0].NetworkInterfaces[].PrivateIpAddresses[].PrivateIpAddress",
        "Reservations[0].Instances[0].NetworkInterfaces[].Ipv4Prefixes[].Ipv4Prefix",
    ),
    "DescribeSubnets": ("Subnets[0].CidrBlock",),
    "AssignPrivateIpAddresses:secondary": ("AssignedPrivateIpAddresses[0].PrivateIpAddress",),
    "AssignPrivateIpAddresses:prefix": ("AssignedIpv4Prefixes[0].Ipv4Prefix",),
    "DescribeNetworkInterfaces": (
        "NetworkInterfaces[0].PrivateIpAddresses[].PrivateIpAddress",
        "NetworkInterfaces[0].Ipv4Prefixes[].Ipv4Prefix",
    ),
    "DescribeNetworkInterfaces:cleaner": (
        "NetworkInterfaces[].NetworkInterfaceId",
        "NetworkInterfaces[].TagSet[].Key",
        "NetworkInterfaces[].TagSet[].Value",
    ),
}


def cleaner_filters(vpc_id: str, cluster: str) -> list[list[dict[str, Any]]]:
    """The ENI cleaner's two DescribeNetworkInterfaces filter sets (one per cluster tag)."""
    common = [
        {"Name": "status", "Values": ["available"]},
        {"Name": f"tag:{OWNER_TAG}", "Values": list(OWNER_VALUES)},
        {"Name": "vpc-id", "Values": [vpc_id]},
    ]
    return [
        [*common, {"Name": f"tag:{CLUSTER_TAG_CNI}", "Values": [cluster]}],
        [*common, {"Name": "tag:" + CLUSTER_TAG_RC.format(cluster=cluster), "Values": ["owned"]}],
    ]


def _walk(value: Any, parts: Sequence[str], where: str) -> list[str]:
    if not parts:
        return [] if value is not None else [where]
    head, rest = parts[0], parts[1:]
    name, _, index = head.partition("[")
    if name:
        if not isinstance(value, Mapping) or value.get(name) is None:
            # Go ranges over a nil slice without harm: an absent `x[]` is no dereference.
            return (
                []
                if index == "]" and isinstance(value, Mapping)
                else [f"{where}.{name}".lstrip(".")]
            )
        value, where = value[name], f"{where}.{name}".lstrip(".")
    if not index:
        return _walk(value, rest, where)
    if not isinstance(value, list):
        return [where]
    if index == "]":
        out: list[str] = []
        for i, item in enumerate(value):
            out += _walk(item, rest, f"{where}[{i}]")
        return out
    i = int(index.rstrip("]"))
    if len(value) <= i:
        return [f"{where}[{i}]"]
    return _walk(value[i], rest, f"{where}[{i}]")


def missing(answer: Mapping[str, Any], paths: Sequence[str]) -> list[str]:
    """The places in `answer` where a field of `paths` is absent (empty: all present)."""
    out: list[str] = []
    for path in paths:
        out += _walk(answer, path.split("."), "")
    return out
