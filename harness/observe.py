"""Gather the state the invariants read from a running environment's real interfaces:
the Kubernetes API (nodes, pods, the amazon-vpc-cni ConfigMap), EC2 (DescribeInstances,
DescribeInstanceTypes and DescribeNetworkInterfaces filtered by the nodes' instance ids,
plus fake_ec2's admin state for subnets, reservations and every ENI) and HNS (DumpState
of every host). Nothing is read from the controller or the node agent.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.invariants import (
    IP_RESOURCE,
    CidrReservation,
    ClusterState,
    Eni,
    HnsEndpoint,
    NodeState,
    PodState,
    Subnet,
)
from harness.nodes.ec2 import ec2_client

REGION = "us-west-2"
CONFIGMAP = ("kube-system", "amazon-vpc-cni")
REMOTE_ENDPOINT_FLAG = 0x1  # hcn.EndpointFlags RemoteEndpoint


class ObserveError(RuntimeError):
    """The environment's state could not be read (names what and why)."""


@dataclass(frozen=True)
class InstanceView:
    """One instance as EC2 describes it: type, the type's limits, its primary ENI."""

    instance_id: str
    instance_type: str
    ipv4_per_interface: int
    nitro: bool
    eni: Eni | None


@dataclass(frozen=True)
class Ec2View:
    """The EC2 part of the state."""

    instances: Mapping[str, InstanceView]
    subnets: tuple[Subnet, ...]
    enis: tuple[Eni, ...]


@dataclass(frozen=True)
class KubeView:
    """The Kubernetes part: advertised capacity per registered node, pods, ConfigMap."""

    capacity: Mapping[str, int | None]
    pods: tuple[PodState, ...]
    configmap: Mapping[str, str] | None


def _node_refs(nodes: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    refs = []
    for i, entry in enumerate(nodes):
        name, iid = entry.get("name"), entry.get("instance_id")
        if not isinstance(name, str) or not name or not isinstance(iid, str) or not iid:
            raise ObserveError(
                f"nodes[{i}]: expected a mapping with non-empty 'name' and 'instance_id', "
                f"got {dict(entry)!r}"
            )
        refs.append((name, iid))
    return refs


def _eni_from_describe(eni: Mapping[str, Any]) -> Eni:
    return Eni(
        eni_id=eni["NetworkInterfaceId"],
        subnet_id=eni.get("SubnetId", ""),
        primary_ip=eni.get("PrivateIpAddress", ""),
        secondary_ips=tuple(
            a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []) if not a.get("Primary")
        ),
        prefixes=tuple(p["Ipv4Prefix"] for p in eni.get("Ipv4Prefixes", [])),
    )


def observe_ec2(
    ec2_url: str, region: str, instance_ids: Sequence[str], access_key: str = "testing"
) -> Ec2View:
    """Instances, their types' limits and primary ENIs (filtered by instance id), and the
    admin state's subnets and ENIs; the EC2 calls are signed with `access_key`."""
    from fake_ec2.admin import AdminClient

    ec2 = ec2_client(ec2_url, region, access_key=access_key)
    instances: dict[str, dict[str, Any]] = {}
    if instance_ids:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-id", "Values": list(instance_ids)}]
        )
        for page in pages:
            for res in page["Reservations"]:
                for inst in res["Instances"]:
                    instances[inst["InstanceId"]] = inst
    types = sorted({i["InstanceType"] for i in instances.values()})
    limits: dict[str, tuple[int, bool]] = {}
    if types:
        for info in ec2.describe_instance_types(InstanceTypes=types)["InstanceTypes"]:
            nitro = info.get("Hypervisor") == "nitro" or bool(info.get("BareMetal"))
            per_eni = int(info["NetworkInfo"]["Ipv4AddressesPerInterface"])
            limits[info["InstanceType"]] = (per_eni, nitro)
    primary: dict[str, Eni] = {}
    if instances:
        pages = ec2.get_paginator("describe_network_interfaces").paginate(
            Filters=[{"Name": "attachment.instance-id", "Values": sorted(instances)}]
        )
        for page in pages:
            for eni in page["NetworkInterfaces"]:
                att = eni.get("Attachment") or {}
                if att.get("DeviceIndex") == 0 and att.get("InstanceId"):
                    primary[att["InstanceId"]] = _eni_from_describe(eni)
    views = {}
    for iid, inst in instances.items():
        itype = inst["InstanceType"]
        if itype not in limits:
            raise ObserveError(f"instance {iid}: DescribeInstanceTypes does not know {itype}")
        per_eni, nitro = limits[itype]
        views[iid] = InstanceView(iid, itype, per_eni, nitro, primary.get(iid))
    admin = AdminClient(ec2_url).state()
    return Ec2View(
        instances=views,
        subnets=tuple(_subnet_from_admin(s) for s in admin.get("subnets", [])),
        enis=tuple(
            Eni(
                eni_id=e["eni_id"],
                subnet_id=e.get("subnet_id") or "",
                primary_ip=e.get("primary") or "",
                secondary_ips=tuple(e.get("secondaries", [])),
                prefixes=tuple(e.get("prefixes", [])),
            )
            for e in admin.get("enis", [])
        ),
    )


def _subnet_from_admin(s: Mapping[str, Any]) -> Subnet:
    return Subnet(
        subnet_id=s["subnet_id"],
        cidr=s["cidr"],
        reservations=tuple(
            CidrReservation(r["cidr"], r["type"]) for r in s.get("reservations", [])
        ),
        occupied=tuple(s.get("fragment", [])),
    )


def endpoints_from_dump(dump: Mapping[str, Any]) -> tuple[HnsEndpoint, ...]:
    """HNS endpoints of every host in a DumpState document (``{"hosts": {name: ...}}``)."""
    out = []
    for host, body in sorted((dump.get("hosts") or {}).items()):
        for ep in body.get("endpoints", []):
            out.append(
                HnsEndpoint(
                    node=host,
                    name=ep.get("Name", ""),
                    ips=tuple(c["IpAddress"] for c in ep.get("IpConfigurations", [])),
                    remote=bool(int(ep.get("Flags", 0)) & REMOTE_ENDPOINT_FLAG),
                )
            )
    return tuple(out)


def observe_hns(hns_target: str) -> tuple[HnsEndpoint, ...]:
    """Every host's endpoints from one DumpState call."""
    from fake_hns.client import HnsClient

    with HnsClient(hns_target, host="") as hns:
        return endpoints_from_dump(json.loads(hns.dump_state(all_hosts=True)))


def _capacity(value: Any) -> int | None:
    if value is None:
        return None
    from kubernetes.utils import parse_quantity

    return int(parse_quantity(str(value)))


def pod_state(pod: Any, nodes: Container[str] | None = None) -> PodState:
    """PodState from a kubernetes.client V1Pod; `nodes`: the names of the Nodes that
    exist (a pod bound to another is orphaned), None when not known."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    node = spec.node_name if spec else None
    return PodState(
        namespace=meta.namespace,
        name=meta.name,
        node=spec.node_name if spec else None,
        phase=(status.phase if status else None) or "Pending",
        pod_ip=status.pod_ip if status else None,
        annotation=(meta.annotations or {}).get(IP_RESOURCE),
        host_network=bool(spec and spec.host_network),
        terminating=meta.deletion_timestamp is not None,
        orphaned=bool(node) and nodes is not None and node not in nodes,
    )


def observe_kubernetes(api: Any) -> KubeView:
    """Node capacities, every pod and the amazon-vpc-cni ConfigMap (None when absent)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    capacity = {
        n.metadata.name: _capacity(((n.status and n.status.capacity) or {}).get(IP_RESOURCE))
        for n in core.list_node().items
    }
    pods = tuple(pod_state(p, capacity) for p in core.list_pod_for_all_namespaces().items)
    try:
        cm = core.read_namespaced_config_map(CONFIGMAP[1], CONFIGMAP[0])
        configmap: dict[str, str] | None = dict(cm.data or {})
    except ApiException as err:
        if err.status != 404:
            raise
        configmap = None
    return KubeView(capacity=capacity, pods=pods, configmap=configmap)


def observe(
    api: Any,
    *,
    ec2_url: str,
    region: str,
    hns_target: str,
    nodes: Iterable[Mapping[str, Any]],
    prefix_delegation_flag: bool = True,
    hns_dump: Mapping[str, Any] | None = None,
    ec2_access_key: str = "testing",
) -> ClusterState:
    """The state of a running environment. ``api``: an admin kubernetes ApiClient;
    ``nodes``: entries with ``name`` and ``instance_id`` (as in nodes.json). Nodes not
    registered with the API server are left out (their ENIs still count for EC2 rules).
    ``hns_dump``: a DumpState document the caller already read (else one is read);
    ``ec2_access_key``: the key its EC2 calls are signed with (fake_ec2 logs it)."""
    refs = _node_refs(nodes)
    kube = observe_kubernetes(api)
    ec2 = observe_ec2(ec2_url, region, [iid for _, iid in refs], ec2_access_key)
    hns = endpoints_from_dump(hns_dump) if hns_dump is not None else observe_hns(hns_target)
    states = []
    for name, iid in refs:
        inst = ec2.instances.get(iid)
        if inst is None:
            raise ObserveError(f"node {name}: instance {iid} not found in EC2 at {ec2_url}")
        if name not in kube.capacity:
            continue
        states.append(
            NodeState(
                name=name,
                instance_id=iid,
                instance_type=inst.instance_type,
                ipv4_per_interface=inst.ipv4_per_interface,
                nitro=inst.nitro,
                eni=inst.eni,
                capacity=kube.capacity[name],
            )
        )
    return ClusterState(
        nodes=tuple(states),
        pods=kube.pods,
        hns_endpoints=hns,
        subnets=ec2.subnets,
        enis=ec2.enis,
        configmap=kube.configmap,
        prefix_delegation_flag=prefix_delegation_flag,
    )


def observe_run_dir(
    run_dir: Path, *, region: str = REGION, prefix_delegation_flag: bool = True
) -> ClusterState:
    """`observe` for the environment of a run directory (its kubeconfig and nodes.json).
    An environment without Windows nodes (no nodes.json) has nothing to check: an empty
    state."""
    from harness.identity import api_client

    nodes_file = run_dir / "nodes.json"
    if not nodes_file.exists():
        return ClusterState()
    try:
        recorded = json.loads(nodes_file.read_text())
        ec2_url, hns_target, nodes = recorded["ec2"], recorded["hns"], recorded["nodes"]
    except (ValueError, KeyError, TypeError) as err:
        raise ObserveError(
            f"{nodes_file}: expected JSON with 'ec2', 'hns' and 'nodes' ({err})"
        ) from err
    api = api_client(run_dir / "kubeconfig")
    try:
        return observe(
            api,
            ec2_url=ec2_url,
            region=recorded.get("region", region),
            hns_target=hns_target,
            nodes=nodes,
            prefix_delegation_flag=bool(
                recorded.get("prefix_delegation_flag", prefix_delegation_flag)
            ),
        )
    finally:
        api.close()
