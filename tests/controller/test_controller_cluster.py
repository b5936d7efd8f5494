"""The controller against the real kube-apiserver (ekswin_cluster) and fake_ec2."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from kubernetes import client as kclient

from .conftest import (  # type: ignore[import-not-found]
    annotation,
    capacity,
    ec2,
    make_instance,
    make_node,
    make_pod,
    set_cm,
    wait_for,
)

pytestmark = pytest.mark.cluster


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
    controller_kubeconfig: Any,
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
    start_controller(controller_kubeconfig, fake_ec2)
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


def test_restart_rebuilds_state(
    ekswin_cluster: Any, fake_ec2: str, controller_kubeconfig: Any, start_controller: Any
) -> None:
    core = kclient.CoreV1Api(ekswin_cluster.api)
    set_cm(core, {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"})
    c = ec2(fake_ec2)
    iid, _eni, _ = make_instance(c, "m5.large")
    node = make_node(core, iid)
    proc, _ = start_controller(controller_kubeconfig, fake_ec2)
    first = [make_pod(core, node) for _ in range(4)]
    anns = {wait_for(lambda p=p: annotation(core, p), what="annotation") for p in first}
    proc.terminate()
    proc.wait(timeout=10)
    start_controller(controller_kubeconfig, fake_ec2)
    more = [make_pod(core, node) for _ in range(4)]
    new = {wait_for(lambda p=p: annotation(core, p), what="annotation") for p in more}
    assert not anns & new and len(new) == 4
    for p in first + more:
        core.delete_namespaced_pod(p, "default", grace_period_seconds=0)
    core.delete_node(node)
