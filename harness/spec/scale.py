"""How big an environment is, as plain rules over plain data: what a node takes from its
subnet, whether a subnet holds the nodes given to it, the default subnet for a node
count, how many node-agent shards drive the nodes and how long starting them may take.

Address accounting (FACTS.md, fake_ec2/allocator.py): AWS reserves the first four and
the last address of a subnet; each node takes its primary ENI address, then the
controller's initial warm pool (secondary mode: single addresses; prefix mode: whole
aligned /28 blocks). A block with any address taken (a primary, a reserved one) can no
longer become a prefix. fake_ec2 hands out the lowest free address, so primaries pack
16 to a block; real EC2 does not place them in order, so in the worst case every
primary breaks its own block. The check of a spec uses fake_ec2's packing (it refuses
only what cannot start); the default layout leaves room for the worst case.
Fragmentation and CIDR reservations are what scenarios study and are not counted.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.spec.timing import Timing

BLOCK = 16  # addresses in a /28 prefix
AWS_RESERVED = 5  # first four and last address of every subnet
DEFAULT_MIN_PREFIXLEN = 19  # the documented default /19 (never smaller)
VPC_MAX_PREFIXLEN = 16  # EC2: a VPC CIDR block is /16 to /28

# Node agent shards: one per this many nodes, at most one per core.
NODES_PER_SHARD = 200

# Start-up deadline: a fixed part, a part per node (EC2 instance, certificate, HNS host,
# Node + Lease, the controller's ENI set-up: measured ~0.2 s per node on 2 cores; 0.5 s
# leaves room for a shared machine), and the time the controller's client rate limits
# force: per node it makes about this many EC2 calls (DescribeInstances, the ENI, the
# subnet, AssignPrivateIpAddresses) and Kubernetes writes (capacity, events).
READY_BASE_S = 60.0
READY_PER_NODE_S = 0.5
EC2_CALLS_PER_NODE = 4
API_WRITES_PER_NODE = 2
RATE_MARGIN = 1.5


@dataclass(frozen=True)
class NodeNeed:
    """What one node takes from its subnet when it starts: single addresses (its primary
    and secondary IPs) and /28 prefixes."""

    addresses: int
    prefixes: int = 0


def node_need(
    configmap: Mapping[str, str] | None,
    *,
    nitro: bool,
    ipv4_per_interface: int,
    prefix_delegation_flag: bool = True,
) -> NodeNeed:
    """The primary address plus the initial warm pool the controller asks EC2 for."""
    from harness.invariants import expected_warm_pool

    pool = expected_warm_pool(
        configmap,
        nitro=nitro,
        ipv4_per_interface=ipv4_per_interface,
        prefix_delegation_flag=prefix_delegation_flag,
    )
    if pool is None:  # IPAM off: the primary only
        return NodeNeed(1)
    return NodeNeed(1 + pool.secondary_ips, pool.prefixes)


def total(needs: Iterable[NodeNeed]) -> NodeNeed:
    """The sum of several nodes' needs."""
    a = p = 0
    for n in needs:
        a, p = a + n.addresses, p + n.prefixes
    return NodeNeed(a, p)


@dataclass(frozen=True)
class Room:
    """What a subnet offers: single addresses and /28 blocks wholly free at the start."""

    addresses: int
    blocks: int


def room(cidr: str) -> Room:
    """A plain subnet's room (AWS's reserved addresses taken out)."""
    net = ipaddress.IPv4Network(cidr, strict=True)
    size = net.num_addresses
    # The first block holds the four first reserved addresses, the last the broadcast one.
    free_blocks = max(0, size // BLOCK - (1 if size <= BLOCK else 2))
    return Room(max(0, size - AWS_RESERVED), free_blocks)


def holds(cidr: str, need: NodeNeed, *, worst_case: bool = False) -> bool:
    """True when the subnet holds `need` (the sum over its nodes). Packed (fake_ec2):
    the single addresses fill the blocks from the bottom; worst case (real EC2): each
    single address breaks a block of its own."""
    r = room(cidr)
    if need.addresses + need.prefixes * BLOCK > r.addresses:
        return False
    if need.prefixes == 0:
        return True
    # Packed, singles start at offset 4 in block 0 (already lost to the reserved ones).
    packed = max(0, math.ceil((4 + need.addresses) / BLOCK) - 1)
    broken = need.addresses if worst_case else packed
    return broken + need.prefixes <= r.blocks


def default_subnet_cidr(vpc_cidr: str, need: NodeNeed) -> str | None:
    """The first subnet of the VPC sized for `need` in the worst case: /19 unless the
    nodes need more, up to the whole VPC; None when even the VPC is too small."""
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    for prefixlen in range(max(DEFAULT_MIN_PREFIXLEN, vpc.prefixlen), vpc.prefixlen - 1, -1):
        cidr = str(next(vpc.subnets(new_prefix=prefixlen)))
        if holds(cidr, need, worst_case=True):
            return cidr
    whole = str(vpc)
    return whole if holds(whole, need) else None


def shortfall(cidr: str, need: NodeNeed) -> str:
    """Why `need` does not fit in the subnet, in words (for an error message)."""
    r = room(cidr)
    parts = [f"{need.addresses} address(es)"]
    if need.prefixes:
        parts.append(f"{need.prefixes} /28 prefix(es)")
    offer = f"{r.addresses} usable address(es)"
    if need.prefixes:
        offer += f", {r.blocks} whole /28 block(s) before any primary address breaks one"
    return f"they need {' and '.join(parts)}; {cidr} has {offer}"


# -- node agent shards and the start-up deadline -------------------------------------------
def default_agents(nodes: int, cores: int) -> int:
    """Node-agent shards when the spec leaves it to us: one per NODES_PER_SHARD nodes,
    at most one per core, at least one (for any node)."""
    if nodes <= 0:
        return 0
    return max(1, min(max(cores, 1), math.ceil(nodes / NODES_PER_SHARD)))


def shard_slices(count: int, shards: int) -> list[range]:
    """Contiguous, near-equal index ranges of `count` nodes over `shards` shards (no
    empty shard)."""
    shards = max(1, min(shards, count))
    base, extra = divmod(count, shards)
    out, start = [], 0
    for i in range(shards):
        size = base + (1 if i < extra else 0)
        out.append(range(start, start + size))
        start += size
    return out


def nodes_ready_deadline_s(nodes: int, timing: Timing, *, ipam: bool = True) -> float:
    """How long starting `nodes` nodes (registered, initialised by the controller, Ready)
    may take: grows with the node count and, where the timing profile keeps the real
    client rate limits, with the time those limits force on the controller."""
    deadline = READY_BASE_S + READY_PER_NODE_S * nodes
    if ipam:
        forced = 0.0
        if timing.controller_ec2_qps > 0:
            forced += nodes * EC2_CALLS_PER_NODE / timing.controller_ec2_qps
        if timing.controller_api_qps > 0:
            forced += nodes * API_WRITES_PER_NODE / timing.controller_api_qps
        deadline += RATE_MARGIN * forced
    return deadline


def agent_ready_deadline_s(nodes: int) -> float:
    """How long one node-agent shard may take to register its `nodes` nodes."""
    return READY_BASE_S + READY_PER_NODE_S * nodes


def mode_name(configmap: Mapping[str, str] | None, prefix_delegation_flag: bool = True) -> str:
    """'prefix', 'secondary' or 'unmanaged' (IPAM off) for a Nitro node (for messages)."""
    from harness.invariants import node_mode

    return node_mode(configmap, nitro=True, prefix_delegation_flag=prefix_delegation_flag)
