"""The controller against the real kube-apiserver (ekswin_cluster) and fake_ec2."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from typing import Any

import pytest

from harness.waiting import wait_until

from .conftest import (  # type: ignore[import-not-found]
    annotation,
    capacity,
    make_pod,
    windows_node,
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
    data = {"enable-windows-ipam": "true"}
    if pd:
        data["enable-windows-prefix-delegation"] = "true"
    win = windows_node(ekswin_cluster, fake_ec2, data, itype)
    core, c, eni, cidr, node = win.core, win.ec2, win.eni, win.cidr, win.name
    ctl = start_controller(controller_kubeconfig, fake_ec2)
    wait_until(lambda: capacity(core, node) == expected_cap, what=f"capacity {expected_cap}")
    pods = [make_pod(core, node) for _ in range(3)]
    anns = [wait_until(lambda p=p: annotation(core, p), what=f"annotation of {p}") for p in pods]
    assert len(set(anns)) == 3
    nitro_pd = pd and itype != "t2.medium"

    def introspect_row() -> dict[str, Any] | None:
        with urllib.request.urlopen(f"{ctl.url}/introspect/summary", timeout=5) as r:
            s = json.loads(r.read())
        row = next((n for n in s["nodes"] if n["name"] == node), None)
        return row if row and not s["pending"] and row["used"] == 3 else None

    row = wait_until(introspect_row, what="introspection: 3 IPs used, no EC2 work in flight")
    assert row["mode"] == ("prefix" if nitro_pd else "secondary")
    assert row["capacity"] == int(expected_cap) and row["managed"] and row["ready"]
    d = c.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
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
    win.remove(pods)


def test_restart_rebuilds_state(
    ekswin_cluster: Any, fake_ec2: str, controller_kubeconfig: Any, start_controller: Any
) -> None:
    cm = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
    win = windows_node(ekswin_cluster, fake_ec2, cm)
    core, node = win.core, win.name
    ctl = start_controller(controller_kubeconfig, fake_ec2)
    first = [make_pod(core, node) for _ in range(4)]
    anns = {wait_until(lambda p=p: annotation(core, p), what="annotation") for p in first}
    ctl.popen.terminate()
    ctl.popen.wait(timeout=10)
    start_controller(controller_kubeconfig, fake_ec2)
    more = [make_pod(core, node) for _ in range(4)]
    new = {wait_until(lambda p=p: annotation(core, p), what="annotation") for p in more}
    assert not anns & new and len(new) == 4
    win.remove(first + more)
