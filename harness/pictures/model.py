"""Address use as cell grids, from plain data (no I/O, no plotting).

Per node, its primary ENI's addresses as rows of 16 cells: first the primary address and
the secondary IPs, then one row per /28 prefix. A cell is ``used`` (a live pod's
``vpc.amazonaws.com/PrivateIPv4Address`` annotation names it), ``cooling`` (the
controller holds it in its cool-down queue), ``free`` (held by the ENI, ready for a pod)
or ``reserved`` (the ENI's primary address, never a pod's).

Per subnet, its /28 blocks in address order. A block is ``prefix`` (an ENI holds it as a
/28 prefix), ``partial`` (some of its addresses are held as single IPs, by an ENI or by
fake_ec2's fragmentation: no prefix can be placed there), ``reserved`` (nothing is held
but AWS-reserved addresses or an ``explicit`` CIDR reservation keep prefixes out) or
``free`` (a prefix could be placed there). A fragmented subnet is all ``partial``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from harness.invariants import ClusterState, Eni, PodState, Subnet, annotation_ip

ROW = 16  # cells per row: the addresses of one /28
CELL_STATES = ("used", "free", "cooling", "reserved")
BLOCK_STATES = ("free", "partial", "prefix", "reserved")
FRAGMENT = "fragment"  # holder name of the addresses fake_ec2's fragmentation occupies
PRIMARY = "primary"


@dataclass(frozen=True)
class Cell:
    """One address of a node's ENI and its state; ``owner``: the pod using it
    (namespace/name), ``primary`` for the ENI's primary address, else None."""

    address: str
    state: str
    owner: str | None = None


@dataclass(frozen=True)
class CellRow:
    """Up to 16 cells: a /28 prefix (``kind`` ``prefix``, ``label`` its CIDR) or the
    primary and secondary addresses (``kind`` ``addresses``)."""

    kind: str
    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class NodeCells:
    """A node's primary ENI as rows of cells."""

    name: str
    instance_id: str
    instance_type: str
    eni_id: str | None
    subnet_id: str | None
    rows: tuple[CellRow, ...]

    def cells(self) -> list[Cell]:
        """Every cell, row by row."""
        return [c for r in self.rows for c in r.cells]

    def counts(self) -> dict[str, int]:
        """Cells per state (every state present, 0 included)."""
        out = dict.fromkeys(CELL_STATES, 0)
        for c in self.cells():
            out[c.state] += 1
        return out

    @property
    def prefixes(self) -> int:
        """/28 prefixes the ENI holds."""
        return sum(1 for r in self.rows if r.kind == "prefix")


@dataclass(frozen=True)
class Block:
    """One /28 block of a subnet. ``held``: addresses held in it (single IPs, or 16 for
    a prefix); ``reserved``: AWS-reserved or explicitly reserved addresses; ``holders``:
    ENI ids (or ``fragment``) holding them; ``reservation``: the type of a CIDR
    reservation covering part of it (``prefix`` / ``explicit``), else None."""

    index: int
    cidr: str
    state: str
    held: int = 0
    reserved: int = 0
    holders: tuple[str, ...] = ()
    reservation: str | None = None


@dataclass(frozen=True)
class SubnetBlocks:
    """A subnet's /28 blocks, in address order, laid out ``columns`` to a row."""

    subnet_id: str
    cidr: str
    available: int  # addresses neither held nor AWS-reserved (AvailableIpAddressCount)
    blocks: tuple[Block, ...]
    columns: int

    def counts(self) -> dict[str, int]:
        """Blocks per state (every state present, 0 included)."""
        out = dict.fromkeys(BLOCK_STATES, 0)
        for b in self.blocks:
            out[b.state] += 1
        return out


@dataclass(frozen=True)
class NodeMap:
    """What the node-map picture shows: the nodes' cells beside their subnets' blocks.
    ``node_of_eni`` names the node of each node ENI (for the blocks' tooltips)."""

    nodes: tuple[NodeCells, ...]
    subnets: tuple[SubnetBlocks, ...]
    node_of_eni: Mapping[str, str]


# ------------------------------------------------------------------ nodes
def pod_addresses(pods: Iterable[PodState]) -> dict[str, str]:
    """Address -> pod (namespace/name) of every live pod's IP annotation: the addresses
    the controller counts as used (Succeeded / Failed pods and host-network pods hold
    none)."""
    out: dict[str, str] = {}
    for p in pods:
        if p.host_network or p.phase in ("Succeeded", "Failed"):
            continue
        ip = annotation_ip(p.annotation)
        if ip is not None:
            out[str(ip)] = p.key
    return out


def _prefix_addresses(prefix: str) -> list[str]:
    try:
        net = ipaddress.IPv4Network(prefix, strict=False)
    except ValueError as err:
        raise ValueError(
            f"ENI prefix {prefix!r}: expected an IPv4 CIDR such as 10.0.0.16/28"
        ) from err
    return [str(a) for a in net]


def _cell(address: str, used: Mapping[str, str], cooling: Collection[str]) -> Cell:
    pod = used.get(address)
    if pod is not None:
        return Cell(address, "used", pod)
    if address in cooling:
        return Cell(address, "cooling")
    return Cell(address, "free")


def eni_rows(
    eni: Eni, used: Mapping[str, str], cooling: Collection[str] = ()
) -> tuple[CellRow, ...]:
    """An ENI's rows: primary + secondary addresses 16 to a row, then one row per prefix
    (both in address order)."""
    cells = [Cell(eni.primary_ip, "reserved", PRIMARY)]
    cells += [_cell(a, used, cooling) for a in sorted(eni.secondary_ips, key=ipaddress.IPv4Address)]
    rows = []
    for start in range(0, len(cells), ROW):
        chunk = tuple(cells[start : start + ROW])
        label = "IPs" if start == 0 else f"IPs {start + 1}-{start + len(chunk)}"
        rows.append(CellRow("addresses", label, chunk))
    for prefix in sorted(eni.prefixes, key=lambda p: ipaddress.IPv4Network(p, strict=False)):
        rows.append(
            CellRow(
                "prefix",
                prefix,
                tuple(_cell(a, used, cooling) for a in _prefix_addresses(prefix)),
            )
        )
    return tuple(rows)


def node_cells(
    state: ClusterState, cooling: Mapping[str, Collection[str]] | None = None
) -> tuple[NodeCells, ...]:
    """Every node of ``state`` as rows of cells, by name. ``cooling``: node -> addresses
    in the controller's cool-down queue."""
    used = pod_addresses(state.pods)
    out = []
    for n in sorted(state.nodes, key=lambda n: n.name):
        rows = eni_rows(n.eni, used, (cooling or {}).get(n.name, ())) if n.eni else ()
        out.append(
            NodeCells(
                name=n.name,
                instance_id=n.instance_id,
                instance_type=n.instance_type,
                eni_id=n.eni.eni_id if n.eni else None,
                subnet_id=n.eni.subnet_id if n.eni else None,
                rows=rows,
            )
        )
    return tuple(out)


# ------------------------------------------------------------------ subnets
def _columns(blocks: int) -> int:
    """Blocks per row: 16 up to a /20, 32 up to an /18, 64 beyond (a /16 is 64 x 64)."""
    if blocks <= 256:
        return ROW
    return 32 if blocks <= 1024 else 64


def subnet_blocks(subnet: Subnet, enis: Iterable[Eni]) -> SubnetBlocks:
    """The /28 blocks of ``subnet``, from every ENI in it and its reservations."""
    try:
        net = ipaddress.IPv4Network(subnet.cidr, strict=False)
    except ValueError as err:
        raise ValueError(f"subnet {subnet.subnet_id}: bad CIDR {subnet.cidr!r}") from err
    if net.prefixlen > 28:
        raise ValueError(f"subnet {subnet.subnet_id}: {net} is smaller than one /28 block")
    base, size = int(net.network_address), net.num_addresses
    nblocks = size // ROW

    def offset(address: str) -> int | None:
        try:
            off = int(ipaddress.IPv4Address(address)) - base
        except ValueError:
            return None
        return off if 0 <= off < size else None

    singles: dict[int, str] = {}  # offset -> holder
    prefix_holder: dict[int, str] = {}  # block -> ENI
    for eni in enis:
        if eni.subnet_id != subnet.subnet_id:
            continue
        for a in (eni.primary_ip, *eni.secondary_ips):
            off = offset(a)
            if off is not None:
                singles[off] = eni.eni_id
        for p in eni.prefixes:
            off = offset(p.split("/")[0])
            if off is not None:
                prefix_holder[off // ROW] = eni.eni_id
    for a in subnet.occupied:
        off = offset(a)
        if off is not None:
            singles.setdefault(off, FRAGMENT)
    # The first four addresses and the last one are AWS's (VPC router, DNS, future use,
    # broadcast).
    reserved = dict.fromkeys((0, 1, 2, 3, size - 1), "aws")
    resv_kind: dict[int, str] = {}  # block -> "explicit" (wins) or "prefix"
    for r in subnet.reservations:
        rnet = ipaddress.IPv4Network(r.cidr, strict=False)
        first = int(rnet.network_address) - base
        span = range(max(0, first), min(size, first + rnet.num_addresses))
        for b in range(span.start // ROW, (span.stop + ROW - 1) // ROW):
            if resv_kind.get(b) != "explicit":
                resv_kind[b] = r.type
        if r.type == "explicit":  # prefix reservations only steer automatic prefixes
            for off in span:
                reserved.setdefault(off, "explicit")
    per_block_held: dict[int, list[int]] = {}
    for off in singles:
        per_block_held.setdefault(off // ROW, []).append(off)
    per_block_resv: dict[int, int] = {}
    for off in reserved:
        per_block_resv[off // ROW] = per_block_resv.get(off // ROW, 0) + 1
    blocks = []
    for b in range(nblocks):
        cidr = f"{ipaddress.IPv4Address(base + b * ROW)}/28"
        held_offs = per_block_held.get(b, [])
        holders = tuple(sorted({singles[o] for o in held_offs}))
        if b in prefix_holder:
            state, held, holders = "prefix", ROW, (prefix_holder[b],)
        elif held_offs:
            state, held = "partial", len(held_offs)
        elif per_block_resv.get(b):
            state, held = "reserved", 0
        else:
            state, held = "free", 0
        blocks.append(
            Block(b, cidr, state, held, per_block_resv.get(b, 0), holders, resv_kind.get(b))
        )
    taken = len(singles) + ROW * len(prefix_holder)
    available = size - 5 - taken
    return SubnetBlocks(subnet.subnet_id, str(net), available, tuple(blocks), _columns(nblocks))


def _all_enis(state: ClusterState) -> list[Eni]:
    seen = {e.eni_id: e for e in state.enis}
    for n in state.nodes:
        if n.eni is not None:
            seen[n.eni.eni_id] = n.eni  # the describe view of a node's ENI wins
    return list(seen.values())


def build_node_map(
    state: ClusterState,
    cooling: Mapping[str, Collection[str]] | None = None,
    node: str | None = None,
) -> NodeMap:
    """The node map of ``state``: every node (or only ``node``; ValueError naming the
    known nodes when it is not one) and the subnets their ENIs are in (every subnet when
    no node has an ENI). ``cooling``: node -> addresses cooling down."""
    nodes = node_cells(state, cooling)
    if node is not None:
        nodes = tuple(n for n in nodes if n.name == node)
        if not nodes:
            known = ", ".join(n.name for n in state.nodes) or "none"
            raise ValueError(f"node {node!r} not found (nodes: {known})")
    wanted = {n.subnet_id for n in nodes if n.subnet_id}
    enis = _all_enis(state)
    subnets = tuple(
        subnet_blocks(s, enis)
        for s in state.subnets
        if s.subnet_id in wanted or (not wanted and node is None)
    )
    node_of_eni = {n.eni.eni_id: n.name for n in state.nodes if n.eni is not None}
    return NodeMap(nodes, subnets, node_of_eni)
