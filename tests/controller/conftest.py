"""Fixtures for the controller's cluster tests: fake_ec2 and controller processes, helpers.

The controller runs as its own ServiceAccount with the RBAC of `controller.deploy`, so a
missing permission fails these tests the way it would fail a real deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient

from harness.servers import ListeningServer, ServerGroup
from harness.testing import ec2_client, pod_manifest

RES = "vpc.amazonaws.com/PrivateIPv4Address"


@pytest.fixture
def fake_ec2(listening_servers: ServerGroup) -> str:
    """A fake_ec2 process (its own moto state) stopped at teardown; its URL."""
    return listening_servers.start("fake_ec2", ["--port", "0", "--seed", "7"]).url


@pytest.fixture
def controller_kubeconfig(ekswin_cluster: Any, tmp_path: Path) -> Path:
    """A kubeconfig for ServiceAccount kube-system/vpc-resource-controller with its RBAC."""
    from controller.deploy import NAMESPACE, SERVICE_ACCOUNT, rbac_manifests
    from harness.manifests import apply

    apply(ekswin_cluster.api, rbac_manifests())
    return Path(
        ekswin_cluster.service_account_kubeconfig(
            NAMESPACE, SERVICE_ACCOUNT, tmp_path / "controller.kubeconfig"
        )
    )


@pytest.fixture
def start_controller(listening_servers: ServerGroup) -> Callable[..., ListeningServer]:
    """start(kubeconfig, ec2_url, *extra_args) -> the server (`.url`: health); stopped at teardown.

    Short cool-down and retry scale keep the upstream waits (20 s, 600 ms, 2 min) small.
    """

    def start(kubeconfig: Path, ec2_url: str, *extra: str) -> ListeningServer:
        args = [
            "--kubeconfig",
            str(kubeconfig),
            "--ec2-endpoint",
            ec2_url,
            "--region",
            "us-west-2",
            "--components",
            "controller",
            "--leader-elect=false",
            "--cooldown-seconds",
            "1",
            "--retry-scale",
            "0.05",
            "--log-level",
            "DEBUG",
            *extra,
        ]
        return listening_servers.start("controller", args)

    return start


# ---------------------------------------------------------------------------- helpers
def make_instance(c: Any, itype: str, cidr: str = "10.0.0.0/19") -> tuple[str, str, str]:
    """A VPC, a subnet `cidr` and one instance: (instance id, primary ENI id, cidr)."""
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub = c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-west-2a")
    subnet = sub["Subnet"]["SubnetId"]
    inst = c.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=itype, SubnetId=subnet
    )["Instances"][0]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return inst["InstanceId"], eni, cidr


def set_cm(core: kclient.CoreV1Api, data: dict[str, str]) -> None:
    """Create or replace ConfigMap kube-system/amazon-vpc-cni with `data`."""
    body = {"metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"}, "data": data}
    try:
        core.replace_namespaced_config_map("amazon-vpc-cni", "kube-system", body)
    except kclient.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_config_map("kube-system", body)


def make_node(core: kclient.CoreV1Api, instance_id: str) -> str:
    """A Windows Node object whose providerID names `instance_id`."""
    name = f"win-{uuid.uuid4().hex[:8]}"
    core.create_node(
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "windows"}},
            "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
        }
    )
    return name


@dataclass
class WindowsNode:
    """A Windows Node backed by one fake_ec2 instance, with the clients that made it."""

    core: kclient.CoreV1Api
    ec2: Any
    instance_id: str
    eni: str
    cidr: str
    name: str

    def remove(self, pods: list[str]) -> None:
        """Delete `pods` (no grace) and then the Node."""
        for pod in pods:
            self.core.delete_namespaced_pod(pod, "default", grace_period_seconds=0)
        self.core.delete_node(self.name)


def windows_node(
    cluster: Any, ec2_url: str, cm: dict[str, str], itype: str = "m5.large"
) -> WindowsNode:
    """Set the amazon-vpc-cni ConfigMap to `cm`, launch an `itype` instance, add its Node."""
    core = kclient.CoreV1Api(cluster.api)
    set_cm(core, cm)
    c = ec2_client(ec2_url, single_attempt=True)
    iid, eni, cidr = make_instance(c, itype)
    return WindowsNode(core, c, iid, eni, cidr, make_node(core, iid))


def capacity(core: kclient.CoreV1Api, node: str) -> str | None:
    """The node's advertised vpc.amazonaws.com/PrivateIPv4Address capacity."""
    n = core.read_node(node)
    return (n.status.capacity or {}).get(RES)


def make_pod(core: kclient.CoreV1Api, node: str) -> str:
    """A Windows pod bound to `node` (nodeName set) requesting one IP."""
    name = f"p-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_pod("default", pod_manifest(name, node=node, resources={RES: "1"}))
    return name


def annotation(core: kclient.CoreV1Api, pod: str) -> str | None:
    """The pod's IP annotation, if set."""
    return (core.read_namespaced_pod(pod, "default").metadata.annotations or {}).get(RES)


def events_for(core: kclient.CoreV1Api, kind: str, name: str) -> list[Any]:
    """Events in namespace default about object kind/name (pods and nodes both land there)."""
    sel = f"involvedObject.kind={kind},involvedObject.name={name}"
    return list(core.list_namespaced_event("default", field_selector=sel).items)
