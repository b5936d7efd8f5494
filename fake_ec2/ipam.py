"""The EC2 IP rules over plain data: which ENI holds what, and the per-ENI limits.

:class:`Ec2Rules` owns one :class:`~fake_ec2.allocator.SubnetAllocator` per subnet and
the holdings of every ENI (primary, secondary IPs, /28 prefixes). Every public method
takes the single lock, since moto's server handles requests on many threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fake_ec2.allocator import CidrReservation, SubnetAllocator
from fake_ec2.exceptions import (
    InsufficientCidrBlocks,
    InsufficientFreeAddressesInSubnet,
    InvalidParameterCombination,
    InvalidParameterValue,
    PrivateIpAddressLimitExceeded,
)
from fake_ec2.limits import EniLimits


@dataclass
class EniHoldings:
    """What one ENI holds, in assignment order."""

    eni_id: str
    subnet_id: str
    primary: str
    secondaries: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)

    @property
    def slots(self) -> int:
        """Addresses counted against the limit: primary + secondaries + prefixes."""
        return 1 + len(self.secondaries) + len(self.prefixes)


class Ec2Rules:
    """Subnet allocators + ENI holdings + limit checks, behind one re-entrant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._subnets: dict[str, SubnetAllocator] = {}
        self._enis: dict[str, EniHoldings] = {}

    # ------------------------------------------------------------------ subnets
    def subnet(self, subnet_id: str, cidr: str) -> SubnetAllocator:
        """The allocator of ``subnet_id``, created on first use."""
        with self.lock:
            alloc = self._subnets.get(subnet_id)
            if alloc is None:
                alloc = self._subnets[subnet_id] = SubnetAllocator(subnet_id, cidr)
            return alloc

    def known_subnet(self, subnet_id: str) -> SubnetAllocator | None:
        """The allocator of ``subnet_id`` if one exists."""
        return self._subnets.get(subnet_id)

    def forget_subnet(self, subnet_id: str) -> None:
        """Drop a deleted subnet's allocator."""
        with self.lock:
            self._subnets.pop(subnet_id, None)

    # ------------------------------------------------------------------ ENIs
    def create_eni(
        self,
        eni_id: str,
        subnet_id: str,
        cidr: str,
        primary: str | None,
        *,
        pending_holder: str | None = None,
    ) -> str:
        """Register a new ENI and hold its primary address (explicit or lowest free)."""
        with self.lock:
            alloc = self.subnet(subnet_id, cidr)
            if primary:
                ip = alloc.claim_ip(primary, eni_id, steal_from=pending_holder)
            else:
                ip = alloc.allocate_ip(eni_id)
            self._enis[eni_id] = EniHoldings(eni_id, subnet_id, ip)
            return ip

    def eni(self, eni_id: str) -> EniHoldings | None:
        """Holdings of ``eni_id`` (None for an ENI this layer never saw)."""
        return self._enis.get(eni_id)

    def delete_eni(self, eni_id: str) -> None:
        """Release everything ``eni_id`` holds."""
        with self.lock:
            held = self._enis.pop(eni_id, None)
            if held is None:
                return
            alloc = self._subnets.get(held.subnet_id)
            if alloc is None:
                return
            for ip in [held.primary, *held.secondaries]:
                alloc.release_ip(ip, eni_id)
            for prefix in held.prefixes:
                alloc.release_prefix(prefix, eni_id)

    def _holdings(self, eni_id: str) -> tuple[EniHoldings, SubnetAllocator]:
        held = self._enis.get(eni_id)
        if held is None:
            raise InvalidParameterValue(f"Network interface {eni_id} is not managed")
        return held, self._subnets[held.subnet_id]

    # ------------------------------------------------------------------ assign
    def assign(
        self,
        eni_id: str,
        limits: EniLimits,
        *,
        ip_count: int = 0,
        addresses: list[str] | tuple[str, ...] = (),
        prefix_count: int = 0,
        prefixes: list[str] | tuple[str, ...] = (),
        allow_prefixes: bool = True,
    ) -> tuple[list[str], list[str]]:
        """Assign secondary IPs and/or /28 prefixes; returns (new IPs, new prefixes).

        Checks in EC2's order: parameters, Nitro, the per-ENI limit, then capacity. All or
        nothing: on any error nothing stays assigned.
        """
        if ip_count < 0 or prefix_count < 0:
            raise InvalidParameterValue("Counts must not be negative")
        wants_ips = bool(ip_count or addresses)
        wants_prefixes = bool(prefix_count or prefixes)
        if wants_ips and wants_prefixes:
            raise InvalidParameterCombination(
                "You can specify either IPv4 addresses or IPv4 prefixes, not both."
            )
        if ip_count and addresses:
            raise InvalidParameterCombination(
                "You may specify secondaryPrivateIpAddressCount or specific secondary "
                "private IP addresses, but not both."
            )
        if prefix_count and prefixes:
            raise InvalidParameterCombination(
                "You may specify ipv4PrefixCount or specific IPv4 prefixes, but not both."
            )
        if not wants_ips and not wants_prefixes:
            raise InvalidParameterCombination(
                "Either secondaryPrivateIpAddressCount, privateIpAddresses, ipv4PrefixCount "
                "or ipv4Prefixes must be specified."
            )
        if wants_prefixes and not (allow_prefixes and limits.nitro):
            raise InvalidParameterValue(
                f"Prefix delegation is not supported for instance type {limits.instance_type}; "
                "IPv4 prefixes can only be assigned to network interfaces of Nitro instances."
            )
        with self.lock:
            held, alloc = self._holdings(eni_id)
            wanted = ip_count + len(addresses) + prefix_count + len(prefixes)
            if held.slots + wanted > limits.ipv4_per_interface:
                raise PrivateIpAddressLimitExceeded()
            new_ips: list[str] = []
            new_prefixes: list[str] = []
            try:
                for address in addresses:
                    new_ips.append(alloc.claim_ip(address, eni_id))
                new_ips.extend(alloc.allocate_ips(ip_count, eni_id))
                for prefix in prefixes:
                    new_prefixes.append(alloc.claim_prefix(prefix, eni_id))
                new_prefixes.extend(alloc.allocate_prefixes(prefix_count, eni_id))
            except (InsufficientFreeAddressesInSubnet, InsufficientCidrBlocks) as exc:
                for ip in new_ips:
                    alloc.release_ip(ip, eni_id)
                for prefix in new_prefixes:
                    alloc.release_prefix(prefix, eni_id)
                wanted_addresses = ip_count + 16 * prefix_count
                raise subnet_exhausted(exc, alloc.available_count, wanted_addresses) from exc
            except Exception:
                for ip in new_ips:
                    alloc.release_ip(ip, eni_id)
                for prefix in new_prefixes:
                    alloc.release_prefix(prefix, eni_id)
                raise
            held.secondaries.extend(new_ips)
            held.prefixes.extend(new_prefixes)
            return new_ips, new_prefixes

    # ------------------------------------------------------------------ unassign
    def unassign(
        self,
        eni_id: str,
        *,
        addresses: list[str] | tuple[str, ...] = (),
        prefixes: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Unassign secondary IPs and/or prefixes; all must be held by the ENI."""
        if not addresses and not prefixes:
            raise InvalidParameterCombination(
                "Either privateIpAddresses or ipv4Prefixes must be specified."
            )
        with self.lock:
            held, alloc = self._holdings(eni_id)
            if held.primary in addresses:
                raise InvalidParameterValue(
                    f"The primary IP address {held.primary} of interface {eni_id} "
                    "cannot be unassigned"
                )
            if any(a not in held.secondaries for a in addresses):
                raise InvalidParameterValue(
                    f"Some of the specified addresses are not assigned to interface {eni_id}"
                )
            if any(p not in held.prefixes for p in prefixes):
                raise InvalidParameterValue(
                    f"Some of the specified prefixes are not assigned to interface {eni_id}"
                )
            for ip in addresses:
                alloc.release_ip(ip, eni_id)
                held.secondaries.remove(ip)
            for prefix in prefixes:
                alloc.release_prefix(prefix, eni_id)
                held.prefixes.remove(prefix)

    # ------------------------------------------------------------------ reservations
    def add_reservation(self, subnet_id: str, cidr_of_subnet: str, resv: CidrReservation) -> None:
        """Register a subnet CIDR reservation."""
        with self.lock:
            self.subnet(subnet_id, cidr_of_subnet).add_reservation(resv)

    def remove_reservation(self, reservation_id: str) -> None:
        """Forget a reservation wherever it is."""
        with self.lock:
            for alloc in self._subnets.values():
                if alloc.remove_reservation(reservation_id) is not None:
                    return

    # ------------------------------------------------------------------ views
    def snapshot(self) -> dict[str, object]:
        """JSON-ready state: subnets and ENIs with their IPs and prefixes."""
        with self.lock:
            return {
                "subnets": [a.snapshot() for a in self._subnets.values()],
                "enis": [
                    {
                        "eni_id": h.eni_id,
                        "subnet_id": h.subnet_id,
                        "primary": h.primary,
                        "secondaries": list(h.secondaries),
                        "prefixes": list(h.prefixes),
                    }
                    for h in self._enis.values()
                ],
            }

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self._subnets.clear()
            self._enis.clear()


#: AssignPrivateIpAddresses asking for more addresses than the subnet has free (AWS
#: support, quoted in cilium/cilium#31016; cilium's SubnetFullErrMsgStr).
SUBNET_FULL_MESSAGE = "There aren't sufficient free Ipv4 addresses or prefixes"


def subnet_exhausted(exc: Exception, available: int, wanted: int) -> Exception:
    """EC2's answer to an assign the subnet cannot serve (docs/fidelity.md, EC2 rows).

    Fewer free addresses than asked for: InvalidParameterValue with EC2's "not
    sufficient" text, for IPs and prefixes alike. Enough addresses but no aligned, wholly
    free /28 (fragmentation): InsufficientCidrBlocks (cilium/cilium#30536 shows the log).
    """
    if isinstance(exc, InsufficientCidrBlocks) and available >= wanted:
        return exc
    return InvalidParameterValue(SUBNET_FULL_MESSAGE)
