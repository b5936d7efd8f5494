"""Per-instance-type network limits, read from EC2's instance-type records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fake_ec2.exceptions import InvalidParameterValue

#: Limit for an ENI not attached to any instance: the largest per-interface figure EC2
#: has; the real limit applies again once it is attached.
UNATTACHED_IPV4_LIMIT = 50


@dataclass(frozen=True)
class EniLimits:
    """What an instance type allows: addresses per ENI (primary counted), ENIs, Nitro."""

    instance_type: str
    ipv4_per_interface: int
    max_interfaces: int
    nitro: bool


UNATTACHED = EniLimits("(unattached)", UNATTACHED_IPV4_LIMIT, 1, True)


def limits_from_record(instance_type: str, record: Mapping[str, Any]) -> EniLimits:
    """Build :class:`EniLimits` from a DescribeInstanceTypes record.

    Bare-metal types carry no hypervisor but run on Nitro, so they count as Nitro.
    """
    net = record.get("NetworkInfo") or {}
    try:
        per_eni = int(net["Ipv4AddressesPerInterface"])
        max_enis = int(net["MaximumNetworkInterfaces"])
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidParameterValue(
            f"Instance type {instance_type} has no network limits in its record"
        ) from err
    nitro = record.get("Hypervisor") == "nitro" or bool(record.get("BareMetal"))
    return EniLimits(instance_type, per_eni, max_enis, nitro)


class InstanceTypeCatalog:
    """Lookup of :class:`EniLimits` by instance type name over a mapping of records."""

    def __init__(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        self._records = records
        self._cache: dict[str, EniLimits] = {}

    def limits(self, instance_type: str) -> EniLimits:
        """Limits of ``instance_type``; InvalidParameterValue when unknown."""
        hit = self._cache.get(instance_type)
        if hit is None:
            record = self._records.get(instance_type)
            if record is None:
                raise InvalidParameterValue(f"The instance type '{instance_type}' is unknown")
            hit = self._cache[instance_type] = limits_from_record(instance_type, record)
        return hit


def default_catalog() -> InstanceTypeCatalog:
    """The catalog fake_ec2 serves: moto's instance-type records (imported on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        from moto.ec2.models.instance_types import INSTANCE_TYPES

        _DEFAULT = InstanceTypeCatalog(INSTANCE_TYPES)
    return _DEFAULT


def known_instance_type(instance_type: str) -> bool:
    """True when EC2 (fake_ec2, moto's records) knows `instance_type`."""
    try:
        default_catalog().limits(instance_type)
    except InvalidParameterValue:
        return False
    return True


_DEFAULT: InstanceTypeCatalog | None = None
