"""PortPool: the documented model of how HNS spends a node's dynamic ports on load balancers.

HNS's real accounting is closed source. The model (FACTS.md, "Port exhaustion model"):
the host's dynamic port range (Windows default 49152-65535, 16,384 ports) is cut into
aligned blocks of ``block_size`` ports (default 64, as Microsoft's diagnostics emulate
HNS); a load balancer without DSR takes one whole free block, a DSR one takes none, and
deleting the load balancer returns its block. A block is unusable when it does not fit
inside the range, or overlaps an excluded range or a port held by a host process.
With the defaults there are 16,384 / 64 = 256 blocks, so the 257th non-DSR load balancer
fails. Allocation takes the lowest free block (a heap: O(log n) per call).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_RANGE = (49152, 65535)
DEFAULT_BLOCK_SIZE = 64


@dataclass(frozen=True)
class PortBlock:
    """An inclusive block of ports [start, end] held by one load balancer."""

    start: int
    end: int

    @property
    def size(self) -> int:
        """Number of ports in the block."""
        return self.end - self.start + 1


class PortPool:
    """Blocks of a dynamic port range handed to non-DSR load balancers."""

    def __init__(
        self,
        start: int = DEFAULT_RANGE[0],
        end: int = DEFAULT_RANGE[1],
        block_size: int = DEFAULT_BLOCK_SIZE,
        excluded: Iterable[tuple[int, int]] = (),
        host_held: Iterable[int] = (),
    ) -> None:
        if not 1 <= start <= end <= 65535:
            raise ValueError(
                f"dynamic port range {start}-{end}: expected 1 <= start <= end <= 65535"
            )
        if block_size < 1:
            raise ValueError(f"port block size {block_size}: expected >= 1")
        excluded = [(int(a), int(b)) for a, b in excluded]
        for a, b in excluded:
            if not 1 <= a <= b <= 65535:
                raise ValueError(
                    f"excluded port range {a}-{b}: expected 1 <= start <= end <= 65535"
                )
        held = sorted({int(p) for p in host_held})
        for port in held:
            if not 1 <= port <= 65535:
                raise ValueError(f"host-held port {port}: expected 1-65535")
        self.start = start
        self.end = end
        self.block_size = block_size
        self.excluded = tuple(excluded)
        self.host_held = tuple(held)
        self._free: list[int] = []  # heap of free block starts
        self._used: set[int] = set()
        block = start
        while block + block_size - 1 <= end:
            last = block + block_size - 1
            if not self._blocked(block, last, excluded, held):
                self._free.append(block)
            block += block_size
        heapq.heapify(self._free)
        self.total_blocks = len(self._free)

    @staticmethod
    def _blocked(first: int, last: int, excluded: list[tuple[int, int]], held: list[int]) -> bool:
        if any(a <= last and first <= b for a, b in excluded):
            return True
        return any(first <= p <= last for p in held)

    @property
    def used_blocks(self) -> int:
        """Blocks held by load balancers now."""
        return len(self._used)

    @property
    def free_blocks(self) -> int:
        """Blocks still available."""
        return len(self._free)

    def allocate(self) -> PortBlock | None:
        """Take the lowest free block; None when the pool is exhausted."""
        if not self._free:
            return None
        first = heapq.heappop(self._free)
        self._used.add(first)
        return PortBlock(first, first + self.block_size - 1)

    def release(self, block: PortBlock) -> None:
        """Return a block taken by :meth:`allocate`; releasing twice is an error."""
        if block.start not in self._used:
            raise ValueError(f"port block {block.start}-{block.end} is not allocated")
        self._used.remove(block.start)
        heapq.heappush(self._free, block.start)

    def holds(self, block: PortBlock) -> bool:
        """True when ``block`` is currently allocated."""
        return block.start in self._used

    def status(self) -> dict[str, int]:
        """Counts for reports: range, block size, total/used/free blocks."""
        return {
            "rangeStart": self.start,
            "rangeEnd": self.end,
            "blockSize": self.block_size,
            "totalBlocks": self.total_blocks,
            "usedBlocks": self.used_blocks,
            "freeBlocks": self.free_blocks,
        }
