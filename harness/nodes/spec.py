"""NodeSpec and the Node object an EKS Windows node registers with (pure builders).

Labels follow what the kubelet sets on Windows (kubernetes.io/os, arch, hostname,
node.kubernetes.io/windows-build), what the AWS cloud provider adds (instance type,
topology zone/region and their beta twins) and what EKS managed node groups add
(eks.amazonaws.com/nodegroup, nodegroup-image, capacityType). EKS does not taint
Windows nodes by default; ``taints`` stays empty unless a spec asks for one (the EKS
docs suggest ``os=windows:NoSchedule`` as an option).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_PODS_DEFAULT = 110
MAX_PODS_LIMIT = 250
IP_RESOURCE = "vpc.amazonaws.com/PrivateIPv4Address"

# Windows Server build -> (osImage, full kernel version the kubelet reports).
WINDOWS_BUILDS = {
    "10.0.17763": ("Windows Server 2019 Datacenter", "10.0.17763.5458"),
    "10.0.20348": ("Windows Server 2022 Datacenter", "10.0.20348.2340"),
}


class NodeSpecError(ValueError):
    """A node spec field has a bad value (the message names field and value)."""


@dataclass(frozen=True)
class NodeSpec:
    """One emulated EKS Windows node."""

    name: str
    instance_type: str = "m5.large"
    subnet_id: str = ""  # fake_ec2 subnet to launch into
    availability_zone: str = "us-west-2a"
    region: str = "us-west-2"
    windows_build: str = "10.0.17763"
    max_pods: int = MAX_PODS_DEFAULT
    nodegroup: str = "windows-ng"
    ami_id: str = "ami-0e0f1d2c3b4a59687"
    capacity_type: str = "ON_DEMAND"
    kubelet_version: str = "v1.20.2-eks-ekswin"
    container_runtime_version: str = "containerd://1.7.20"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()
    cpu: int = 2  # vCPUs; register_instances fills these from DescribeInstanceTypes
    memory_mib: int = 8192
    reserved_memory_mib: int = 2048  # kube-reserved + system-reserved (model, see docs)
    eviction_memory_mib: int = 100

    def __post_init__(self) -> None:
        if not self.name:
            raise NodeSpecError("node name: expected a non-empty DNS-1123 name")
        if not 1 <= self.max_pods <= MAX_PODS_LIMIT:
            raise NodeSpecError(
                f"node {self.name}: max_pods {self.max_pods} out of range, "
                f"expected 1..{MAX_PODS_LIMIT}"
            )
        if self.windows_build not in WINDOWS_BUILDS:
            raise NodeSpecError(
                f"node {self.name}: windows_build {self.windows_build!r} unknown, "
                f"expected one of {sorted(WINDOWS_BUILDS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (AgentConfig)."""
        d = asdict(self)
        d["labels"] = dict(self.labels)
        d["taints"] = [dict(t) for t in self.taints]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeSpec:
        """Inverse of to_dict; unknown keys are errors."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise NodeSpecError(f"node spec: unknown field(s) {sorted(unknown)}")
        d = dict(data)
        d["labels"] = dict(d.get("labels") or {})
        d["taints"] = tuple(dict(t) for t in d.get("taints") or ())
        return cls(**d)


@dataclass(frozen=True)
class InstanceInfo:
    """What EC2 says about the node's instance (from RunInstances / DescribeInstances)."""

    instance_id: str
    private_ip: str  # primary ENI primary IP
    eni_id: str
    mac: str
    subnet_cidr: str
    availability_zone: str
    vpc_cidrs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["vpc_cidrs"] = list(self.vpc_cidrs)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceInfo:
        """Inverse of to_dict."""
        d = dict(data)
        d["vpc_cidrs"] = tuple(d.get("vpc_cidrs") or ())
        return cls(**d)


def internal_dns(ip: str, region: str) -> str:
    """EC2's private DNS name for an address (us-east-1 uses ec2.internal)."""
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{suffix}"


def node_labels(spec: NodeSpec, instance: InstanceInfo) -> dict[str, str]:
    """The labels an EKS Windows node registers with."""
    zone = instance.availability_zone or spec.availability_zone
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": spec.instance_type,
        "beta.kubernetes.io/os": "windows",
        "eks.amazonaws.com/capacityType": spec.capacity_type,
        "eks.amazonaws.com/nodegroup": spec.nodegroup,
        "eks.amazonaws.com/nodegroup-image": spec.ami_id,
        "failure-domain.beta.kubernetes.io/region": spec.region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/instance-type": spec.instance_type,
        "node.kubernetes.io/windows-build": spec.windows_build,
        "topology.kubernetes.io/region": spec.region,
        "topology.kubernetes.io/zone": zone,
    }
    labels.update(spec.labels)
    return labels


def resources(spec: NodeSpec) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable) for cpu, memory, pods and ephemeral storage."""
    capacity = {
        "cpu": str(spec.cpu),
        "memory": f"{spec.memory_mib * 1024}Ki",
        "pods": str(spec.max_pods),
        "ephemeral-storage": "52416492Ki",
    }
    alloc_mem = max(0, spec.memory_mib - spec.reserved_memory_mib - spec.eviction_memory_mib)
    allocatable = {
        "cpu": str(spec.cpu),
        "memory": f"{alloc_mem * 1024}Ki",
        "pods": str(spec.max_pods),
        "ephemeral-storage": "47233297124",
    }
    return capacity, allocatable


def ready_condition(now: str, ready: bool = True) -> dict[str, str]:
    """The kubelet's Ready condition."""
    if ready:
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    return {
        "type": "Ready",
        "status": "False",
        "reason": "KubeletNotReady",
        "message": "container runtime network not ready",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


def node_conditions(now: str) -> list[dict[str, str]]:
    """Ready plus the pressure conditions a healthy kubelet reports."""

    def ok(t: str, reason: str, msg: str) -> dict[str, str]:
        return {
            "type": t,
            "status": "False",
            "reason": reason,
            "message": msg,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return [
        ok(
            "MemoryPressure",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ok("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ok("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ready_condition(now),
    ]


def build_node(spec: NodeSpec, instance: InstanceInfo, now: str) -> dict[str, Any]:
    """The Node object (JSON) the kubelet creates when it registers."""
    capacity, allocatable = resources(spec)
    os_image, kernel = WINDOWS_BUILDS[spec.windows_build]
    zone = instance.availability_zone or spec.availability_zone
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": node_labels(spec, instance),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "alpha.kubernetes.io/provided-node-ip": instance.private_ip,
            },
        },
        "spec": {
            "providerID": f"aws:///{zone}/{instance.instance_id}",
            "taints": [dict(t) for t in spec.taints],
        },
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": node_conditions(now),
            "addresses": [
                {"type": "InternalIP", "address": instance.private_ip},
                {"type": "Hostname", "address": spec.name},
                {"type": "InternalDNS", "address": internal_dns(instance.private_ip, spec.region)},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": instance.instance_id,
                "systemUUID": instance.instance_id.upper(),
                "bootID": "",
                "kernelVersion": kernel,
                "osImage": os_image,
                "containerRuntimeVersion": spec.container_runtime_version,
                "kubeletVersion": spec.kubelet_version,
                "kubeProxyVersion": spec.kubelet_version,
                "operatingSystem": "windows",
                "architecture": "amd64",
            },
        },
    }


def allocatable_patch(node: Mapping[str, Any]) -> dict[str, str] | None:
    """Extended resources in capacity that allocatable lacks or differs on, as a kubelet
    copies them (None when nothing to do). Only the IP resource and other extended
    (domain-prefixed) resources are copied; cpu/memory/pods keep their reservations."""
    status = node.get("status") or {}
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or {}
    patch = {
        k: v
        for k, v in capacity.items()
        if "/" in k
        and not k.startswith(("hugepages-", "kubernetes.io/"))
        and allocatable.get(k) != v
    }
    # An extended resource dropped from capacity is dropped from allocatable too.
    for k in allocatable:
        if "/" in k and k not in capacity:
            patch[k] = None  # type: ignore[assignment]
    return patch or None
