"""Unit tests of the allocation rules, without any server."""

from __future__ import annotations

import ipaddress

import pytest

from fake_ec2.allocator import CidrReservation, SubnetAllocator
from fake_ec2.exceptions import (
    InsufficientCidrBlocks,
    InsufficientFreeAddressesInSubnet,
    InvalidIPAddressInUse,
    InvalidParameterValue,
)


def test_reserved_addresses_never_handed_out_and_lowest_first() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/28")
    got = alloc.allocate_ips(11, "eni-a")
    assert got == [f"10.0.0.{i}" for i in range(4, 15)]
    with pytest.raises(InsufficientFreeAddressesInSubnet):
        alloc.allocate_ip("eni-a")
    for reserved in ("10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.15"):
        with pytest.raises(InvalidParameterValue):
            alloc.claim_ip(reserved, "eni-b")


def test_all_or_nothing_when_subnet_runs_out() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/28")
    alloc.allocate_ips(9, "eni-a")
    with pytest.raises(InsufficientFreeAddressesInSubnet):
        alloc.allocate_ips(3, "eni-b")
    assert alloc.available_count == 2
    assert alloc.allocate_ips(2, "eni-b") == ["10.0.0.13", "10.0.0.14"]


def test_released_address_is_reused_lowest_first_and_never_twice() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/24")
    ips = alloc.allocate_ips(5, "eni-a")
    assert alloc.release_ip(ips[1], "eni-a")
    assert not alloc.release_ip(ips[1], "eni-a")
    assert alloc.allocate_ip("eni-b") == ips[1]
    with pytest.raises(InvalidIPAddressInUse):
        alloc.claim_ip(ips[2], "eni-b")


def test_prefixes_aligned_disjoint_and_clear_of_ips_and_reserved() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/24")
    alloc.allocate_ip("eni-a")  # 10.0.0.4 sits in block 0 (with the reserved addresses)
    alloc.claim_ip("10.0.0.40", "eni-a")  # block 2 busy
    prefixes = alloc.allocate_prefixes(13, "eni-a")
    nets = [ipaddress.IPv4Network(p) for p in prefixes]
    assert all(n.prefixlen == 28 and int(n.network_address) % 16 == 0 for n in nets)
    assert len({str(n) for n in nets}) == 13
    for a in nets:
        assert not any(a.overlaps(b) for b in nets if b != a)
        assert ipaddress.IPv4Address("10.0.0.40") not in a
        assert ipaddress.IPv4Address("10.0.0.4") not in a
    assert "10.0.0.240/28" not in prefixes  # holds the broadcast address
    assert "10.0.0.0/28" not in prefixes
    with pytest.raises(InsufficientCidrBlocks):
        alloc.allocate_prefix("eni-a")
    # Single addresses never land inside a held prefix.
    for ip in alloc.allocate_ips(alloc.available_count, "eni-b"):
        assert not any(ipaddress.IPv4Address(ip) in n for n in nets)


def test_explicit_prefix_must_be_aligned_and_free() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/24")
    with pytest.raises(InvalidParameterValue):
        alloc.claim_prefix("10.0.0.20/28", "eni-a")
    assert alloc.claim_prefix("10.0.0.32/28", "eni-a") == "10.0.0.32/28"
    with pytest.raises(InvalidIPAddressInUse):
        alloc.claim_prefix("10.0.0.32/28", "eni-b")
    with pytest.raises(InvalidIPAddressInUse):
        alloc.claim_ip("10.0.0.33", "eni-b")
    with pytest.raises(InvalidIPAddressInUse):
        alloc.claim_prefix("10.0.0.0/28", "eni-b")  # holds AWS-reserved addresses


def test_fragmentation_blocks_prefixes_not_ips() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/24")
    occupied = alloc.fragment(every=16, offset=7)
    assert occupied == 16
    with pytest.raises(InsufficientCidrBlocks):
        alloc.allocate_prefix("eni-a")
    ips = alloc.allocate_ips(10, "eni-a")
    assert not any(ip.endswith((".7", ".23", ".39")) for ip in ips)
    assert alloc.holder_of("10.0.0.23") == "fragment"


def test_reservations_kept_out_of_automatic_assignment() -> None:
    alloc = SubnetAllocator("subnet-1", "10.0.0.0/24")
    alloc.add_reservation(CidrReservation("scr-1", "10.0.0.0/26", "explicit"))
    alloc.add_reservation(CidrReservation("scr-2", "10.0.0.64/27", "prefix"))
    assert alloc.allocate_ip("eni-a") == "10.0.0.96"
    # Prefix reservations feed automatic prefixes first; explicit ones never do.
    assert alloc.allocate_prefixes(2, "eni-a") == ["10.0.0.64/28", "10.0.0.80/28"]
    assert alloc.allocate_prefix("eni-a") == "10.0.0.112/28"
    # Explicit assignment inside an explicit reservation is allowed.
    assert alloc.claim_ip("10.0.0.10", "eni-b") == "10.0.0.10"
    with pytest.raises(InvalidParameterValue):
        alloc.add_reservation(CidrReservation("scr-3", "10.0.0.32/28", "explicit"))
    alloc.remove_reservation("scr-1")
    assert alloc.allocate_ip("eni-c") == "10.0.0.4"


def test_large_subnet_allocates_lowest_free_without_scanning() -> None:
    alloc = SubnetAllocator("subnet-big", "10.1.0.0/16")
    first = alloc.allocate_prefixes(100, "eni-a")
    assert first[0] == "10.1.0.16/28" and first[-1] == "10.1.6.64/28"
    ips = alloc.allocate_ips(3, "eni-a")
    assert ips == ["10.1.0.4", "10.1.0.5", "10.1.0.6"]
    assert alloc.available_count == 65536 - 5 - 100 * 16 - 3


def test_fragment_a_range_then_undo_frees_exactly_what_it_held() -> None:
    sub = SubnetAllocator("subnet-1", "10.0.0.0/24")
    kept = sub.allocate_ip("eni-a")
    assert sub.fragment(16, 5, cidr="10.0.0.128/25") == 8
    holders = sub.held_ips()
    assert all(holders[f"10.0.0.{128 + 16 * i + 5}"] == "fragment" for i in range(8))
    assert "10.0.0.5" not in holders  # outside the range: untouched
    # The lower half still has free /28s, the upper half none.
    assert all(
        ipaddress.ip_network(p).subnet_of(ipaddress.ip_network("10.0.0.0/25"))
        for p in sub.allocate_prefixes(7, "eni-a")
    )
    with pytest.raises(InsufficientCidrBlocks):
        sub.allocate_prefix("eni-a")
    assert sub.unfragment("10.0.0.128/26") == 4
    assert sub.allocate_prefix("eni-a").startswith("10.0.0.1")  # a /28 of 128/26 is free again
    assert sub.unfragment() == 4
    assert sub.holder_of(kept) == "eni-a"
    with pytest.raises(InvalidParameterValue, match="not inside subnet"):
        sub.fragment(16, 0, cidr="10.0.1.0/25")


def test_free_counts_follow_allocations() -> None:
    # A /26: 64 addresses, 5 AWS-reserved; 4 blocks, the first and last hold reserved ones.
    a = SubnetAllocator("subnet-1", "10.0.0.0/26")
    assert a.free_counts() == (59, 2)
    a.allocate_prefix("eni-1")
    assert a.free_counts() == (43, 1)
    a.allocate_ip("eni-1")  # the lowest free address, in the first block
    assert a.free_counts() == (42, 1)
