"""Instance limits from the controller's own static table, as the real controller keeps them.

The real controller never asks EC2 for an instance type's limits: it looks the type up in
a generated map shipped in its binary (pkg/aws/vpc/limits.go @ b8d42511) and refuses a
node whose type is not listed, even when EC2 knows the type (ec2/instance.go LoadDetails).
`instance_types.txt` beside this module holds that table's facts, one line per type,
written by scripts/upstream-instance-types.py (the upstream workflow checks it against the
pinned source).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class InstanceTypeInfo:
    """One row of the table: what the Windows IPAM needs of an instance type."""

    instance_type: str
    ipv4_per_eni: int  # primary address included
    max_enis: int  # min(Interface, default network card's interfaces), as LoadDetails
    nitro: bool  # IsNitroInstance: hypervisor "nitro" or bare metal


def unsupported_type_message(instance_type: str) -> str:
    """node.go InitResources' Event text when LoadDetails finds no table row."""
    return f"The instance type {instance_type} is not supported yet by the vpc resource controller"


def parse_table(text: str) -> dict[str, InstanceTypeInfo]:
    """The table from `instance_types.txt`'s text (comment lines start with '#')."""
    out: dict[str, InstanceTypeInfo] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, interfaces, ipv4, hypervisor, bare_metal, card = line.split()
        out[name] = InstanceTypeInfo(
            instance_type=name,
            ipv4_per_eni=int(ipv4),
            max_enis=min(int(interfaces), int(card)),
            nitro=hypervisor == "nitro" or bare_metal == "true",
        )
    return out


@cache
def table() -> dict[str, InstanceTypeInfo]:
    """The shipped table (read once)."""
    text = resources.files("controller").joinpath("instance_types.txt").read_text()
    return parse_table(text)


def lookup(instance_type: str) -> InstanceTypeInfo | None:
    """The table's row for `instance_type`; None when the controller does not know it."""
    return table().get(instance_type)
