"""The invariants every ekswin environment must hold, as pure rules over plain data.

Each invariant has a stable id (reports, `ekswin status`, scenario results name it):

- ``no-duplicate-ip``: no IPv4 address is held by two running pods, or by a running pod
  and an ENI's primary address;
- ``ip-in-eni``: every running pod's IP lies in a secondary IP or /28 prefix of its
  node's primary ENI;
- ``annotation-podip-hns-agree``: the pod annotation ``vpc.amazonaws.com/PrivateIPv4Address``,
  status.podIP and the node's HNS endpoint agree on the pod's address;
- ``no-leak-after-cooldown``: once every pod is gone from a node and the cool-down has
  passed (the caller says so), its ENI holds exactly the warm pool the ConfigMap asks
  for and HNS holds no pod endpoint: nothing leaked, nothing lost;
- ``capacity-matches-mode``: the node advertises the capacity of its instance type in
  its mode (secondary: IPv4-per-ENI - 1; prefix: that x 16; IPAM off: none);
- ``prefixes-valid``: EC2 holds no prefix that is not an aligned /28 of its subnet,
  overlaps an address, another prefix, a reserved address or an explicit CIDR
  reservation, sits on a non-Nitro instance, or takes an ENI over its address limit;
- ``ip-assigned-by-ec2``: every pod IP annotation names an address EC2 assigned to that
  node's primary ENI.

The state is gathered from the Kubernetes API, EC2 and HNS only (`harness.observe`); the
expected warm pool is derived here from the ConfigMap, independently of the controller's
code, following the public VPC Resource Controller source (aws/amazon-vpc-resource-
controller-k8s at b8d425119bdba371202882b808f202c6073a46cc): pkg/config/loader.go
(parsing, defaults), pkg/condition (IPAM / PD switches), pkg/pool/utils.go (which config
a pool gets) and pkg/pool/pool.go (the reconcile arithmetic, in Go int64).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

IP_RESOURCE = "vpc.amazonaws.com/PrivateIPv4Address"
ANNOTATION = IP_RESOURCE
PREFIX_LENGTH = 28
IPS_PER_PREFIX = 16

INVARIANT_IDS: tuple[str, ...] = (
    "no-duplicate-ip",
    "ip-in-eni",
    "annotation-podip-hns-agree",
    "no-leak-after-cooldown",
    "capacity-matches-mode",
    "prefixes-valid",
    "ip-assigned-by-ec2",
)
COOLDOWN_ONLY = frozenset({"no-leak-after-cooldown"})

Mode = Literal["secondary", "prefix", "unmanaged"]

# ConfigMap keys (pkg/config/type.go).
ENABLE_IPAM = "enable-windows-ipam"
ENABLE_PD = "enable-windows-prefix-delegation"
WARM_IP = ("warm-ip-target", "windows-warm-ip-target")
MIN_IP = ("minimum-ip-target", "windows-minimum-ip-target")
WARM_PREFIX = ("warm-prefix-target", "windows-warm-prefix-target")

# Defaults (pkg/config/loader.go): secondary warm 3 / min 3; prefix warm 1 / min 3 /
# warm-prefix 0.
SECONDARY_DEFAULT = (3, 3, 0)
PREFIX_DEFAULT = (1, 3, 0)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


# ------------------------------------------------------------------------- state
@dataclass(frozen=True)
class Eni:
    """An ENI as EC2 shows it: primary address, secondary addresses, /28 prefixes."""

    eni_id: str
    subnet_id: str
    primary_ip: str
    secondary_ips: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CidrReservation:
    """A subnet CIDR reservation: ``type`` is ``prefix`` or ``explicit``."""

    cidr: str
    type: str


@dataclass(frozen=True)
class Subnet:
    """A subnet with its CIDR reservations and addresses EC2 holds outside any ENI
    (fake_ec2's fragmentation)."""

    subnet_id: str
    cidr: str
    reservations: tuple[CidrReservation, ...] = ()
    occupied: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeState:
    """A Windows node: its instance (type and EC2 limits), primary ENI and capacity."""

    name: str
    instance_id: str
    instance_type: str
    ipv4_per_interface: int  # DescribeInstanceTypes, the primary address included
    nitro: bool
    eni: Eni | None  # None: EC2 shows no primary ENI for the instance
    capacity: int | None = None  # status.capacity[vpc.amazonaws.com/PrivateIPv4Address]


@dataclass(frozen=True)
class PodState:
    """A pod as the Kubernetes API shows it."""

    namespace: str
    name: str
    node: str | None
    phase: str
    pod_ip: str | None = None
    annotation: str | None = None  # vpc.amazonaws.com/PrivateIPv4Address
    host_network: bool = False
    terminating: bool = False  # metadata.deletionTimestamp is set
    # Bound to a Node that no longer exists (its instance was terminated): no host runs
    # it and its address went back to the subnet with the ENI; the pod garbage
    # collector deletes it. It holds no address, whatever its stale status says.
    orphaned: bool = False

    @property
    def key(self) -> str:
        """namespace/name."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class HnsEndpoint:
    """An HNS endpoint of a node; ``remote`` ones (kube-proxy's) hold no pod."""

    node: str
    name: str
    ips: tuple[str, ...]
    remote: bool = False


@dataclass(frozen=True)
class ClusterState:
    """Everything the invariants read. ``enis`` lists every ENI EC2 holds (the nodes'
    ones included); ``configmap`` is the data of kube-system/amazon-vpc-cni, None when
    the ConfigMap does not exist."""

    nodes: tuple[NodeState, ...] = ()
    pods: tuple[PodState, ...] = ()
    hns_endpoints: tuple[HnsEndpoint, ...] = ()
    subnets: tuple[Subnet, ...] = ()
    enis: tuple[Eni, ...] = ()
    configmap: Mapping[str, str] | None = field(default=None, hash=False)
    prefix_delegation_flag: bool = True  # the controller's --enable-windows-prefix-delegation


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its id, the node concerned (None: not one node's) and why."""

    id: str
    node: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.id} ({self.node or 'cluster'}): {self.message}"


# -------------------------------------------------------------- Go parsing rules
def go_parse_bool(text: str) -> bool | None:
    """strconv.ParseBool: True / False, or None where Go returns an error."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    return None


def go_atoi(text: str) -> tuple[int, bool]:
    """strconv.Atoi on 64 bits: (value, ok). A syntax error ("", " 4", "4.0", "0x10")
    gives (0, False); out of range gives the clamped int64 bound and False; "+4" parses."""
    negative = text[:1] == "-"
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body:
        return 0, False
    value = 0
    for ch in body:
        if not "0" <= ch <= "9":
            return 0, False
        value = value * 10 + (ord(ch) - 48)
        if value > _UINT64_MAX:  # ParseUint stops at the first overflow: a range error
            break
    if negative:
        return (-value, True) if -value >= _INT64_MIN else (_INT64_MIN, False)
    return (value, True) if value <= _INT64_MAX else (_INT64_MAX, False)


def _wrap(x: int) -> int:
    """Go int64 arithmetic wraps."""
    return (x - _INT64_MIN) % 2**64 + _INT64_MIN


def _ceil_div(x: int, y: int) -> int:
    """utils.CeilDivision: (x + y - 1) / y in int64, truncating toward zero."""
    n = _wrap(x + y - 1)
    q = abs(n) // y
    return q if n >= 0 else -q


# ------------------------------------------------------------- expected warm pool
@dataclass(frozen=True)
class PoolTargets:
    """The targets a node's active pool gets from the ConfigMap (before the pool's own
    normalisation of zero / negative values)."""

    warm_ip: int
    minimum_ip: int
    warm_prefix: int


@dataclass(frozen=True)
class ExpectedPool:
    """What a node's primary ENI holds once its pool has settled."""

    mode: Mode
    secondary_ips: int
    prefixes: int


def ipam_enabled(configmap: Mapping[str, str] | None) -> bool:
    """IsWindowsIPAMEnabled: ``enable-windows-ipam`` parses true with strconv.ParseBool."""
    return bool(configmap) and go_parse_bool((configmap or {}).get(ENABLE_IPAM, "")) is True


def node_mode(
    configmap: Mapping[str, str] | None, *, nitro: bool, prefix_delegation_flag: bool = True
) -> Mode:
    """IPAM off -> unmanaged; PD (controller flag + ConfigMap key) on a Nitro node ->
    prefix; otherwise secondary (a non-Nitro node in a PD cluster falls back)."""
    if not ipam_enabled(configmap):
        return "unmanaged"
    pd = go_parse_bool((configmap or {}).get(ENABLE_PD, "")) is True
    return "prefix" if prefix_delegation_flag and pd and nitro else "secondary"


def _lookup(data: Mapping[str, str], keys: tuple[str, str]) -> str | None:
    """The plain key wins whenever present (even empty or invalid), else its twin."""
    for key in keys:
        if key in data:
            return data[key]
    return None


def pool_targets(configmap: Mapping[str, str] | None, mode: Mode) -> PoolTargets:
    """ParseWinIPTargetConfigs + LoadResourceConfigFromConfigMap + GetWinWarmPoolConfig:
    the targets of the pool of ``mode``. Targets set for PD are stored for the prefix pool
    only, so a secondary pool in a PD cluster keeps the defaults."""
    data = configmap or {}
    if not data:
        return PoolTargets(*(PREFIX_DEFAULT if mode == "prefix" else SECONDARY_DEFAULT))
    pd = go_parse_bool(data.get(ENABLE_PD, "")) is True
    warm_text, min_text, prefix_text = (_lookup(data, k) for k in (WARM_IP, MIN_IP, WARM_PREFIX))
    warm, minimum, warm_prefix = 0, 0, 0
    if warm_text is not None:
        warm, ok = go_atoi(warm_text)
        if ok and warm == 0 and not pd:
            warm = 1  # an explicit 0 in secondary mode: the warm pool is never empty
    if min_text is not None:
        minimum, _ = go_atoi(min_text)
    if pd and prefix_text is not None:
        warm_prefix, _ = go_atoi(prefix_text)
    if warm == 0 and minimum == 0:
        if pd and warm_prefix == 0:
            warm, minimum, warm_prefix = PREFIX_DEFAULT
        elif not pd:
            warm, minimum = SECONDARY_DEFAULT[:2]
    secondary, prefix = SECONDARY_DEFAULT, PREFIX_DEFAULT
    if (warm, minimum, warm_prefix) != (0, 0, 0):
        if pd:
            prefix = (warm, minimum, warm_prefix)
        else:
            secondary = (warm, minimum, SECONDARY_DEFAULT[2])
    return PoolTargets(*(prefix if mode == "prefix" else secondary))


def _secondary_deviation(t: PoolTargets, used: int, warm: int) -> int:
    """calculateSecondaryIPDeviation (nothing pending or cooling)."""
    warm_target = t.warm_ip if t.warm_ip >= 0 else SECONDARY_DEFAULT[0]
    min_target = t.minimum_ip if t.minimum_ip >= 0 else SECONDARY_DEFAULT[1]
    assigned = used + warm
    short = max(warm_target - warm, 0, min_target - assigned)
    over = max(min(max(warm - warm_target, 0), assigned - min_target), 0)
    return short - over


def _prefix_deviation(t: PoolTargets, used: int, groups: Sequence[int]) -> int:
    """getPDDeviation (nothing pending or cooling), in addresses."""
    warm_ip, min_ip, warm_prefix = t.warm_ip, t.minimum_ip, t.warm_prefix
    has_warm, has_min, has_prefix = warm_ip > 0, min_ip > 0, warm_prefix > 0
    if not has_warm and (has_min or not has_prefix):
        warm_ip = PREFIX_DEFAULT[0]
    if not has_min and (has_warm or not has_prefix):
        min_ip = PREFIX_DEFAULT[1]
    free_prefixes = sum(1 for g in groups if g == IPS_PER_PREFIX)
    if not has_warm and not has_min and has_prefix:
        return _wrap((warm_prefix - free_prefixes) * IPS_PER_PREFIX)
    current = _ceil_div(used + sum(groups), IPS_PER_PREFIX)
    for_warm = _ceil_div(_wrap(used + warm_ip), IPS_PER_PREFIX)
    for_min = _ceil_div(min_ip, IPS_PER_PREFIX)
    deviation = (for_warm if for_warm >= for_min else for_min) - current
    if deviation < 0 and free_prefixes == 0:
        deviation = 0
    return _wrap(deviation * IPS_PER_PREFIX)


def _reconcile(t: PoolTargets, prefix: bool, capacity: int, used: int, groups: list[int]) -> bool:
    """One ReconcilePool step applied at once; False when it leaves the pool alone."""
    size = IPS_PER_PREFIX if prefix else 1
    if used == capacity:
        return False
    if prefix:
        deviation = _prefix_deviation(t, used, groups)
    else:
        deviation = _secondary_deviation(t, used, sum(groups))
    if deviation > 0:
        room = capacity - used - sum(groups)
        if room == 0:
            return False
        count = min(deviation, room) // size
        groups.extend([size] * count)
        return count > 0
    surplus = _wrap(-deviation)
    free = [i for i, g in enumerate(groups) if g == size]
    if surplus <= 0 or not free:
        return False
    drop = set(free[: min(len(free), -(-surplus // size))])
    groups[:] = [g for i, g in enumerate(groups) if i not in drop]
    return True


def expected_capacity(mode: Mode, ipv4_per_interface: int) -> int | None:
    """The node capacity the controller advertises: None when IPAM is off."""
    if mode == "unmanaged":
        return None
    per_eni = ipv4_per_interface - 1  # the ENI's primary address is the node's own
    return per_eni * IPS_PER_PREFIX if mode == "prefix" else per_eni


def expected_warm_pool(
    configmap: Mapping[str, str] | None,
    *,
    nitro: bool,
    ipv4_per_interface: int,
    pods: int = 0,
    prefix_delegation_flag: bool = True,
) -> ExpectedPool | None:
    """What a node's ENI settles at with ``pods`` pods (each placed after the pool settled,
    taking an address from the prefix with the fewest free ones, as a fresh node fills),
    nothing cooling down. None when IPAM is off: the controller manages no pool then."""
    mode = node_mode(configmap, nitro=nitro, prefix_delegation_flag=prefix_delegation_flag)
    capacity = expected_capacity(mode, ipv4_per_interface)
    if capacity is None:
        return None
    targets = pool_targets(configmap, mode)
    prefix = mode == "prefix"
    groups: list[int] = []  # free addresses per group (a secondary IP, or a /28)
    # Each step adds or drops at least one group, bounded by the capacity: a bound that
    # only a non-converging (int64-wrapped) configuration could reach.
    steps = 4 * (ipv4_per_interface + 2)

    def settle(used: int) -> None:
        for _ in range(steps):
            if not _reconcile(targets, prefix, capacity, used, groups):
                return

    settle(0)
    for placed in range(1, pods + 1):
        candidates = [i for i, g in enumerate(groups) if g > 0]
        if not candidates:
            break  # no free address: the pod waits
        groups[min(candidates, key=lambda i: groups[i])] -= 1
        settle(placed)
    return ExpectedPool(
        mode, secondary_ips=0 if prefix else len(groups), prefixes=len(groups) if prefix else 0
    )


# ------------------------------------------------------------------- the checks
def _ip(text: str | None) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text or "")
    except ValueError:
        return None


def annotation_ip(value: str | None) -> ipaddress.IPv4Address | None:
    """The address of an annotation value ``IP/<prefix length>``; None when malformed."""
    if not value:
        return None
    try:
        return ipaddress.IPv4Interface(value).ip
    except ValueError:
        return None


def _holds_address(pod: PodState) -> bool:
    """A running pod on the pod network (of a node that exists)."""
    return pod.phase == "Running" and not pod.host_network and bool(pod.pod_ip) and not pod.orphaned


def _live(pod: PodState) -> bool:
    """A pod whose address the controller still counts as used."""
    return pod.phase not in ("Succeeded", "Failed") and not pod.host_network and not pod.orphaned


def _eni_holds(eni: Eni | None, ip: ipaddress.IPv4Address) -> bool:
    if eni is None:
        return False
    if any(_ip(s) == ip for s in eni.secondary_ips):
        return True
    for p in eni.prefixes:
        try:
            if ip in ipaddress.IPv4Network(p, strict=False):
                return True
        except ValueError:
            continue
    return False


def _all_enis(state: ClusterState) -> list[Eni]:
    seen: dict[str, Eni] = {e.eni_id: e for e in state.enis}
    for n in state.nodes:
        if n.eni is not None:
            seen[n.eni.eni_id] = n.eni  # the describe view of a node's ENI wins
    return list(seen.values())


def _check_no_duplicate_ip(state: ClusterState) -> list[Violation]:
    out: list[Violation] = []
    primaries: dict[ipaddress.IPv4Address, str] = {}
    for eni in _all_enis(state):
        ip = _ip(eni.primary_ip)
        if ip is not None:
            primaries[ip] = eni.eni_id
    holders: dict[ipaddress.IPv4Address, list[PodState]] = defaultdict(list)
    for pod in state.pods:
        ip = _ip(pod.pod_ip) if _holds_address(pod) else None
        if ip is not None:
            holders[ip].append(pod)
    for ip, pods in sorted(holders.items()):
        if len(pods) > 1:
            names = ", ".join(f"{p.key} on {p.node}" for p in pods)
            out.append(Violation("no-duplicate-ip", pods[0].node, f"{ip} held by {names}"))
        if ip in primaries:
            out.extend(
                Violation(
                    "no-duplicate-ip",
                    p.node,
                    f"{ip} of pod {p.key} is the primary address of {primaries[ip]}",
                )
                for p in pods
            )
    return out


def _check_ip_in_eni(state: ClusterState) -> list[Violation]:
    nodes = {n.name: n for n in state.nodes}
    out: list[Violation] = []
    for pod in state.pods:
        node = nodes.get(pod.node or "")
        ip = _ip(pod.pod_ip)
        if node is None or not _holds_address(pod):
            continue
        if ip is None:
            out.append(
                Violation("ip-in-eni", node.name, f"pod {pod.key}: podIP {pod.pod_ip!r} not IPv4")
            )
        elif not _eni_holds(node.eni, ip):
            where = node.eni.eni_id if node.eni else "no primary ENI"
            out.append(
                Violation(
                    "ip-in-eni",
                    node.name,
                    f"pod {pod.key}: {ip} is neither a secondary IP nor in a prefix of {where}",
                )
            )
    return out


def _check_agree(state: ClusterState) -> list[Violation]:
    nodes = {n.name for n in state.nodes}
    local: dict[str, set[ipaddress.IPv4Address]] = defaultdict(set)
    for ep in state.hns_endpoints:
        if not ep.remote:
            local[ep.node].update(ip for ip in map(_ip, ep.ips) if ip is not None)
    out: list[Violation] = []
    for pod in state.pods:
        # A terminating pod's endpoint may already be gone (CNI DEL precedes removal).
        if pod.node not in nodes or not _holds_address(pod) or pod.terminating:
            continue
        ip = _ip(pod.pod_ip)
        annotated = annotation_ip(pod.annotation)
        problems = []
        if pod.annotation is None:
            problems.append(f"no {ANNOTATION} annotation")
        elif annotated is None:
            problems.append(f"annotation {pod.annotation!r} is not IP/<prefix length>")
        elif annotated != ip:
            problems.append(f"annotation {pod.annotation} but podIP {pod.pod_ip}")
        if ip is not None and ip not in local[pod.node or ""]:
            problems.append(f"no HNS endpoint with {ip} on {pod.node}")
        out.extend(
            Violation("annotation-podip-hns-agree", pod.node, f"pod {pod.key}: {p}")
            for p in problems
        )
    return out


def _check_no_leak(state: ClusterState) -> list[Violation]:
    out: list[Violation] = []
    busy = {p.node for p in state.pods if _live(p) and p.node}
    for node in state.nodes:
        if node.name in busy:
            continue  # only a node without pods has a single expected pool
        leftover = [
            ep.name or ",".join(ep.ips)
            for ep in state.hns_endpoints
            if ep.node == node.name and not ep.remote
        ]
        if leftover:
            out.append(
                Violation(
                    "no-leak-after-cooldown",
                    node.name,
                    f"HNS still holds {len(leftover)} pod endpoint(s): {', '.join(leftover)}",
                )
            )
        want = expected_warm_pool(
            state.configmap,
            nitro=node.nitro,
            ipv4_per_interface=node.ipv4_per_interface,
            prefix_delegation_flag=state.prefix_delegation_flag,
        )
        if want is None:
            continue  # IPAM off: the controller manages no pool
        eni = node.eni
        have = (len(eni.secondary_ips), len(eni.prefixes)) if eni else (0, 0)
        if have != (want.secondary_ips, want.prefixes):
            out.append(
                Violation(
                    "no-leak-after-cooldown",
                    node.name,
                    f"{want.mode} mode with no pods: ENI holds {have[0]} secondary IP(s) and "
                    f"{have[1]} prefix(es), the ConfigMap asks for {want.secondary_ips} and "
                    f"{want.prefixes}",
                )
            )
    return out


def _check_capacity(state: ClusterState) -> list[Violation]:
    out: list[Violation] = []
    for node in state.nodes:
        mode = node_mode(
            state.configmap, nitro=node.nitro, prefix_delegation_flag=state.prefix_delegation_flag
        )
        want = expected_capacity(mode, node.ipv4_per_interface)
        reachable = _reachable_capacity(node, mode)
        if node.capacity == want and want is not None and reachable is not None:
            if reachable < want:
                eni = node.eni
                assert eni is not None
                other = (
                    f"{len(eni.secondary_ips)} secondary IPs"
                    if mode == "prefix"
                    else f"{len(eni.prefixes)} /28 prefixes"
                )
                out.append(
                    Violation(
                        "capacity-matches-mode",
                        node.name,
                        f"{IP_RESOURCE} capacity {want} advertised in {mode} mode, but the ENI "
                        f"can hold at most {reachable}: {other} of the other mode still "
                        f"take address slots (the mode switch caveat)",
                    )
                )
            continue
        if node.capacity != want:
            shown = "none" if node.capacity is None else str(node.capacity)
            wanted = "none" if want is None else str(want)
            out.append(
                Violation(
                    "capacity-matches-mode",
                    node.name,
                    f"{IP_RESOURCE} capacity {shown}, expected {wanted} for {node.instance_type} "
                    f"({node.ipv4_per_interface} IPv4 per ENI, "
                    f"{'Nitro' if node.nitro else 'not Nitro'}) in {mode} mode",
                )
            )
    return out


def _reachable_capacity(node: NodeState, mode: Mode) -> int | None:
    """Pod IPs the ENI can really give in `mode` while it still holds addresses of the
    other mode (after a secondary<->PD switch with pods running); None when not mixed."""
    eni = node.eni
    if eni is None or mode == "unmanaged":
        return None
    slots = node.ipv4_per_interface - 1  # the primary IP takes one
    if mode == "prefix" and eni.secondary_ips:
        return (slots - len(eni.secondary_ips)) * IPS_PER_PREFIX + len(eni.secondary_ips)
    if mode == "secondary" and eni.prefixes:
        return (slots - len(eni.prefixes)) + len(eni.prefixes) * IPS_PER_PREFIX
    return None


def _subnet_reserved(cidr: ipaddress.IPv4Network) -> list[ipaddress.IPv4Address]:
    """AWS reserves a subnet's first four addresses and its last one."""
    first = int(cidr.network_address)
    return [ipaddress.IPv4Address(first + i) for i in range(4)] + [cidr.broadcast_address]


def _check_prefixes(state: ClusterState) -> list[Violation]:
    out: list[Violation] = []
    enis = _all_enis(state)
    owner = {n.eni.eni_id: n for n in state.nodes if n.eni is not None}
    subnets = {s.subnet_id: s for s in state.subnets}
    singles: dict[ipaddress.IPv4Address, str] = {}
    for eni in enis:
        for text in (eni.primary_ip, *eni.secondary_ips):
            ip = _ip(text)
            if ip is not None:
                singles[ip] = eni.eni_id
    held: list[tuple[ipaddress.IPv4Network, str]] = []
    for eni in enis:
        node = owner.get(eni.eni_id)
        where = node.name if node else None

        def bad(msg: str, eni: Eni = eni, where: str | None = where) -> None:
            out.append(Violation("prefixes-valid", where, f"{eni.eni_id}: {msg}"))

        if node is not None:
            total = 1 + len(eni.secondary_ips) + len(eni.prefixes)
            if total > node.ipv4_per_interface:
                bad(
                    f"primary + {len(eni.secondary_ips)} secondary IP(s) + {len(eni.prefixes)} "
                    f"prefix(es) = {total} > {node.ipv4_per_interface}, the limit of "
                    f"{node.instance_type}"
                )
            if eni.prefixes and not node.nitro:
                bad(f"holds prefixes on {node.instance_type}, which is not Nitro")
        subnet = subnets.get(eni.subnet_id)
        subnet_net = None
        if subnet is not None:
            try:
                subnet_net = ipaddress.IPv4Network(subnet.cidr)
            except ValueError:
                subnet_net = None
        for text in eni.prefixes:
            try:
                net = ipaddress.IPv4Network(text)
            except ValueError:
                bad(f"prefix {text} is not an aligned IPv4 network")
                continue
            if net.prefixlen != PREFIX_LENGTH:
                bad(f"prefix {text} is not a /{PREFIX_LENGTH}")
                continue
            for other, other_eni in held:
                if net.overlaps(other):
                    bad(f"prefix {net} overlaps prefix {other} of {other_eni}")
            held.append((net, eni.eni_id))
            for ip, holder in sorted(singles.items()):
                if ip in net:
                    bad(f"prefix {net} contains {ip}, an address of {holder}")
            if subnet is None or subnet_net is None:
                continue
            if not net.subnet_of(subnet_net):
                bad(f"prefix {net} lies outside subnet {subnet.subnet_id} {subnet.cidr}")
                continue
            reserved = [ip for ip in _subnet_reserved(subnet_net) if ip in net]
            if reserved:
                bad(f"prefix {net} contains AWS-reserved {', '.join(map(str, reserved))}")
            for r in subnet.reservations:
                try:
                    rnet = ipaddress.IPv4Network(r.cidr, strict=False)
                except ValueError:
                    continue
                if r.type == "explicit" and net.overlaps(rnet):
                    bad(f"prefix {net} overlaps explicit CIDR reservation {r.cidr}")
            occupied = [ip for ip in map(_ip, subnet.occupied) if ip is not None and ip in net]
            if occupied:
                bad(f"prefix {net} contains occupied {', '.join(map(str, occupied))}")
    return out


def _check_assigned_by_ec2(state: ClusterState) -> list[Violation]:
    nodes = {n.name: n for n in state.nodes}
    out: list[Violation] = []
    for pod in state.pods:
        node = nodes.get(pod.node or "")
        if node is None or pod.annotation is None or not _live(pod):
            continue
        ip = annotation_ip(pod.annotation)
        if ip is None:
            msg = f"pod {pod.key}: annotation {pod.annotation!r} is not IP/<prefix length>"
        elif not _eni_holds(node.eni, ip):
            where = node.eni.eni_id if node.eni else "its node (no primary ENI)"
            msg = f"pod {pod.key}: annotated {ip} is not assigned by EC2 to {where}"
        else:
            continue
        out.append(Violation("ip-assigned-by-ec2", node.name, msg))
    return out


_CHECKS = {
    "no-duplicate-ip": _check_no_duplicate_ip,
    "ip-in-eni": _check_ip_in_eni,
    "annotation-podip-hns-agree": _check_agree,
    "no-leak-after-cooldown": _check_no_leak,
    "capacity-matches-mode": _check_capacity,
    "prefixes-valid": _check_prefixes,
    "ip-assigned-by-ec2": _check_assigned_by_ec2,
}


def checked_ids(*, cooldown_passed: bool = False) -> tuple[str, ...]:
    """The invariants `check` evaluates: no-leak-after-cooldown only once the caller says
    the cool-down has passed."""
    return tuple(i for i in INVARIANT_IDS if cooldown_passed or i not in COOLDOWN_ONLY)


def check(state: ClusterState, *, cooldown_passed: bool = False) -> list[Violation]:
    """Every violation in ``state``, in INVARIANT_IDS order. ``cooldown_passed``: the
    cool-down has passed since the last pod left a node, so nodes without pods must hold
    exactly their configured warm pool."""
    out: list[Violation] = []
    for inv in checked_ids(cooldown_passed=cooldown_passed):
        out.extend(_CHECKS[inv](state))
    return out


def summary_line(violations: Iterable[Violation], *, cooldown_passed: bool = False) -> str:
    """``invariants hold (N checked)`` or ``invariants broken: <id> (<nodes>), ...``."""
    by_id: dict[str, list[str]] = {}
    for v in violations:
        nodes = by_id.setdefault(v.id, [])
        name = v.node or "cluster"
        if name not in nodes:
            nodes.append(name)
    if not by_id:
        return f"invariants hold ({len(checked_ids(cooldown_passed=cooldown_passed))} checked)"
    order = {inv: i for i, inv in enumerate(INVARIANT_IDS)}
    parts = [
        f"{inv} ({', '.join(sorted(nodes))})"
        for inv, nodes in sorted(by_id.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]
    return "invariants broken: " + ", ".join(parts)


def report(violations: Iterable[Violation]) -> dict[str, Any]:
    """The report's ``invariants`` key: ``{"ok": bool, "violations": [{id, node, message}]}``."""
    items = [{"id": v.id, "node": v.node, "message": v.message} for v in violations]
    return {"ok": not items, "violations": items}
