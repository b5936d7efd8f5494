"""controller.configcheck: which ConfigMap values are named as rejected or overridden, and
that each message carries the key, the value, what was expected and what happens instead.

Expected outcomes follow the real controller (aws/amazon-vpc-resource-controller-k8s @
b8d42511): loader.go ParseWinIPTargetConfigs (Atoi errors read as 0, explicit 0 in
secondary mode -> 1), pool.go (negative secondary targets -> 3; PD targets <= 0 unset;
the pool never creates past its capacity), conditions.go (ParseBool errors -> false).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.config import WindowsIPAMConfig
from controller.configcheck import (
    BOOL_EXPECTED,
    NEGATIVE_EXPECTED,
    RANGE_EXPECTED,
    SYNTAX_EXPECTED,
    ZERO_PREFIX_EXPECTED,
    ZERO_SECONDARY_EXPECTED,
    capacity_problems,
    configmap_problems,
)

IPAM = {"enable-windows-ipam": "true"}
PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}


def problems(data: dict[str, str], *, flag: bool = True) -> dict[str, tuple[str, str]]:
    """key -> (expected, outcome) of each problem."""
    found = configmap_problems(data, prefix_delegation_flag=flag)
    assert len({p.key for p in found}) == len(found), found
    return {p.key: (p.expected, p.outcome) for p in found}


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        IPAM,
        PD,
        {"enable-windows-ipam": "false"},
        {**IPAM, "warm-ip-target": "5", "minimum-ip-target": "0"},
        {**IPAM, "windows-warm-ip-target": "+4"},
        {**PD, "warm-prefix-target": "2", "warm-ip-target": "0"},  # 0 = unset, prefix applies
        {**PD, "warm-ip-target": "15", "minimum-ip-target": "20"},
        {**IPAM, "warm-prefix-target": "abc"},  # never read in secondary mode
    ],
)
def test_valid_configmaps_have_no_problem(data: dict[str, str] | None) -> None:
    assert configmap_problems(data) == []


@pytest.mark.parametrize("value", ["yes please", "yes", "on", " true", "", "tRUE", "2"])
def test_unparsable_ipam_flag_says_ipam_is_off(value: str) -> None:
    data = {"enable-windows-ipam": value}
    assert WindowsIPAMConfig.from_configmap(data).enabled is False  # the behaviour stays
    expected, outcome = problems(data)["enable-windows-ipam"]
    assert expected == BOOL_EXPECTED
    assert "Windows IPAM is off" in outcome and "recreate" in outcome


def test_unparsable_pd_flag_says_secondary_mode() -> None:
    data = {**IPAM, "enable-windows-prefix-delegation": "enabled"}
    assert WindowsIPAMConfig.from_configmap(data).mode == "secondary"
    assert problems(data)["enable-windows-prefix-delegation"] == (
        BOOL_EXPECTED,
        "secondary IP mode",
    )


def test_pd_requested_without_the_controller_flag() -> None:
    data = {**PD, "warm-ip-target": "10"}
    assert problems(data) == {}
    expected, outcome = problems(data, flag=False)["enable-windows-prefix-delegation"]
    assert "--enable-windows-prefix-delegation" in expected
    assert "warm 3, minimum 3" in outcome


@pytest.mark.parametrize(
    ("data", "key", "expected", "outcome"),
    [
        # Atoi syntax errors read as 0; alone, the all-zero rule gives the defaults.
        (
            {**IPAM, "warm-ip-target": "abc"},
            "warm-ip-target",
            SYNTAX_EXPECTED,
            "read as 0; the secondary pool uses warm 3",
        ),
        (
            {**IPAM, "warm-ip-target": "4.0", "minimum-ip-target": "2"},
            "warm-ip-target",
            SYNTAX_EXPECTED,
            "read as 0; the secondary pool uses warm 0",
        ),
        (
            {**IPAM, "minimum-ip-target": " 4"},
            "minimum-ip-target",
            SYNTAX_EXPECTED,
            "read as 0; the secondary pool uses minimum 3",
        ),
        (
            {**PD, "windows-warm-prefix-target": "0x10"},
            "windows-warm-prefix-target",
            SYNTAX_EXPECTED,
            "read as 0; ignored: warm-ip-target and minimum-ip-target take precedence",
        ),
        # The plain key wins even when it is invalid: the problem names it, not the twin.
        (
            {**IPAM, "warm-ip-target": "", "windows-warm-ip-target": "7"},
            "warm-ip-target",
            SYNTAX_EXPECTED,
            "read as 0; the secondary pool uses warm 3",
        ),
        # Range errors: Go keeps the clamped bound.
        (
            {**IPAM, "warm-ip-target": "99999999999999999999"},
            "warm-ip-target",
            RANGE_EXPECTED,
            "read as 9223372036854775807; the secondary pool uses warm 9223372036854775807, "
            "so it fills each ENI of the node to its capacity",
        ),
        # Negative: the secondary pool substitutes 3; PD leaves it unset (defaults).
        (
            {**IPAM, "warm-ip-target": "-3"},
            "warm-ip-target",
            NEGATIVE_EXPECTED,
            "the secondary pool uses warm 3",
        ),
        (
            {**IPAM, "warm-ip-target": "2", "minimum-ip-target": "-4"},
            "minimum-ip-target",
            NEGATIVE_EXPECTED,
            "the secondary pool uses minimum 3",
        ),
        (
            {**PD, "warm-ip-target": "-1"},
            "warm-ip-target",
            NEGATIVE_EXPECTED,
            "the prefix pool uses warm 1",
        ),
        (
            {**PD, "warm-ip-target": "-1", "warm-prefix-target": "2"},
            "warm-ip-target",
            NEGATIVE_EXPECTED,
            "ignored: only warm-prefix-target is above 0, so the pool follows it",
        ),
        # Explicit 0: secondary overrides with 1; PD treats 0 as unset.
        (
            {**IPAM, "warm-ip-target": "0"},
            "warm-ip-target",
            ZERO_SECONDARY_EXPECTED,
            "the secondary pool uses warm 1",
        ),
        (
            {**PD, "warm-ip-target": "0"},
            "warm-ip-target",
            ZERO_PREFIX_EXPECTED,
            "the prefix pool uses warm 1",
        ),
        (
            {**PD, "minimum-ip-target": "0", "warm-ip-target": "4"},
            "minimum-ip-target",
            ZERO_PREFIX_EXPECTED,
            "the prefix pool uses minimum 3",
        ),
    ],
)
def test_target_problems(data: dict[str, str], key: str, expected: str, outcome: str) -> None:
    assert problems(data)[key] == (expected, outcome)


def test_message_names_key_value_expectation_and_outcome() -> None:
    (p,) = configmap_problems({**IPAM, "warm-ip-target": "abc"})
    assert p.message() == (
        'ConfigMap kube-system/amazon-vpc-cni: warm-ip-target="abc" is not valid: expected '
        + SYNTAX_EXPECTED
        + "; read as 0; the secondary pool uses warm 3"
    )


def test_message_quotes_at_most_64_characters_of_a_value() -> None:
    (p,) = configmap_problems({**IPAM, "warm-ip-target": "x" * 1_000_000})
    msg = p.message()
    assert '"' + "x" * 64 + '"… (1000000 characters)' in msg
    assert len(msg) < 600


@pytest.mark.parametrize(
    ("data", "capacity", "key", "expected"),
    [
        ({**IPAM, "warm-ip-target": "99999"}, 9, "warm-ip-target", "at most 9 IPs"),
        ({**IPAM, "windows-minimum-ip-target": "10"}, 9, "windows-minimum-ip-target", "at most 9"),
        ({**PD, "warm-ip-target": "145"}, 144, "warm-ip-target", "at most 144 IPs"),
        ({**PD, "warm-prefix-target": "10"}, 144, "warm-prefix-target", "at most 9 prefixes"),
    ],
)
def test_capacity_problems(data: dict[str, str], capacity: int, key: str, expected: str) -> None:
    eff = WindowsIPAMConfig.from_configmap(data)
    (p,) = capacity_problems(data, eff, node="win-a", instance_type="m5.large", capacity=capacity)
    assert p.key == key and p.expected.startswith(expected)
    assert f"on node win-a (m5.large, {eff.mode} mode)" in p.expected
    assert p.message().startswith(f'ConfigMap kube-system/amazon-vpc-cni: {key}="')
    assert "cannot be met" in p.message()


@pytest.mark.parametrize(
    "data",
    [
        {**IPAM, "warm-ip-target": "9"},  # exactly the capacity
        IPAM,  # defaults always fit
        {**IPAM, "warm-ip-target": "99999999999999999999"},  # unparsable: the other check
        {**PD, "warm-ip-target": "99"},  # PD targets do not reach a secondary pool
        {"enable-windows-ipam": "false", "warm-ip-target": "99"},  # disabled
    ],
)
def test_no_capacity_problem(data: dict[str, str]) -> None:
    eff = WindowsIPAMConfig.from_configmap(data, nitro=False)
    assert capacity_problems(data, eff, node="n", instance_type="t", capacity=9) == []


KEYS = st.sampled_from(
    [
        "enable-windows-ipam",
        "enable-windows-prefix-delegation",
        "warm-ip-target",
        "minimum-ip-target",
        "warm-prefix-target",
        "windows-warm-ip-target",
        "windows-minimum-ip-target",
        "windows-warm-prefix-target",
    ]
)
VALUES = st.one_of(
    st.sampled_from(["true", "false", "yes", "0", "1", "-1", "", "99999", " 3", "+2"]),
    st.integers(min_value=-(10**21), max_value=10**21).map(str),
    st.text(max_size=30),
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8), st.booleans(), st.booleans())
def test_problems_never_fail_and_always_explain(
    data: dict[str, str], flag: bool, nitro: bool
) -> None:
    """Any ConfigMap: each problem names a key of the data with its value and explains it."""
    for p in configmap_problems(data, prefix_delegation_flag=flag):
        assert data[p.key] == p.value and p.expected and p.outcome
        assert p.key in p.message()
    eff = WindowsIPAMConfig.from_configmap(data, nitro=nitro, prefix_delegation_flag=flag)
    for p in capacity_problems(data, eff, node="n", instance_type="t", capacity=9):
        assert data[p.key] == p.value and "at most" in p.expected
