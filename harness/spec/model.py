"""The environment spec as typed, frozen data (parsed from the validated document)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.spec.timing import Timing, resolve

DEFAULT_VPC_CIDR = "192.168.0.0/16"
DEFAULT_SUBNET_CIDR = "192.168.0.0/19"
DEFAULT_AZ = "us-west-2a"
DEFAULT_INSTANCE_TYPE = "m5.large"
DEFAULT_MAX_PODS = 110
DEFAULT_WINDOWS_BUILD = "10.0.17763"
DEFAULT_SERVICE_CIDR = "10.96.0.0/16"
REGION = "us-west-2"


@dataclass(frozen=True)
class Reservation:
    """A subnet CIDR reservation (EC2 CreateSubnetCidrReservation)."""

    cidr: str
    type: str = "prefix"


@dataclass(frozen=True)
class Fragment:
    """Occupy one address in every `every`-address block of a subnet, at `offset`."""

    every: int
    offset: int = 0


@dataclass(frozen=True)
class Subnet:
    """One subnet of the VPC."""

    name: str
    cidr: str
    az: str = DEFAULT_AZ
    reservations: tuple[Reservation, ...] = ()
    fragment: Fragment | None = None


@dataclass(frozen=True)
class Vpc:
    """The VPC and its subnets."""

    cidr: str = DEFAULT_VPC_CIDR
    subnets: tuple[Subnet, ...] = (Subnet("a", DEFAULT_SUBNET_CIDR),)

    def subnet(self, name: str) -> Subnet:
        """The subnet called `name` (KeyError when absent)."""
        for s in self.subnets:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class NodeGroup:
    """`count` Windows nodes of one instance type in one subnet."""

    name: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    subnet: str = ""  # "" = the VPC's first subnet
    count: int = 1
    max_pods: int = DEFAULT_MAX_PODS
    windows_build: str = DEFAULT_WINDOWS_BUILD

    @classmethod
    def from_dict(cls, g: Mapping[str, Any]) -> NodeGroup:
        """From a validated `nodes` entry (or an `add_nodes` step)."""
        return cls(
            name=g["name"],
            instance_type=g.get("instance_type", DEFAULT_INSTANCE_TYPE),
            subnet=g.get("subnet", ""),
            count=int(g.get("count", 1)),
            max_pods=int(g.get("max_pods", DEFAULT_MAX_PODS)),
            windows_build=g.get("windows_build", DEFAULT_WINDOWS_BUILD),
        )

    def node_names(self) -> list[str]:
        """`name` alone for one node, else `name-0` … `name-<count-1>` (SCENARIOS.md)."""
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.count)]


@dataclass(frozen=True)
class KubeProxy:
    """The winkernel kube-proxy emulation's settings."""

    dsr: bool = False
    sync_period_s: float = 30.0
    min_sync_period_s: float = 1.0


@dataclass(frozen=True)
class Hns:
    """Every node's HNS port-pool model parameters (None: fake_hns's documented default)."""

    dynamic_port_range: tuple[int, int] | None = None
    port_block_size: int | None = None
    excluded_port_ranges: tuple[tuple[int, int], ...] = ()
    host_held_ports: tuple[int, ...] = ()
    max_non_dsr_backends: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The set parameters only (spec form; also fake_hns CreateHost fields)."""
        h = self
        d: dict[str, Any] = {}
        if h.dynamic_port_range is not None:
            d["dynamic_port_range"] = list(h.dynamic_port_range)
        if h.port_block_size is not None:
            d["port_block_size"] = h.port_block_size
        if h.excluded_port_ranges:
            d["excluded_port_ranges"] = [list(r) for r in h.excluded_port_ranges]
        if h.host_held_ports:
            d["host_held_ports"] = list(h.host_held_ports)
        if h.max_non_dsr_backends is not None:
            d["max_non_dsr_backends"] = h.max_non_dsr_backends
        return d


@dataclass(frozen=True)
class Controller:
    """The VPC Resource Controller's process options."""

    replicas: int = 1
    log_level: str = "INFO"
    flags: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    implementation: str = "python"  # or "upstream": the real binary (harness/upstream)
    cidr_exhaustion: str = "real"  # real | intended (docs/fidelity.md)

    def extra_argv(self) -> list[str]:
        """`cidr_exhaustion`, then `flags`, as command-line arguments (`--name=value`)."""
        out = [f"--cidr-exhaustion={self.cidr_exhaustion}"]
        for name, value in self.flags.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            out.append(f"--{name}={text}")
        return out


@dataclass(frozen=True)
class NodeAgent:
    """The node agent's options."""

    cni_mode: str = "exec"
    service_cidr: str = DEFAULT_SERVICE_CIDR
    cni_concurrency: int = 64
    kube_proxy: bool = True


@dataclass(frozen=True)
class Supervision:
    """Which components the harness restarts when they die (all, unless turned off)."""

    restart: Mapping[str, bool] = field(default_factory=dict)

    def restarts(self, component: str) -> bool:
        """True when a dead `component` is restarted (with back-off)."""
        return bool(self.restart.get(component, True))


@dataclass(frozen=True)
class EnvSpec:
    """One environment, exactly as a scenario file describes it minus its steps."""

    version: int = 1
    name: str = ""
    seed: int = 0
    backend: str = "auto"
    timing: Timing = field(default_factory=lambda: resolve("real"))
    vpc: Vpc = field(default_factory=Vpc)
    configmap: Mapping[str, str] | None = None
    nodes: tuple[NodeGroup, ...] = ()
    kube_proxy: KubeProxy = field(default_factory=KubeProxy)
    hns: Hns = field(default_factory=Hns)
    controller: Controller = field(default_factory=Controller)
    node_agent: NodeAgent = field(default_factory=NodeAgent)
    supervision: Supervision = field(default_factory=Supervision)

    # -- derived views ----------------------------------------------------------------
    def node_names(self) -> list[str]:
        """Every node name, in spec order."""
        return [n for g in self.nodes for n in g.node_names()]

    def node_count(self) -> int:
        """How many Windows nodes the spec asks for."""
        return sum(g.count for g in self.nodes)

    def has_pipeline(self) -> bool:
        """True when anything beyond the bare control plane is asked for."""
        return bool(self.nodes) or self.configmap is not None

    def ipam_enabled(self) -> bool:
        """enable-windows-ipam parses true as Go's strconv.ParseBool does (FACTS.md)."""
        value = (self.configmap or {}).get("enable-windows-ipam", "")
        return value in ("1", "t", "T", "true", "TRUE", "True")

    def prefix_delegation_flag(self) -> bool:
        """The controller's --enable-windows-prefix-delegation (EKS and the harness: on)."""
        value = self.controller.flags.get("enable-windows-prefix-delegation", True)
        return value if isinstance(value, bool) else str(value).lower() in ("1", "t", "true")

    def subnet_of(self, group: NodeGroup) -> Subnet:
        """The subnet a node group launches into."""
        return self.vpc.subnet(group.subnet) if group.subnet else self.vpc.subnets[0]

    def with_timing(self, profile: str) -> EnvSpec:
        """The same spec with its timing profile replaced (``--timing``), overrides kept."""
        from dataclasses import replace

        overrides = self.timing.overrides()
        return replace(self, timing=resolve({"profile": profile, **_listify(overrides)}))

    def to_dict(self) -> dict[str, Any]:
        """The spec document (resolved: every field present, timing as written)."""
        out: dict[str, Any] = {
            "version": self.version,
            "name": self.name,
            "seed": self.seed,
            "backend": self.backend,
            "timing": self.timing.to_spec(),
            "vpc": {
                "cidr": self.vpc.cidr,
                "subnets": [_subnet_dict(s) for s in self.vpc.subnets],
            },
            "configmap": dict(self.configmap) if self.configmap is not None else None,
            "nodes": [
                {
                    "name": g.name,
                    "instance_type": g.instance_type,
                    "subnet": g.subnet or self.vpc.subnets[0].name,
                    "count": g.count,
                    "max_pods": g.max_pods,
                    "windows_build": g.windows_build,
                }
                for g in self.nodes
            ],
            "kube_proxy": {
                "dsr": self.kube_proxy.dsr,
                "sync_period_s": self.kube_proxy.sync_period_s,
                "min_sync_period_s": self.kube_proxy.min_sync_period_s,
            },
            "hns": self.hns.to_dict(),
            "controller": {
                "replicas": self.controller.replicas,
                "implementation": self.controller.implementation,
                "log_level": self.controller.log_level,
                "cidr_exhaustion": self.controller.cidr_exhaustion,
                "flags": dict(self.controller.flags),
            },
            "node_agent": {
                "cni_mode": self.node_agent.cni_mode,
                "service_cidr": self.node_agent.service_cidr,
                "cni_concurrency": self.node_agent.cni_concurrency,
                "kube_proxy": self.node_agent.kube_proxy,
            },
            "supervision": {"restart": dict(self.supervision.restart)},
        }
        if not out["name"]:
            del out["name"]
        return out


def _listify(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _subnet_dict(s: Subnet) -> dict[str, Any]:
    d: dict[str, Any] = {"name": s.name, "cidr": s.cidr, "az": s.az}
    if s.reservations:
        d["reservations"] = [{"cidr": r.cidr, "type": r.type} for r in s.reservations]
    if s.fragment is not None:
        d["fragment"] = {"every": s.fragment.every, "offset": s.fragment.offset}
    return d


def network(cidr: str) -> ipaddress.IPv4Network:
    """An IPv4 network from text (ValueError when it is not one, or has host bits set)."""
    return ipaddress.IPv4Network(cidr, strict=True)
