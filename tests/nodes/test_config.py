"""kube-proxy flag validation and the agent config (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.kubeproxy.flags import (
    KubeProxyConfig,
    KubeProxyConfigError,
    dsr_supported,
    parse_feature_gates,
)
from harness.nodes.cnirunner import build_netconf
from harness.nodes.config import AgentConfig, AgentConfigError, CniSettings, NodeEntry
from harness.nodes.spec import InstanceInfo, NodeSpec

INSTANCE = InstanceInfo(
    "i-1",
    "192.168.0.10",
    "eni-1",
    "0a:1b:2c:3d:4e:5f",
    "192.168.0.0/19",
    "us-west-2a",
    ("192.168.0.0/16",),
)


def test_enable_dsr_without_gate_is_refused_with_the_real_message() -> None:
    with pytest.raises(KubeProxyConfigError, match=r"^WinDSR feature gate not enabled$"):
        KubeProxyConfig(enable_dsr=True).validate()
    KubeProxyConfig(enable_dsr=True, feature_gates={"WinDSR": True}).validate()
    cfg = KubeProxyConfig.from_dict({"enable_dsr": True, "feature_gates": "WinDSR=true"})
    cfg.validate()
    assert parse_feature_gates("WinDSR=true,WinOverlay=false") == {
        "WinDSR": True,
        "WinOverlay": False,
    }
    with pytest.raises(KubeProxyConfigError, match="expected NAME=true"):
        parse_feature_gates("WinDSR")
    with pytest.raises(KubeProxyConfigError, match="unknown field"):
        KubeProxyConfig.from_dict({"enableDSR": True})


def test_dsr_needs_a_supporting_hns_version() -> None:
    assert dsr_supported((9, 3)) and dsr_supported((10, 2)) and dsr_supported((13, 2))
    assert not dsr_supported((9, 2)) and not dsr_supported((10, 1))
    with pytest.raises(KubeProxyConfigError, match="DSR is not supported"):
        KubeProxyConfig(
            enable_dsr=True, feature_gates={"WinDSR": True}, hns_version=(10, 1)
        ).validate()


def _config(**kw: object) -> AgentConfig:
    base: dict[str, object] = {
        "nodes": (NodeEntry(NodeSpec(name="win-0"), "/k/win-0", INSTANCE),),
        "hns_target": "127.0.0.1:1",
        "kube_proxy_kubeconfig": "/k/kube-proxy",
    }
    base.update(kw)
    return AgentConfig(**base)  # type: ignore[arg-type]


def test_agent_config_round_trip(tmp_path: Path) -> None:
    cfg = _config(cni=CniSettings(mode="inprocess", concurrency=4))
    path = cfg.write(tmp_path / "agent.json")
    assert path.stat().st_mode & 0o777 == 0o600
    assert AgentConfig.read(path) == cfg


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"nodes": ()}, "at least one node"),
        ({"kube_proxy_kubeconfig": ""}, "kube_proxy_kubeconfig"),
        ({"kube_proxy": {"enable_dsr": True}}, "WinDSR feature gate not enabled"),
        ({"nodes": (NodeEntry(NodeSpec(name="w"), "/k"),)}, "ec2_endpoint"),
        ({"hns_target": ""}, "hns_target"),
    ],
)
def test_agent_config_errors(change: dict[str, object], fragment: str) -> None:
    with pytest.raises((AgentConfigError, KubeProxyConfigError), match=fragment):
        _config(**change)


def test_agent_config_rejects_unknown_keys(tmp_path: Path) -> None:
    data = _config().to_dict()
    data["nodez"] = []
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(AgentConfigError, match="nodez"):
        AgentConfig.read(tmp_path / "a.json")
    with pytest.raises(AgentConfigError, match=r"cni\.mode"):
        CniSettings(mode="shim")


def test_netconf_for_a_node_carries_the_vpc_bridge_keys() -> None:
    conf = build_netconf(CniSettings(), NodeSpec(name="win-0"), INSTANCE, "/k/win-0", "127.0.0.1:1")
    assert conf["type"] == "ekswin-cni" and conf["name"] == "vpc"
    assert conf["eniMACAddress"] == "0a:1b:2c:3d:4e:5f"
    assert conf["eniIPAddresses"] == ["192.168.0.10/19"]
    assert conf["vpcCIDRs"] == ["192.168.0.0/16"]
    assert conf["gatewayIPAddress"] == "192.168.0.1"
    assert conf["hnsHost"] == "win-0" and conf["kubeconfig"] == "/k/win-0"
    assert conf["dns"]["search"][0] == "{%namespace%}.svc.cluster.local"
