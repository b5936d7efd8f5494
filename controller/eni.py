"""The ENI ledger of one node: which ENI holds each secondary IP and /28 prefix, and how
many address slots each ENI has left (pkg/provider/ip/eni of the real controller).

Rebuilt from DescribeInstances at init and on every re-sync. A create walks the ENIs in
device-index order asking each for as much as it has room for; a delete goes to the ENI
that holds each resource. One node's EC2 writes are serial, as eni.go's lock makes them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from controller.ec2 import EC2Client, EC2Error, InstanceInfo


@dataclass
class EniSlots:
    """One ENI in the ledger: its id, device index and the address slots it has left."""

    eni_id: str
    device_index: int
    remaining: int


@dataclass(frozen=True)
class Holdings:
    """What the node's ENIs hold (as EC2 reports it): secondary IPs and prefixes."""

    secondary_ips: list[str]
    prefixes: list[str]


class EniLedger:
    """ENI -> free slots and resource -> ENI for one node; thread-safe."""

    def __init__(self, ipv4_per_eni: int) -> None:
        self.ipv4_per_eni = ipv4_per_eni
        self._lock = threading.Lock()
        self._enis: list[EniSlots] = []  # device-index order
        self._owner: dict[str, str] = {}  # IP or prefix (no mask) -> ENI id

    def load(self, instance: InstanceInfo) -> Holdings:
        """Rebuild from DescribeInstances; return what the ENIs hold."""
        enis: list[EniSlots] = []
        owner: dict[str, str] = {}
        ips: list[str] = []
        prefixes: list[str] = []
        for eni in sorted(instance.enis, key=lambda e: e.device_index):
            # The primary address takes one slot; a prefix takes one slot like an IP.
            remaining = self.ipv4_per_eni - 1 - len(eni.secondary_ips) - len(eni.prefixes)
            enis.append(EniSlots(eni.eni_id, eni.device_index, remaining))
            for r in (*eni.secondary_ips, *eni.prefixes):
                owner[r] = eni.eni_id
            ips.extend(eni.secondary_ips)
            prefixes.extend(eni.prefixes)
        with self._lock:
            self._enis, self._owner = enis, owner
        return Holdings(ips, prefixes)

    def assign(
        self, ec2: EC2Client, count: int, *, prefixes: bool
    ) -> tuple[list[str], EC2Error | None]:
        """Assign up to `count` IPs or prefixes across the ENIs: (what was made, the error)."""
        made: list[str] = []
        with self._lock:
            for slots in self._enis:
                if len(made) >= count:
                    break
                if slots.remaining <= 0:
                    continue
                want = min(slots.remaining, count - len(made))
                try:
                    got = ec2.assign(slots.eni_id, want, prefixes=prefixes)
                except EC2Error as exc:
                    return made, exc
                slots.remaining -= len(got)
                for r in got:
                    self._owner[r] = slots.eni_id
                made.extend(got)
        return made, None

    def unassign(
        self, ec2: EC2Client, resources: list[str], *, prefixes: bool
    ) -> tuple[list[str], EC2Error | None]:
        """Unassign from the ENIs that hold them: (what could not be released, the last error)."""
        failed: list[str] = []
        err: EC2Error | None = None
        with self._lock:
            first = self._enis[0].eni_id if self._enis else ""
            by_eni: dict[str, list[str]] = {}
            for r in resources:
                by_eni.setdefault(self._owner.get(r, first), []).append(r)
            for eni_id, rs in by_eni.items():
                try:
                    ec2.unassign(eni_id, rs, prefixes=prefixes)
                except EC2Error as exc:
                    err = exc
                    failed.extend(rs)
                    continue
                for slots in self._enis:
                    if slots.eni_id == eni_id:
                        slots.remaining += len(rs)
                for r in rs:
                    self._owner.pop(r, None)
        return failed, err

    def usage(self) -> list[tuple[str, int, int, int]]:
        """Per ENI (device-index order): id, secondary IPs, prefixes, free slots."""
        with self._lock:
            count: dict[str, list[int]] = {s.eni_id: [0, 0] for s in self._enis}
            for r, eni_id in self._owner.items():
                if eni_id in count:
                    count[eni_id]["/" in r] += 1
            return [
                (s.eni_id, count[s.eni_id][0], count[s.eni_id][1], s.remaining) for s in self._enis
            ]

    def snapshot(self) -> list[dict[str, object]]:
        """JSON-ready view: per ENI its id, device index, free slots and what it holds."""
        with self._lock:
            held: dict[str, list[str]] = {}
            for r, eni_id in self._owner.items():
                held.setdefault(eni_id, []).append(r)
            return [
                {
                    "eni_id": s.eni_id,
                    "device_index": s.device_index,
                    "free_slots": s.remaining,
                    "secondary_ips": sorted(r for r in held.get(s.eni_id, []) if "/" not in r),
                    "prefixes": sorted(r for r in held.get(s.eni_id, []) if "/" in r),
                }
                for s in self._enis
            ]
