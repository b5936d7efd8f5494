"""FaultPlan: make the next N calls of a method fail with a chosen HRESULT (per host)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fake_hns.errors import HnsError, message_for
from fake_hns.names import MAX_FAULT_MESSAGE, shown


@dataclass(frozen=True)
class Fault:
    """One pending failure."""

    hresult: int
    message: str


class FaultPlan:
    """Pending failures per RPC method name, consumed in order."""

    def __init__(self) -> None:
        self._pending: dict[str, deque[Fault]] = {}

    def add(self, method: str, count: int, hresult: int, message: str = "") -> None:
        """Queue ``count`` failures of ``method``."""
        if count < 1:
            raise ValueError(f"count {count}: expected >= 1")
        if hresult == 0:
            raise ValueError("hresult 0 is success: expected a failure code such as 0x803b0013")
        if len(message) > MAX_FAULT_MESSAGE or not all(" " <= c <= "~" for c in message):
            raise ValueError(
                f"message {shown(message)}: expected printable ASCII of at most "
                f"{MAX_FAULT_MESSAGE} characters (HNS errors travel in gRPC metadata)"
            )
        fault = Fault(hresult, message or message_for(hresult))
        self._pending.setdefault(method, deque()).extend([fault] * count)

    def check(self, method: str, call: str) -> None:
        """Raise the next pending failure of ``method`` (as hcn ``call``), if any."""
        queue = self._pending.get(method)
        if not queue:
            return
        fault = queue.popleft()
        if not queue:
            del self._pending[method]
        raise HnsError(fault.hresult, fault.message, call)

    def clear(self) -> None:
        """Drop every pending failure."""
        self._pending.clear()

    def pending(self) -> dict[str, int]:
        """Pending failure count per method."""
        return {method: len(queue) for method, queue in sorted(self._pending.items())}
