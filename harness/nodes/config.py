"""AgentConfig: the JSON the harness writes for ``python -m harness.nodes --config``.

Defined once here (dataclasses <-> JSON), validated strictly: unknown keys are errors
naming the key and the allowed ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.kubeproxy.flags import KubeProxyConfig
from harness.nodes.spec import InstanceInfo, NodeSpec


class AgentConfigError(ValueError):
    """The agent configuration is malformed (message names the field)."""


def _check_keys(where: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(data) - known
    if unknown:
        raise AgentConfigError(
            f"{where}: unknown field(s) {sorted(unknown)}; expected {sorted(known)}"
        )


@dataclass(frozen=True)
class NodeEntry:
    """One node the agent drives: its spec, its EC2 instance and its own kubeconfig."""

    spec: NodeSpec
    kubeconfig: str
    instance: InstanceInfo | None = None  # None: the agent launches it in fake_ec2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "spec": self.spec.to_dict(),
            "kubeconfig": self.kubeconfig,
            "instance": self.instance.to_dict() if self.instance else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeEntry:
        """Parse one ``nodes[]`` entry."""
        _check_keys("nodes[]", data, {"spec", "kubeconfig", "instance"})
        if not data.get("kubeconfig"):
            raise AgentConfigError("nodes[]: kubeconfig is required (the node's own credentials)")
        inst = data.get("instance")
        return cls(
            NodeSpec.from_dict(data["spec"]),
            str(data["kubeconfig"]),
            InstanceInfo.from_dict(inst) if inst else None,
        )


CNI_MODES = ("exec", "exec-direct", "inprocess")


@dataclass(frozen=True)
class CniSettings:
    """How the kubelet emulation calls the CNI plugin, and the netconf it writes."""

    # "exec": exec ekswin-cni like containerd, with the netconf's agentSocket so the
    # binary hands the call to the agent (fast path); "exec-direct": exec without the
    # socket, the binary does all the work itself; "inprocess": no exec, the agent calls
    # the plugin function (very large runs).
    mode: str = "exec"
    # The plugin the kubelet execs. Default: in exec mode the agent installs a fast
    # launcher (``python -S``) into bin_dir; exec-direct execs the venv console script.
    binary: str = ""
    # exec mode: the node's CNI bin dir (its /opt/cni/bin) where the agent installs
    # ekswin-cni at start, and CNI_PATH. Default: cni-bin next to the agent socket.
    bin_dir: str = ""
    # The agent's unix socket for the exec fast path. Default: cni.sock next to the
    # status file, else in a private temporary directory.
    socket_path: str = ""
    netconf_name: str = "vpc"
    cni_version: str = "1.0.0"
    service_cidr: str = "10.96.0.0/16"
    dns_servers: tuple[str, ...] = ("10.96.0.10",)
    dns_search: tuple[str, ...] = (
        "{%namespace%}.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    )
    annotation_timeout_s: float = 60.0
    # CNI calls in flight per agent (containerd runs a node's sandbox set-ups in
    # parallel; this bounds the processes/threads one agent spends on them). An exec'd
    # call waiting for its annotation holds a slot: with the socket fast path a ~10 MB
    # shim process and an agent thread; exec-direct a ~30 MB plugin process and a watch.
    concurrency: int = 64

    def __post_init__(self) -> None:
        if self.mode not in CNI_MODES:
            raise AgentConfigError(
                f"cni.mode: {self.mode!r}, expected one of {', '.join(map(repr, CNI_MODES))}"
            )
        if self.concurrency < 1:
            raise AgentConfigError(f"cni.concurrency: {self.concurrency}, expected >= 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CniSettings:
        """Parse the ``cni`` block."""
        _check_keys("cni", data, set(cls.__dataclass_fields__))
        d = dict(data)
        for k in ("dns_servers", "dns_search"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass(frozen=True)
class AgentConfig:
    """Everything one node agent process needs."""

    nodes: tuple[NodeEntry, ...]
    hns_target: str
    timing_profile: str | Mapping[str, Any] = "fast"
    kube_proxy: Mapping[str, Any] = field(default_factory=dict)  # see KubeProxyConfig
    kube_proxy_enabled: bool = True
    cni: CniSettings = field(default_factory=CniSettings)
    watch_kubeconfig: str = ""  # identity for the shared watches (default: first node's)
    # kube-proxy's own identity (ServiceAccount kube-system/kube-proxy bound to the
    # system:node-proxier ClusterRole, as on EKS): nodes may not list Endpoints.
    kube_proxy_kubeconfig: str = ""
    ec2_endpoint: str = ""
    region: str = "us-west-2"
    seed: int = 0
    api_workers: int = 16
    status_file: str = ""
    windows_build_hns: Mapping[str, str] = field(default_factory=dict)
    # fake_hns CreateHost fields for every node (the port-pool model's parameters:
    # dynamic_port_range [a, b], port_block_size, excluded_port_ranges [[a, b]],
    # host_held_ports, max_non_dsr_backends); empty: fake_hns's defaults.
    hns_host: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nodes:
            raise AgentConfigError("nodes: expected at least one node")
        names = [n.spec.name for n in self.nodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise AgentConfigError(f"nodes: duplicate node name(s) {sorted(dup)}")
        if not self.hns_target:
            raise AgentConfigError("hns_target: expected host:port of fake_hns")
        if any(n.instance is None for n in self.nodes) and not self.ec2_endpoint:
            raise AgentConfigError("ec2_endpoint: required when a node has no instance")
        KubeProxyConfig.from_dict(self.kube_proxy).validate()
        if self.kube_proxy_enabled and not self.kube_proxy_kubeconfig:
            raise AgentConfigError(
                "kube_proxy_kubeconfig: required when kube_proxy_enabled (kube-proxy's own "
                "identity, e.g. harness.kubeproxy.identity.kube_proxy_kubeconfig)"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["nodes"] = [n.to_dict() for n in self.nodes]
        d["cni"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.cni).items()}
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        """Parse and validate the whole config."""
        _check_keys("agent config", data, set(cls.__dataclass_fields__))
        d = dict(data)
        d["nodes"] = tuple(NodeEntry.from_dict(n) for n in data.get("nodes") or [])
        d["cni"] = CniSettings.from_dict(data.get("cni") or {})
        return cls(**d)

    def write(self, path: Path) -> Path:
        """Write as JSON (owner-readable only: it names credential files)."""
        from harness.privfiles import write_private

        return write_private(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def read(cls, path: Path) -> AgentConfig:
        """Read and validate a JSON config file."""
        try:
            data = json.loads(path.read_text())
        except ValueError as e:
            raise AgentConfigError(f"{path}: not JSON: {e}") from e
        return cls.from_dict(data)
