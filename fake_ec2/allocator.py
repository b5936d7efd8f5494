"""Per-subnet address and /28 prefix allocation, as EC2 does it. Plain Python, no I/O.

A :class:`SubnetAllocator` knows, for one IPv4 subnet, which addresses are held (by an
ENI as primary or secondary IP, by a /28 prefix, by fragmentation), which are reserved by
AWS (first four, last one) and which lie in subnet CIDR reservations. Automatic
assignment hands out the lowest eligible free address, or the lowest aligned wholly free
/28, without scanning the subnet: free addresses and free blocks sit in min-heaps that are
validated lazily (an entry that went stale is dropped when popped; whatever frees an
address or block pushes it back), so each call costs O(log n) amortised even on a /16.
"""

from __future__ import annotations

import heapq
import ipaddress
from dataclasses import dataclass

from fake_ec2.exceptions import (
    InsufficientCidrBlocks,
    InsufficientFreeAddressesInSubnet,
    InvalidIPAddressInUse,
    InvalidParameterValue,
)

BLOCK = 16  # addresses in a /28 prefix
FRAGMENT_HOLDER = "fragment"

# Reservation kinds in the per-address map.
_NO_RESV, _EXPLICIT, _PREFIX = 0, 1, 2


@dataclass(frozen=True)
class CidrReservation:
    """A subnet CIDR reservation: ``explicit`` or ``prefix`` over ``cidr``."""

    reservation_id: str
    cidr: str
    reservation_type: str


class SubnetAllocator:
    """Address and prefix book-keeping for one subnet (not thread-safe: callers lock)."""

    def __init__(self, subnet_id: str, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr, strict=False)
        if net.prefixlen > 28:
            raise InvalidParameterValue(f"Subnet CIDR {cidr} is smaller than /28")
        self.subnet_id = subnet_id
        self.cidr = str(net)
        self._base = int(net.network_address)
        self._size = net.num_addresses
        self._nblocks = self._size // BLOCK
        # offset -> holder of a single address (ENI id, "fragment", "pending:...")
        self._ip_holder: dict[int, str] = {}
        # block index -> ENI holding that /28 prefix
        self._block_holder: dict[int, str] = {}
        # per block: addresses that make it ineligible for a prefix (held, AWS-reserved,
        # explicit reservation, fragment)
        self._block_busy = [0] * self._nblocks
        self._block_prefix_resv = [0] * self._nblocks
        self._resv = bytearray(self._size)
        self._reservations: dict[str, CidrReservation] = {}
        self._aws_reserved = {0, 1, 2, 3, self._size - 1}
        for off in self._aws_reserved:
            self._block_busy[off // BLOCK] += 1
        # Sorted lists are valid heaps: no heapify cost.
        self._free_ips: list[int] = [o for o in range(4, self._size - 1)]
        self._free_blocks: list[int] = list(range(self._nblocks))
        self._free_resv_blocks: list[int] = []  # blocks wholly inside prefix reservations
        self._taken = 0  # addresses held by IPs, prefixes or fragmentation

    # ------------------------------------------------------------------ helpers
    def _offset(self, address: str) -> int:
        try:
            value = int(ipaddress.IPv4Address(address))
        except ValueError as err:
            raise InvalidParameterValue(f"Invalid IPv4 address: {address!r}") from err
        off = value - self._base
        if not 0 <= off < self._size:
            raise InvalidParameterValue(
                f"Address {address} does not fall within the subnet's address range"
            )
        return off

    def address(self, offset: int) -> str:
        """The dotted address at ``offset`` in the subnet."""
        return str(ipaddress.IPv4Address(self._base + offset))

    def prefix(self, block: int) -> str:
        """The /28 prefix text of block number ``block``."""
        return f"{self.address(block * BLOCK)}/28"

    def _block_of_prefix(self, prefix: str) -> int:
        try:
            net = ipaddress.IPv4Network(prefix, strict=True)
        except ValueError as err:
            raise InvalidParameterValue(
                f"Invalid IPv4 prefix {prefix!r}: expected an aligned /28 such as 10.0.0.16/28"
            ) from err
        if net.prefixlen != 28:
            raise InvalidParameterValue(f"Invalid IPv4 prefix {prefix}: only /28 is supported")
        off = int(net.network_address) - self._base
        if not 0 <= off < self._size:
            raise InvalidParameterValue(
                f"Prefix {prefix} does not fall within the subnet's address range"
            )
        return off // BLOCK

    def _ip_is_free(self, off: int) -> bool:
        return (
            off not in self._ip_holder
            and off not in self._aws_reserved
            and (off // BLOCK) not in self._block_holder
        )

    def _auto_ip_ok(self, off: int) -> bool:
        return self._ip_is_free(off) and self._resv[off] == _NO_RESV

    def _block_free(self, block: int) -> bool:
        return self._block_busy[block] == 0 and block not in self._block_holder

    def _auto_block_ok(self, block: int) -> bool:
        return self._block_free(block) and self._block_prefix_resv[block] == 0

    def _auto_resv_block_ok(self, block: int) -> bool:
        return self._block_free(block) and self._block_prefix_resv[block] == BLOCK

    def _push_block(self, block: int) -> None:
        if self._block_prefix_resv[block] == BLOCK:
            heapq.heappush(self._free_resv_blocks, block)
        else:
            heapq.heappush(self._free_blocks, block)

    def _hold_ip(self, off: int, holder: str) -> None:
        self._ip_holder[off] = holder
        self._block_busy[off // BLOCK] += 1
        self._taken += 1

    def _drop_ip(self, off: int) -> None:
        del self._ip_holder[off]
        block = off // BLOCK
        self._block_busy[block] -= 1
        self._taken -= 1
        heapq.heappush(self._free_ips, off)
        if self._block_busy[block] == 0:
            self._push_block(block)

    # ------------------------------------------------------------------ addresses
    def free_counts(self) -> tuple[int, int]:
        """(addresses, /28 prefixes) an automatic assignment could still take now."""
        ips = sum(1 for off in range(self._size) if self._auto_ip_ok(off))
        blocks = sum(
            1 for b in range(self._nblocks) if self._auto_block_ok(b) or self._auto_resv_block_ok(b)
        )
        return ips, blocks

    def allocate_ip(self, holder: str) -> str:
        """Hold the lowest free address outside reservations for ``holder``."""
        heap = self._free_ips
        while heap:
            off = heapq.heappop(heap)
            if self._auto_ip_ok(off):
                self._hold_ip(off, holder)
                return self.address(off)
        raise InsufficientFreeAddressesInSubnet(self.subnet_id)

    def allocate_ips(self, count: int, holder: str) -> list[str]:
        """Hold ``count`` addresses, all or none."""
        got: list[str] = []
        try:
            for _ in range(count):
                got.append(self.allocate_ip(holder))
        except InsufficientFreeAddressesInSubnet:
            for address in got:
                self._drop_ip(self._offset(address))
            raise
        return got

    def claim_ip(self, address: str, holder: str, *, steal_from: str | None = None) -> str:
        """Hold an explicitly requested address (reservations allow explicit use).

        ``steal_from`` lets a holder (e.g. a launch's pending primary) hand it over.
        """
        off = self._offset(address)
        if off in self._aws_reserved:
            raise InvalidParameterValue(f"Address {address} is in subnet's reserved address range")
        current = self._ip_holder.get(off)
        if current is not None and current == steal_from:
            self._ip_holder[off] = holder
            return self.address(off)
        if not self._ip_is_free(off):
            raise InvalidIPAddressInUse(self.address(off))
        self._hold_ip(off, holder)
        return self.address(off)

    def holder_of(self, address: str) -> str | None:
        """Who holds ``address`` (as a single IP or inside a prefix), or None."""
        off = self._offset(address)
        return self._ip_holder.get(off) or self._block_holder.get(off // BLOCK)

    def release_ip(self, address: str, holder: str | None = None) -> bool:
        """Free ``address`` if held (by ``holder`` when given); True when freed."""
        off = self._offset(address)
        current = self._ip_holder.get(off)
        if current is None or (holder is not None and current != holder):
            return False
        self._drop_ip(off)
        return True

    # ------------------------------------------------------------------ prefixes
    def allocate_prefix(self, holder: str) -> str:
        """Hold the lowest aligned, wholly free /28 (prefix reservations first)."""
        for heap, ok in (
            (self._free_resv_blocks, self._auto_resv_block_ok),
            (self._free_blocks, self._auto_block_ok),
        ):
            while heap:
                block = heapq.heappop(heap)
                if ok(block):
                    self._hold_block(block, holder)
                    return self.prefix(block)
        raise InsufficientCidrBlocks()

    def allocate_prefixes(self, count: int, holder: str) -> list[str]:
        """Hold ``count`` prefixes, all or none."""
        got: list[str] = []
        try:
            for _ in range(count):
                got.append(self.allocate_prefix(holder))
        except InsufficientCidrBlocks:
            for prefix in got:
                self.release_prefix(prefix)
            raise
        return got

    def claim_prefix(self, prefix: str, holder: str) -> str:
        """Hold an explicitly requested /28 (must be aligned and wholly free)."""
        block = self._block_of_prefix(prefix)
        if not self._block_free(block):
            raise InvalidIPAddressInUse(self.prefix(block))
        self._hold_block(block, holder)
        return self.prefix(block)

    def _hold_block(self, block: int, holder: str) -> None:
        self._block_holder[block] = holder
        self._taken += BLOCK

    def prefix_holder(self, prefix: str) -> str | None:
        """Who holds the /28 ``prefix``, or None."""
        return self._block_holder.get(self._block_of_prefix(prefix))

    def release_prefix(self, prefix: str, holder: str | None = None) -> bool:
        """Free a held /28; True when freed."""
        block = self._block_of_prefix(prefix)
        current = self._block_holder.get(block)
        if current is None or (holder is not None and current != holder):
            return False
        del self._block_holder[block]
        self._taken -= BLOCK
        self._push_block(block)
        start = block * BLOCK
        for off in range(start, start + BLOCK):
            heapq.heappush(self._free_ips, off)
        return True

    # ------------------------------------------------------------------ reservations
    def add_reservation(self, reservation: CidrReservation) -> None:
        """Keep ``reservation``'s range out of automatic IP assignment (and, for explicit
        reservations, out of automatic prefix assignment too)."""
        net = ipaddress.IPv4Network(reservation.cidr, strict=False)
        start = int(net.network_address) - self._base
        end = start + net.num_addresses
        if start < 0 or end > self._size:
            raise InvalidParameterValue(
                f"The CIDR {reservation.cidr} is not within the subnet CIDR {self.cidr}"
            )
        kind = _PREFIX if reservation.reservation_type == "prefix" else _EXPLICIT
        for off in range(start, end):
            if self._resv[off] != _NO_RESV:
                raise InvalidParameterValue(
                    f"The CIDR {reservation.cidr} overlaps an existing reservation"
                )
        for off in range(start, end):
            self._resv[off] = kind
            if kind == _EXPLICIT:
                self._block_busy[off // BLOCK] += 1
            else:
                self._block_prefix_resv[off // BLOCK] += 1
        if kind == _PREFIX:
            for block in range(start // BLOCK, (end + BLOCK - 1) // BLOCK):
                if self._block_prefix_resv[block] == BLOCK and self._block_free(block):
                    heapq.heappush(self._free_resv_blocks, block)
        self._reservations[reservation.reservation_id] = reservation

    def remove_reservation(self, reservation_id: str) -> CidrReservation | None:
        """Drop a reservation; its addresses return to automatic assignment."""
        reservation = self._reservations.pop(reservation_id, None)
        if reservation is None:
            return None
        net = ipaddress.IPv4Network(reservation.cidr, strict=False)
        start = int(net.network_address) - self._base
        end = start + net.num_addresses
        for off in range(start, end):
            kind = self._resv[off]
            self._resv[off] = _NO_RESV
            if kind == _EXPLICIT:
                self._block_busy[off // BLOCK] -= 1
            elif kind == _PREFIX:
                self._block_prefix_resv[off // BLOCK] -= 1
            heapq.heappush(self._free_ips, off)
        for block in range(start // BLOCK, (end + BLOCK - 1) // BLOCK):
            if self._block_free(block):
                self._push_block(block)
        return reservation

    def reservations(self) -> list[CidrReservation]:
        """Current reservations, in creation order."""
        return list(self._reservations.values())

    # ------------------------------------------------------------------ fragmentation
    def _range(self, cidr: str | None) -> range:
        """Offsets of `cidr` (a range inside the subnet), or the whole subnet."""
        if cidr is None:
            return range(self._size)
        try:
            net = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as err:
            raise InvalidParameterValue(f"Invalid CIDR {cidr!r}: {err}") from err
        first = int(net.network_address) - self._base
        if not (first >= 0 and first + net.num_addresses <= self._size):
            raise InvalidParameterValue(f"CIDR {cidr} is not inside subnet {self.cidr}")
        return range(first, first + net.num_addresses)

    def fragment(self, every: int, offset: int, cidr: str | None = None) -> int:
        """Occupy one free address at ``offset`` in every ``every``-address block (of
        ``cidr`` when given, else of the whole subnet).

        With ``every`` <= 16 no /28 stays free while most single addresses do. Returns
        how many addresses were occupied.
        """
        if every < 1:
            raise InvalidParameterValue(f"every must be >= 1, got {every}")
        if not 0 <= offset < every:
            raise InvalidParameterValue(f"offset must be in [0, {every}), got {offset}")
        span = self._range(cidr)
        occupied = 0
        for off in range(span.start + offset, span.stop, every):
            if self._ip_is_free(off):
                self._hold_ip(off, FRAGMENT_HOLDER)
                occupied += 1
        return occupied

    def unfragment(self, cidr: str | None = None) -> int:
        """Free the addresses fragmentation holds (in ``cidr``, else everywhere)."""
        span = self._range(cidr)
        held = [o for o, h in self._ip_holder.items() if h == FRAGMENT_HOLDER and o in span]
        for off in held:
            self._drop_ip(off)
        return len(held)

    # ------------------------------------------------------------------ views
    @property
    def available_count(self) -> int:
        """Addresses neither held nor AWS-reserved (what DescribeSubnets reports)."""
        return self._size - len(self._aws_reserved) - self._taken

    def held_ips(self) -> dict[str, str]:
        """Every single address held, mapped to its holder."""
        return {self.address(o): h for o, h in sorted(self._ip_holder.items())}

    def held_prefixes(self) -> dict[str, str]:
        """Every /28 held, mapped to its holder."""
        return {self.prefix(b): h for b, h in sorted(self._block_holder.items())}

    def snapshot(self) -> dict[str, object]:
        """JSON-ready view of this subnet."""
        return {
            "subnet_id": self.subnet_id,
            "cidr": self.cidr,
            "available": self.available_count,
            "aws_reserved": [self.address(o) for o in sorted(self._aws_reserved)],
            "fragment": [a for a, h in self.held_ips().items() if h == FRAGMENT_HOLDER],
            "reservations": [
                {"id": r.reservation_id, "cidr": r.cidr, "type": r.reservation_type}
                for r in self._reservations.values()
            ],
        }
