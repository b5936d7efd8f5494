"""Node object builder: labels, capacity, providerID, addresses, allocatable copy."""

from __future__ import annotations

import pytest

from harness.nodes.spec import (
    InstanceInfo,
    NodeSpec,
    NodeSpecError,
    allocatable_patch,
    build_node,
)

INSTANCE = InstanceInfo(
    instance_id="i-0abc",
    private_ip="192.168.0.10",
    eni_id="eni-1",
    mac="0a:1b:2c:3d:4e:5f",
    subnet_cidr="192.168.0.0/24",
    availability_zone="us-west-2a",
    vpc_cidrs=("192.168.0.0/16",),
)


def test_labels_provider_id_and_node_info() -> None:
    spec = NodeSpec(
        name="win-0",
        instance_type="t3.2xlarge",
        windows_build="10.0.20348",
        cpu=8,
        memory_mib=32768,
    )
    node = build_node(spec, INSTANCE, "2026-01-01T00:00:00Z")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/os"] == "windows"
    assert labels["beta.kubernetes.io/os"] == "windows"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["node.kubernetes.io/instance-type"] == "t3.2xlarge"
    assert labels["beta.kubernetes.io/instance-type"] == "t3.2xlarge"
    assert labels["topology.kubernetes.io/zone"] == "us-west-2a"
    assert labels["failure-domain.beta.kubernetes.io/zone"] == "us-west-2a"
    assert labels["topology.kubernetes.io/region"] == "us-west-2"
    assert labels["node.kubernetes.io/windows-build"] == "10.0.20348"
    assert labels["kubernetes.io/hostname"] == "win-0"
    assert labels["eks.amazonaws.com/nodegroup"] == "windows-ng"
    assert node["spec"]["providerID"] == "aws:///us-west-2a/i-0abc"
    assert node["spec"]["taints"] == []  # EKS does not taint Windows nodes by default
    status = node["status"]
    assert {"type": "InternalIP", "address": "192.168.0.10"} in status["addresses"]
    assert status["capacity"]["pods"] == "110"
    assert status["capacity"]["cpu"] == "8"
    assert status["capacity"]["memory"] == f"{32768 * 1024}Ki"
    info = status["nodeInfo"]
    assert info["operatingSystem"] == "windows"
    assert info["osImage"] == "Windows Server 2022 Datacenter"
    assert info["containerRuntimeVersion"].startswith("containerd://")
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_max_pods_range_and_optional_taint() -> None:
    assert (
        build_node(NodeSpec(name="w", max_pods=250), INSTANCE, "t")["status"]["allocatable"]["pods"]
        == "250"
    )
    with pytest.raises(NodeSpecError, match="max_pods 251"):
        NodeSpec(name="w", max_pods=251)
    with pytest.raises(NodeSpecError, match="windows_build"):
        NodeSpec(name="w", windows_build="6.3")
    taint = {"key": "os", "value": "windows", "effect": "NoSchedule"}
    node = build_node(NodeSpec(name="w", taints=(taint,)), INSTANCE, "t")
    assert node["spec"]["taints"] == [taint]


def test_spec_round_trips_and_rejects_unknown_fields() -> None:
    spec = NodeSpec(name="w", labels={"a": "b"})
    assert NodeSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(NodeSpecError, match="unknown field"):
        NodeSpec.from_dict({"name": "w", "maxPods": 3})


def test_allocatable_copies_extended_resources_only() -> None:
    node = {
        "status": {
            "capacity": {"cpu": "2", "pods": "110", "vpc.amazonaws.com/PrivateIPv4Address": "9"},
            "allocatable": {"cpu": "2", "pods": "110"},
        }
    }
    assert allocatable_patch(node) == {"vpc.amazonaws.com/PrivateIPv4Address": "9"}
    node["status"]["allocatable"]["vpc.amazonaws.com/PrivateIPv4Address"] = "9"
    assert allocatable_patch(node) is None
    node["status"]["capacity"]["vpc.amazonaws.com/PrivateIPv4Address"] = "144"
    assert allocatable_patch(node) == {"vpc.amazonaws.com/PrivateIPv4Address": "144"}
    del node["status"]["capacity"]["vpc.amazonaws.com/PrivateIPv4Address"]
    assert allocatable_patch(node) == {"vpc.amazonaws.com/PrivateIPv4Address": None}
