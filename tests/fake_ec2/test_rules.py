"""Unit tests of ENI limits, Nitro rules, faults and the request log: no server."""

from __future__ import annotations

import pytest

from fake_ec2.exceptions import (
    InsufficientCidrBlocks,
    InvalidParameterCombination,
    InvalidParameterValue,
    PrivateIpAddressLimitExceeded,
    RequestLimitExceeded,
)
from fake_ec2.faults import FaultPlan, action_class
from fake_ec2.ipam import Ec2Rules
from fake_ec2.limits import EniLimits, InstanceTypeCatalog, limits_from_record
from fake_ec2.request_log import RequestLog

M5_LARGE = EniLimits("m5.large", 10, 3, True)
T3_2XL = EniLimits("t3.2xlarge", 15, 4, True)
M4_LARGE = EniLimits("m4.large", 10, 2, False)


def _rules_with_eni(cidr: str = "10.0.0.0/20") -> Ec2Rules:
    rules = Ec2Rules()
    rules.create_eni("eni-1", "subnet-1", cidr, None)
    return rules


def test_limits_from_moto_records() -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    catalog = InstanceTypeCatalog(INSTANCE_TYPES)
    assert catalog.limits("m5.large") == M5_LARGE
    assert catalog.limits("t3.2xlarge") == T3_2XL
    assert catalog.limits("m4.large").nitro is False
    assert catalog.limits("c5.metal").nitro is True  # bare metal counts as Nitro
    with pytest.raises(InvalidParameterValue):
        catalog.limits("x9.imaginary")
    with pytest.raises(InvalidParameterValue):
        limits_from_record("bad", {"NetworkInfo": {}})


def test_secondary_limit_counts_the_primary() -> None:
    rules = _rules_with_eni()
    new, _ = rules.assign("eni-1", M5_LARGE, ip_count=9)
    assert len(new) == 9
    with pytest.raises(PrivateIpAddressLimitExceeded):
        rules.assign("eni-1", M5_LARGE, ip_count=1)


def test_prefix_limit_and_mixing_counts_both() -> None:
    rules = _rules_with_eni()
    _, prefixes = rules.assign("eni-1", T3_2XL, prefix_count=14)
    assert len(prefixes) == 14
    with pytest.raises(PrivateIpAddressLimitExceeded):
        rules.assign("eni-1", T3_2XL, prefix_count=1)
    rules.unassign("eni-1", prefixes=prefixes[:4])
    rules.assign("eni-1", T3_2XL, ip_count=2)
    rules.assign("eni-1", T3_2XL, prefix_count=2)
    with pytest.raises(PrivateIpAddressLimitExceeded):
        rules.assign("eni-1", T3_2XL, ip_count=1)
    held = rules.eni("eni-1")
    assert held is not None and held.slots == 15


def test_failed_assign_leaves_nothing_behind() -> None:
    rules = Ec2Rules()
    rules.create_eni("eni-1", "subnet-1", "10.0.0.0/26", None)  # two free /28s
    with pytest.raises(InsufficientCidrBlocks):
        rules.assign("eni-1", EniLimits("big", 50, 1, True), prefix_count=3)
    held = rules.eni("eni-1")
    assert held is not None and held.prefixes == []
    alloc = rules.known_subnet("subnet-1")
    assert alloc is not None and alloc.held_prefixes() == {}


def test_prefixes_refused_on_non_nitro() -> None:
    rules = _rules_with_eni()
    with pytest.raises(InvalidParameterValue, match=r"m4\.large"):
        rules.assign("eni-1", M4_LARGE, prefix_count=1)
    new, _ = rules.assign("eni-1", M4_LARGE, ip_count=1)
    assert len(new) == 1


def test_bad_parameter_combinations() -> None:
    rules = _rules_with_eni()
    with pytest.raises(InvalidParameterCombination):
        rules.assign("eni-1", M5_LARGE, ip_count=1, prefix_count=1)
    with pytest.raises(InvalidParameterCombination):
        rules.assign("eni-1", M5_LARGE)


def test_unassign_what_the_eni_does_not_hold_fails() -> None:
    rules = _rules_with_eni()
    rules.create_eni("eni-2", "subnet-1", "10.0.0.0/20", None)
    other, _ = rules.assign("eni-2", M5_LARGE, ip_count=1)
    with pytest.raises(InvalidParameterValue, match="not assigned to interface eni-1"):
        rules.unassign("eni-1", addresses=other)
    with pytest.raises(InvalidParameterValue, match="prefixes are not assigned"):
        rules.unassign("eni-1", prefixes=["10.0.1.0/28"])
    held = rules.eni("eni-1")
    assert held is not None
    with pytest.raises(InvalidParameterValue):
        rules.unassign("eni-1", addresses=[held.primary])


def test_delete_eni_frees_everything() -> None:
    rules = _rules_with_eni("10.0.0.0/24")
    rules.assign("eni-1", T3_2XL, prefix_count=3)
    alloc = rules.known_subnet("subnet-1")
    assert alloc is not None
    before = alloc.available_count
    rules.delete_eni("eni-1")
    assert alloc.available_count == before + 1 + 3 * 16


def test_fault_plan_is_seeded_and_reproducible() -> None:
    def run(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.configure({"actions": {"AssignPrivateIpAddresses": {"throttle_rate": 0.5}}})
        return [plan.decide("AssignPrivateIpAddresses").error is not None for _ in range(200)]

    a, b = run(3), run(3)
    assert a == b
    assert 40 < sum(a) < 160
    assert run(4) != a


def test_token_bucket_and_injected_error_and_latency() -> None:
    now = [0.0]
    plan = FaultPlan(seed=1, clock=lambda: now[0])
    plan.configure(
        {
            "actions": {
                "DescribeInstances": {"bucket": {"capacity": 2, "refill_per_s": 1}},
                "CreateNetworkInterface": {
                    "error": {"code": "InsufficientFreeAddressesInSubnet", "times": 2}
                },
                "*": {"latency_ms": 25},
            }
        }
    )
    assert plan.decide("DescribeInstances").error is None
    assert plan.decide("DescribeInstances").error is None
    throttled = plan.decide("DescribeInstances")
    assert isinstance(throttled.error, RequestLimitExceeded) and throttled.error.http_status == 503
    now[0] += 1.0
    assert plan.decide("DescribeInstances").error is None
    codes = [plan.decide("CreateNetworkInterface").error for _ in range(3)]
    assert [c.code if c else None for c in codes] == [
        "InsufficientFreeAddressesInSubnet",
        "InsufficientFreeAddressesInSubnet",
        None,
    ]
    assert plan.decide("Anything").delay_s == pytest.approx(0.025)
    with pytest.raises(ValueError, match="unknown field"):
        plan.configure({"actions": {"X": {"latncy_ms": 1}}})


def test_realistic_profile_uses_aws_bucket_sizes() -> None:
    now = [0.0]
    plan = FaultPlan(seed=1, clock=lambda: now[0])
    plan.configure({"profile": "realistic", "time_scale": 1.0})
    assert action_class("AssignPrivateIpAddresses") == "resource_intensive"
    results = [plan.decide("AssignPrivateIpAddresses").error for _ in range(101)]
    assert all(r is None for r in results[:100]) and results[100] is not None
    now[0] += 1.0  # refill 5/s
    assert sum(plan.decide("AssignPrivateIpAddresses").error is None for _ in range(10)) == 5
    assert sum(plan.decide("RunInstances").error is None for _ in range(60)) == 50


def test_request_log_is_bounded() -> None:
    log = RequestLog(capacity=3)
    for i in range(5):
        log.add(time=0.0, action=f"A{i}", params={}, status=200, code="OK", latency_ms=1.0)
    rows = log.query()
    assert [r["action"] for r in rows] == ["A2", "A3", "A4"]
    assert [r["seq"] for r in log.query(since=4)] == [5]
