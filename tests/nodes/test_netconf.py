"""CNI netconf / environment parsing and error JSON (pure)."""

from __future__ import annotations

import json

import pytest

from harness.cni.errors import CniError
from harness.cni.netconf import (
    decode,
    endpoint_name,
    network_name,
    parse_cni_args,
    parse_env,
    parse_netconf,
)
from harness.nodes.podstatus import sandbox_failure_message
from harness.nodes.profiles import ProfileError, builtin, load

NETCONF = {
    "cniVersion": "1.0.0",
    "name": "vpc",
    "type": "ekswin-cni",
    "eniMACAddress": "0A:1B:2C:3D:4E:5F",
    "eniIPAddresses": ["192.168.0.10/24"],
    "vpcCIDRs": ["192.168.0.0/16"],
    "serviceCIDR": "10.100.0.0/16",
    "gatewayIPAddress": "192.168.0.1",
    "dns": {"nameservers": ["10.100.0.10"], "search": ["{%namespace%}.svc.cluster.local"]},
    "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"}]},
    "kubeconfig": "/x/kubeconfig",
    "hnsEndpoint": "127.0.0.1:1",
    "hnsHost": "win-0",
    "annotationTimeoutSeconds": 2,
}


def test_parse_full_netconf() -> None:
    conf = parse_netconf(NETCONF)
    assert conf.network_name == "vpcbr0a1b2c3d4e5f"
    assert str(conf.eni_subnet) == "192.168.0.0/24"
    assert conf.node_ip == "192.168.0.10"
    assert conf.snat_exceptions() == ["192.168.0.0/16", "10.100.0.0/16"]
    assert conf.dns_for("team-a").search == ("team-a.svc.cluster.local",)
    assert conf.port_mappings[0].host_port == 8080 and conf.port_mappings[0].protocol == "tcp"
    assert conf.annotation_timeout_s == 2.0
    assert endpoint_name("abc") == "cid-abc"


def test_network_name_is_the_plugins_however_the_mac_is_written() -> None:
    # The agent names the network at node bootstrap from the raw MAC; the plugin from the
    # parsed netconf: both must find the same network.
    plugin = parse_netconf(NETCONF).network_name
    for mac in ("0A:1B:2C:3D:4E:5F", "0a:1b:2c:3d:4e:5f", "0a-1b-2c-3d-4e-5f"):
        assert network_name("vpc", mac) == plugin == "vpcbr0a1b2c3d4e5f"


def test_snat_exceptions_default_to_eni_subnet() -> None:
    data = dict(NETCONF)
    del data["vpcCIDRs"], data["serviceCIDR"]
    assert parse_netconf(data).snat_exceptions() == ["192.168.0.0/24"]


@pytest.mark.parametrize(
    ("change", "code", "msg"),
    [
        ({"eniMACAddress": None}, 999, "missing required parameter ENIName or ENIMACAddress"),
        ({"eniMACAddress": "zz"}, 999, "invalid ENIMACAddress zz"),
        ({"vpcCIDRs": ["nope"]}, 999, "invalid VPCCIDR nope"),
        ({"eniIPAddresses": ["1.2.3/8"]}, 999, "invalid ENIIPAddress 1.2.3/8"),
        ({"ipAddresses": ["fd00::1/64"]}, 999, "Only a single IPv4 address"),
        ({"gatewayIPAddress": "x"}, 999, "invalid GatewayIPAddress x"),
        ({"cniVersion": "9.9.9"}, 1, "incompatible CNI versions"),
        ({"annotationTimeoutSeconds": "soon"}, 999, "annotationTimeoutSeconds"),
    ],
)
def test_bad_netconf_values(change: dict[str, object], code: int, msg: str) -> None:
    data = {**NETCONF, **change}
    with pytest.raises(CniError) as info:
        parse_netconf(data)
    assert info.value.code == code
    assert msg in info.value.msg + info.value.details


def test_decode_errors_are_code_6_and_serialise_per_spec() -> None:
    with pytest.raises(CniError) as info:
        decode(b"{not json")
    err = json.loads(info.value.dumps("1.0.0"))
    assert err["cniVersion"] == "1.0.0" and err["code"] == 6
    assert err["msg"].startswith("decoding version from network config")


def test_env_and_args() -> None:
    with pytest.raises(CniError) as info:
        parse_env({})
    assert info.value.code == 4 and "CNI_COMMAND" in info.value.msg
    with pytest.raises(CniError) as info:
        parse_env({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"})
    assert "CNI_NETNS" in info.value.msg and "CNI_PATH" in info.value.msg
    env = parse_env(
        {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_PATH": "/bin"}
    )
    assert env.netns == ""  # DEL does not need the namespace
    args = parse_cni_args(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc"
    )
    assert (args.namespace, args.pod_name, args.infra_container_id) == ("ns", "p", "abc")


def test_failure_message_matches_containerd_format() -> None:
    msg = sandbox_failure_message("ab12", "vpc", "boom")
    assert msg == (
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup "
        'network for sandbox "ab12": plugin type="ekswin-cni" name="vpc" failed (add): '
        "boom"
    )


def test_timing_profiles() -> None:
    profiles = builtin()
    assert {"fast", "real"} <= set(profiles)
    realistic = profiles["real"]
    assert realistic.backoff_s(1) == 10.0 and realistic.backoff_s(2) == 20.0
    assert realistic.backoff_s(50) == 300.0
    assert load("fast").sandbox_create_ms == (0, 0)
    with pytest.raises(ProfileError, match="unknown"):
        load("slowest")
    with pytest.raises(ProfileError, match="sandbox_create_ms"):
        load(
            {
                **{k: v for k, v in vars(realistic).items() if k not in ("name",)},
                "sandbox_create_ms": [5, 1],
            }
        )
