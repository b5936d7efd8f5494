"""The controller's own instance-type table (controller/limits.py), as upstream keeps it."""

from __future__ import annotations

import pytest

from controller.limits import InstanceTypeInfo, lookup, parse_table, table

# Every type the project's scenarios, docs and tests use, with the figures the pinned
# pkg/aws/vpc/limits.go gives it: (IPv4 per ENI, ENIs, Nitro).
USED = {
    "m5.large": (10, 3, True),
    "t3.2xlarge": (15, 4, True),
    "m4.large": (10, 2, False),
    "m4.2xlarge": (15, 4, False),
    "t2.medium": (6, 3, False),
    "c5.large": (10, 3, True),
    "c5.xlarge": (15, 4, True),
    "c5.4xlarge": (30, 8, True),
    "c5.metal": (50, 15, True),  # no hypervisor, bare metal: Nitro (IsNitroInstance)
}


@pytest.mark.parametrize("itype", sorted(USED))
def test_the_types_the_project_uses_have_upstreams_figures(itype: str) -> None:
    row = lookup(itype)
    assert row is not None
    assert (row.ipv4_per_eni, row.max_enis, row.nitro) == USED[itype]


def test_parse_reads_each_column() -> None:
    text = (
        "# comment\n"
        "x1.large 3 10 nitro false 3\n"
        "x1.metal 15 50 - true 15\n"
        "x1.xen 4 15 xen false 4\n"
        "x1.cards 16 50 nitro false 8\n"
    )
    rows = parse_table(text)
    assert rows["x1.large"] == InstanceTypeInfo("x1.large", 10, 3, True)
    assert rows["x1.metal"].nitro is True
    assert rows["x1.xen"].nitro is False
    # LoadDetails: min(Interface, the default network card's interfaces).
    assert rows["x1.cards"].max_enis == 8


def test_the_table_is_upstreams_not_ec2s() -> None:
    rows = table()
    assert len(rows) == 1164  # the pinned limits.go's entry count
    assert lookup("c8gb.metal-24xl") is None  # EC2 (moto) has it; the controller's table not
    assert lookup("p5.48xlarge") == InstanceTypeInfo("p5.48xlarge", 50, 2, True)
