"""The controller against the real kube-apiserver (ekswin_cluster) and fake_ec2."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import boto3
import pytest
from kubernetes import client as kclient

from .conftest import wait_for  # type: ignore[import-not-found]

pytestmark = pytest.mark.cluster
RES = "vpc.amazonaws.com/PrivateIPv4Address"


def ec2(url: str) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_instance(c: Any, itype: str, cidr: str = "10.0.0.0/19") -> tuple[str, str, str]:
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub = c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-west-2a")
    subnet = sub["Subnet"]["SubnetId"]
    inst = c.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=itype, SubnetId=subnet
    )["Instances"][0]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return inst["InstanceId"], eni, cidr


def set_cm(core: kclient.CoreV1Api, data: dict[str, str]) -> None:
    body = {"metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"}, "data": data}
    try:
        core.replace_namespaced_config_map("amazon-vpc-cni", "kube-system", body)
    except kclient.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_config_map("kube-system", body)


def make_node(core: kclient.CoreV1Api, instance_id: str) -> str:
    name = f"win-{uuid.uuid4().hex[:8]}"
    core.create_node(
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "windows"}},
            "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
        }
    )
    return name


def capacity(core: kclient.CoreV1Api, node: str) -> str | None:
    n = core.read_node(node)
    return (n.status.capacity or {}).get(RES)


def make_pod(core: kclient.CoreV1Api, node: str) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "c",
                        "image": "mcr.microsoft.com/windows/nanoserver",
                        "resources": {"limits": {RES: "1"}, "requests": {RES: "1"}},
                    }
                ],
            },
        },
    )
    return name


def annotation(core: kclient.CoreV1Api, pod: str) -> str | None:
    return (core.read_namespaced_pod(pod, "default").metadata.annotations or {}).get(RES)


@pytest.mark.parametrize(
    ("itype", "pd", "expected_cap"),
    [
        ("m5.large", False, "9"),
        ("m5.large", True, "144"),
        ("t3.2xlarge", True, "224"),
        ("t2.medium", True, "5"),
        ("m4.large", False, "9"),
    ],
)
def test_capacity_and_annotations(
    ekswin_cluster: Any,
    fake_ec2: str,
    start_controller: Any,
    itype: str,
    pd: bool,
    expected_cap: str,
) -> None:
    core = kclient.CoreV1Api(ekswin_cluster.api)
    data = {"enable-windows-ipam": "true"}
    if pd:
        data["enable-windows-prefix-delegation"] = "true"
    set_cm(core, data)
    c = ec2(fake_ec2)
    iid, eni, cidr = make_instance(c, itype)
    node = make_node(core, iid)
    start_controller(ekswin_cluster.kubeconfig, fake_ec2)
    wait_for(lambda: capacity(core, node) == expected_cap, what=f"capacity {expected_cap}")
    pods = [make_pod(core, node) for _ in range(3)]
    anns = [wait_for(lambda p=p: annotation(core, p), what=f"annotation of {p}") for p in pods]
    assert len(set(anns)) == 3
    d = c.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    nitro_pd = pd and itype != "t2.medium"
    for a in anns:
        ip, plen = a.split("/")
        if nitro_pd:
            assert plen == "32"
            nets = [ipaddress.ip_network(p["Ipv4Prefix"]) for p in d.get("Ipv4Prefixes", [])]
            assert any(ipaddress.ip_address(ip) in n for n in nets)
        else:
            assert plen == cidr.split("/")[1]
            secondary = {x["PrivateIpAddress"] for x in d["PrivateIpAddresses"] if not x["Primary"]}
            assert ip in secondary
    for p in pods:
        core.delete_namespaced_pod(p, "default", grace_period_seconds=0)
    core.delete_node(node)


def test_restart_rebuilds_state(ekswin_cluster: Any, fake_ec2: str, start_controller: Any) -> None:
    core = kclient.CoreV1Api(ekswin_cluster.api)
    set_cm(core, {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"})
    c = ec2(fake_ec2)
    iid, _eni, _ = make_instance(c, "m5.large")
    node = make_node(core, iid)
    proc, _ = start_controller(ekswin_cluster.kubeconfig, fake_ec2)
    first = [make_pod(core, node) for _ in range(4)]
    anns = {wait_for(lambda p=p: annotation(core, p), what="annotation") for p in first}
    proc.terminate()
    proc.wait(timeout=10)
    start_controller(ekswin_cluster.kubeconfig, fake_ec2)
    more = [make_pod(core, node) for _ in range(4)]
    new = {wait_for(lambda p=p: annotation(core, p), what="annotation") for p in more}
    assert not anns & new and len(new) == 4
    for p in first + more:
        core.delete_namespaced_pod(p, "default", grace_period_seconds=0)
    core.delete_node(node)
