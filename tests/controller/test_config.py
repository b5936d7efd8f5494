"""Table tests for controller.config: every expected value is derived by hand from the
real controller's source (aws/amazon-vpc-resource-controller-k8s @ b8d42511), not from
this implementation. The comment on each case names the upstream function it follows:

  COND   pkg/condition/conditions.go IsWindowsIPAMEnabled / IsWindowsPrefixDelegationEnabled /
         IsOldVPCControllerDeploymentPresent
  PARSE  pkg/config/loader.go ParseWinIPTargetConfigs
  LOAD   pkg/config/loader.go LoadResourceConfigFromConfigMap (all-zero -> defaults)
  GETWP  pkg/pool/utils.go GetWinWarmPoolConfig (PD targets only reach the PD pool)
  PDDEV  pkg/pool/pool.go getPDDeviation (defaults filled when a target is not > 0)
  SECDEV pkg/pool/pool.go calculateSecondaryIPDeviation (negative -> default 3)
  UPD    pkg/provider/ip/provider.go UpdateResourceCapacity (non-Nitro stays secondary)
"""

from __future__ import annotations

import pytest

from controller import goparse
from controller.config import (
    DeploymentLookup,
    PoolMode,
    WarmPoolConfig,
    WindowsIPAMConfig,
    is_windows_ipam_enabled,
    is_windows_pd_enabled,
    load_resource_config,
    normalise,
    normalise_prefix_config,
    old_controller_present,
    parse_win_ip_target_configs,
)

I64MAX = (1 << 63) - 1
I64MIN = -(1 << 63)

IPAM = {"enable-windows-ipam": "true"}
PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}


def ipam(**kv: str) -> dict[str, str]:
    return {**IPAM, **{k.replace("_", "-"): v for k, v in kv.items()}}


def pd(**kv: str) -> dict[str, str]:
    return {**PD, **{k.replace("_", "-"): v for k, v in kv.items()}}


# ---------------------------------------------------------------- Go parsing primitives
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("t", True),
        ("T", True),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("0", False),
        ("f", False),
        ("F", False),
        ("false", False),
        ("FALSE", False),
        ("False", False),
    ],
)
def test_parse_bool_accepts_go_spellings(text: str, expected: bool) -> None:
    assert goparse.parse_bool(text) is expected


@pytest.mark.parametrize(
    "text", ["yes", "on", "y", "tRUE", "truE", " true", "true ", "", "2", "enabled", "no"]
)
def test_parse_bool_rejects_others(text: str) -> None:
    with pytest.raises(ValueError, match="invalid syntax"):
        goparse.parse_bool(text)


@pytest.mark.parametrize(
    ("text", "value", "ok"),
    [
        ("4", 4, True),
        ("+4", 4, True),
        ("-4", -4, True),
        ("0", 0, True),
        ("-0", 0, True),
        ("007", 7, True),
        ("0000000000000000004", 4, True),  # 19 chars: ParseInt path
        (" 4", 0, False),
        ("4 ", 0, False),
        ("4.0", 0, False),
        ("0x10", 0, False),
        ("", 0, False),
        ("+", 0, False),
        ("-", 0, False),
        ("1_000", 0, False),
        ("abc", 0, False),
        ("٣", 0, False),
        ("++4", 0, False),
        ("9223372036854775807", I64MAX, True),
        ("-9223372036854775808", I64MIN, True),
        # Range errors return the clamped bound with the error.
        ("9223372036854775808", I64MAX, False),
        ("-9223372036854775809", I64MIN, False),
        ("99999999999999999999", I64MAX, False),
        ("-99999999999999999999", I64MIN, False),
        # ParseUint stops at the overflow before seeing the bad character.
        ("99999999999999999999x", I64MAX, False),
        ("9x", 0, False),
    ],
)
def test_atoi_matches_go(text: str, value: int, ok: bool) -> None:
    assert goparse.atoi(text) == (value, ok)


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        (0, 16, 0),
        (1, 16, 1),
        (16, 16, 1),
        (17, 16, 2),
        (32, 16, 2),
        (-1, 16, 0),
        (-16, 16, 0),
        (-17, 16, 0),
        (-33, 16, -1),
    ],
)
def test_ceil_division_truncates_like_go(x: int, y: int, expected: int) -> None:
    # utils/math.go CeilDivision = (x+y-1)/y with Go's truncating division.
    assert goparse.ceil_division(x, y) == expected


# ---------------------------------------------------------------- mode selection (COND)
@pytest.mark.parametrize(
    ("data", "nitro", "flag", "mode"),
    [
        (None, True, True, "disabled"),  # COND: no ConfigMap -> false
        ({}, True, True, "disabled"),  # COND: Data nil -> false
        ({"enable-windows-ipam": "yes"}, True, True, "disabled"),  # COND: ParseBool error
        ({"enable-windows-ipam": "on"}, True, True, "disabled"),
        ({"enable-windows-ipam": "tRUE"}, True, True, "disabled"),
        ({"enable-windows-ipam": " true"}, True, True, "disabled"),
        ({"enable-windows-ipam": ""}, True, True, "disabled"),
        ({"enable-windows-ipam": "false"}, True, True, "disabled"),
        ({"enable-windows-ipam": "0"}, True, True, "disabled"),
        ({"enable-windows-prefix-delegation": "true"}, True, True, "disabled"),  # COND
        ({"enable-windows-ipam": "TRUE"}, True, True, "secondary"),
        ({"enable-windows-ipam": "1"}, True, True, "secondary"),
        ({"enable-windows-ipam": "t"}, True, True, "secondary"),
        ({"enable-windows-ipam": "T"}, True, True, "secondary"),
        ({"enable-windows-ipam": "True"}, True, True, "secondary"),
        (PD, True, True, "prefix"),  # COND: flag + IPAM + PD key
        (PD, False, True, "secondary"),  # UPD: non-Nitro falls back
        (PD, True, False, "secondary"),  # COND: controller flag off
        ({**IPAM, "enable-windows-prefix-delegation": "1"}, True, True, "prefix"),
        ({**IPAM, "enable-windows-prefix-delegation": "yes"}, True, True, "secondary"),
        ({**IPAM, "enable-windows-prefix-delegation": ""}, True, True, "secondary"),
        (
            {"enable-windows-ipam": "no", "enable-windows-prefix-delegation": "true"},
            True,
            True,
            "disabled",
        ),
    ],
)
def test_mode(data: dict[str, str] | None, nitro: bool, flag: bool, mode: str) -> None:
    cfg = WindowsIPAMConfig.from_configmap(data, nitro=nitro, prefix_delegation_flag=flag)
    assert cfg.mode == mode


# ------------------------------------------------------- targets (warm, minimum, prefix)
CASES: list[tuple[str, dict[str, str], bool, bool, tuple[int, int, int]]] = [
    # --- secondary mode (IPAM on, no PD) ---
    ("sec defaults", IPAM, True, True, (3, 3, 0)),  # PARSE: all zero, !PD -> 3/3
    ("sec warm 5", ipam(warm_ip_target="5"), True, True, (5, 0, 0)),  # PARSE: min absent -> 0
    ("sec min 5", ipam(minimum_ip_target="5"), True, True, (0, 5, 0)),  # PARSE: warm absent -> 0
    ("sec warm 5 min 7", ipam(warm_ip_target="5", minimum_ip_target="7"), True, True, (5, 7, 0)),
    ("sec warm 0 -> 1", ipam(warm_ip_target="0"), True, True, (1, 0, 0)),  # PARSE: explicit 0
    ("sec warm 0 min 0", ipam(warm_ip_target="0", minimum_ip_target="0"), True, True, (1, 0, 0)),
    ("sec warm 0 min 4", ipam(warm_ip_target="0", minimum_ip_target="4"), True, True, (1, 4, 0)),
    ("sec warm abc", ipam(warm_ip_target="abc"), True, True, (3, 3, 0)),  # PARSE: err -> 0 -> dflt
    (
        "sec warm abc min 2",
        ipam(warm_ip_target="abc", minimum_ip_target="2"),
        True,
        True,
        (0, 2, 0),
    ),  # PARSE: parse error gives 0, not the secondary 0 -> 1 override
    ("sec warm -1", ipam(warm_ip_target="-1"), True, True, (3, 0, 0)),  # SECDEV: <0 -> 3
    (
        "sec min -4 warm 2",
        ipam(warm_ip_target="2", minimum_ip_target="-4"),
        True,
        True,
        (2, 3, 0),
    ),  # SECDEV
    ("sec both -1", ipam(warm_ip_target="-1", minimum_ip_target="-1"), True, True, (3, 3, 0)),
    ("sec +4", ipam(warm_ip_target="+4"), True, True, (4, 0, 0)),  # Atoi accepts a sign
    ("sec ' 4'", ipam(warm_ip_target=" 4"), True, True, (3, 3, 0)),  # Atoi error -> defaults
    ("sec 4.0", ipam(warm_ip_target="4.0"), True, True, (3, 3, 0)),
    ("sec 0x10", ipam(warm_ip_target="0x10"), True, True, (3, 3, 0)),
    ("sec empty", ipam(warm_ip_target=""), True, True, (3, 3, 0)),
    (
        "sec plain empty wins",
        {**IPAM, "warm-ip-target": "", "windows-warm-ip-target": "7"},
        True,
        True,
        (3, 3, 0),
    ),  # PARSE: plain key present -> twin ignored
    (
        "sec plain invalid wins",
        {**IPAM, "warm-ip-target": "x", "windows-warm-ip-target": "7", "minimum-ip-target": "2"},
        True,
        True,
        (0, 2, 0),
    ),
    ("sec win warm 7", {**IPAM, "windows-warm-ip-target": "7"}, True, True, (7, 0, 0)),
    ("sec win min 6", {**IPAM, "windows-minimum-ip-target": "6"}, True, True, (0, 6, 0)),
    (
        "sec plain beats twin",
        {**IPAM, "warm-ip-target": "2", "windows-warm-ip-target": "9"},
        True,
        True,
        (2, 0, 0),
    ),
    (
        "sec min plain beats twin",
        {**IPAM, "minimum-ip-target": "1", "windows-minimum-ip-target": "9"},
        True,
        True,
        (0, 1, 0),
    ),
    ("sec warm-prefix ignored", ipam(warm_prefix_target="4"), True, True, (3, 3, 0)),  # PARSE
    ("sec overflow", ipam(warm_ip_target="99999999999999999999"), True, True, (I64MAX, 0, 0)),
    ("sec -overflow", ipam(warm_ip_target="-99999999999999999999"), True, True, (3, 0, 0)),
    (
        "sec PD key unparsable",
        {**IPAM, "enable-windows-prefix-delegation": "yes", "warm-ip-target": "10"},
        True,
        True,
        (10, 0, 0),
    ),
    # PD requested but flag off: PARSE sees the PD key, so LOAD stores the targets in the
    # PD config and GETWP hands the secondary pool its defaults.
    ("flag off", pd(warm_ip_target="10"), True, False, (3, 3, 0)),
    ("flag off, explicit 0", pd(warm_ip_target="0", minimum_ip_target="0"), True, False, (3, 3, 0)),
    # Non-Nitro node in a PD cluster: secondary pool with default 3/3 (UPD + GETWP).
    ("non-nitro PD", pd(warm_ip_target="10", minimum_ip_target="20"), False, True, (3, 3, 0)),
    ("non-nitro PD wpt", pd(warm_prefix_target="2"), False, True, (3, 3, 0)),
    ("non-nitro IPAM only", ipam(warm_ip_target="10"), False, True, (10, 0, 0)),
    # --- prefix delegation mode ---
    ("pd defaults", PD, True, True, (1, 3, 0)),  # PARSE: all zero & PD -> 1/3/0
    ("pd warm 15", pd(warm_ip_target="15"), True, True, (15, 3, 0)),  # PDDEV: min -> 3
    ("pd min 20", pd(minimum_ip_target="20"), True, True, (1, 20, 0)),  # PDDEV: warm -> 1
    ("pd wpt 2", pd(warm_prefix_target="2"), True, True, (0, 0, 2)),  # PDDEV: prefix-only
    ("pd wpt 2 warm 5", pd(warm_prefix_target="2", warm_ip_target="5"), True, True, (5, 3, 2)),
    ("pd wpt 2 min 20", pd(warm_prefix_target="2", minimum_ip_target="20"), True, True, (1, 20, 2)),
    (
        "pd all set",
        pd(warm_prefix_target="2", minimum_ip_target="20", warm_ip_target="4"),
        True,
        True,
        (4, 20, 2),
    ),
    ("pd warm 0", pd(warm_ip_target="0"), True, True, (1, 3, 0)),  # no 0->1 in PD; all zero
    ("pd warm 0 wpt 3", pd(warm_ip_target="0", warm_prefix_target="3"), True, True, (0, 0, 3)),
    (
        "pd all 0",
        pd(warm_ip_target="0", minimum_ip_target="0", warm_prefix_target="0"),
        True,
        True,
        (1, 3, 0),
    ),
    ("pd warm -1", pd(warm_ip_target="-1"), True, True, (1, 3, 0)),  # LOAD keeps, PDDEV fills
    (
        "pd warm -1 wpt 2",
        pd(warm_ip_target="-1", warm_prefix_target="2"),
        True,
        True,
        (-1, 0, 2),
    ),  # PDDEV: only the prefix target is "defined"; others left as stored
    ("pd wpt -1", pd(warm_prefix_target="-1"), True, True, (1, 3, -1)),  # LOAD stores -1
    ("pd wpt abc", pd(warm_prefix_target="abc"), True, True, (1, 3, 0)),
    ("pd win wpt 2", {**PD, "windows-warm-prefix-target": "2"}, True, True, (0, 0, 2)),
    (
        "pd plain wpt empty wins",
        {**PD, "warm-prefix-target": "", "windows-warm-prefix-target": "2"},
        True,
        True,
        (1, 3, 0),
    ),
    ("pd win warm 15", {**PD, "windows-warm-ip-target": "15"}, True, True, (15, 3, 0)),
    ("pd win min 20", {**PD, "windows-minimum-ip-target": "20"}, True, True, (1, 20, 0)),
    (
        "pd PD key 1",
        {**IPAM, "enable-windows-prefix-delegation": "1", "warm-ip-target": "15"},
        True,
        True,
        (15, 3, 0),
    ),
    ("pd +15", pd(warm_ip_target="+15"), True, True, (15, 3, 0)),
    ("pd min -5 warm 5", pd(warm_ip_target="5", minimum_ip_target="-5"), True, True, (5, 3, 0)),
    (
        "pd -5 -5 wpt 1",
        pd(warm_ip_target="-5", minimum_ip_target="-5", warm_prefix_target="1"),
        True,
        True,
        (-5, -5, 1),
    ),
    ("pd overflow", pd(warm_ip_target="99999999999999999999"), True, True, (I64MAX, 3, 0)),
    ("pd ' 15'", pd(warm_ip_target=" 15"), True, True, (1, 3, 0)),
]


@pytest.mark.parametrize(
    ("data", "nitro", "flag", "expected"),
    [pytest.param(d, n, f, e, id=name) for name, d, n, f, e in CASES],
)
def test_targets(
    data: dict[str, str], nitro: bool, flag: bool, expected: tuple[int, int, int]
) -> None:
    cfg = WindowsIPAMConfig.from_configmap(data, nitro=nitro, prefix_delegation_flag=flag)
    assert cfg.mode != "disabled"
    assert (cfg.warm_ip_target, cfg.minimum_ip_target, cfg.warm_prefix_target) == expected


def test_defaults_when_called_with_positional_data_only() -> None:
    # Keyword defaults: nitro=True, prefix_delegation_flag=True.
    cfg = WindowsIPAMConfig.from_configmap(PD)
    assert (cfg.mode, cfg.warm_ip_target, cfg.minimum_ip_target, cfg.warm_prefix_target) == (
        "prefix",
        1,
        3,
        0,
    )


# ------------------------------------------------------------ raw upstream functions
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, (3, 3, 0, False)),  # PARSE: Data nil -> defaults, not PD
        (PD, (1, 3, 0, True)),
        (pd(warm_prefix_target="2"), (0, 0, 2, True)),
        (ipam(warm_prefix_target="2"), (3, 3, 0, False)),
        (ipam(warm_ip_target="0"), (1, 0, 0, False)),
        (pd(warm_ip_target="0"), (1, 3, 0, True)),
        (pd(warm_prefix_target="-1"), (0, 0, -1, True)),  # no defaults: wpt != 0
        (ipam(minimum_ip_target="x"), (3, 3, 0, False)),
    ],
)
def test_parse_win_ip_target_configs(
    data: dict[str, str] | None, expected: tuple[int, int, int, bool]
) -> None:
    assert parse_win_ip_target_configs(data) == expected


def test_load_resource_config_defaults_desired_sizes() -> None:
    # getDefaultResourceConfig: DesiredSize 3 (secondary) / 1 (PD) keeps both pools active.
    configs = load_resource_config(None)
    assert configs["vpc.amazonaws.com/PrivateIPv4Address"] == WarmPoolConfig(
        desired_size=3, warm_ip_target=3, min_ip_target=3
    )
    assert configs["vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"] == WarmPoolConfig(
        desired_size=1, warm_ip_target=1, min_ip_target=3, warm_prefix_target=0
    )


def test_load_resource_config_pd_targets_only_in_pd_pool() -> None:
    configs = load_resource_config(pd(warm_ip_target="15", minimum_ip_target="2"))
    assert configs["vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"].warm_ip_target == 15
    assert configs["vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"].min_ip_target == 2
    assert configs["vpc.amazonaws.com/PrivateIPv4Address"].warm_ip_target == 3


def test_disabled_has_no_pool_config() -> None:
    cfg = WindowsIPAMConfig.from_configmap(None)
    with pytest.raises(ValueError, match="disabled"):
        cfg.active_pool_config()


@pytest.mark.parametrize(
    ("data", "nitro", "flag"),
    [pytest.param(d, n, f, id=name) for name, d, n, f, _ in CASES],
)
def test_normalising_twice_changes_nothing(data: dict[str, str], nitro: bool, flag: bool) -> None:
    # The pool re-normalises the (already normalised) config it is given on every reconcile.
    cfg = WindowsIPAMConfig.from_configmap(data, nitro=nitro, prefix_delegation_flag=flag)
    assert cfg.pool_mode is not None
    once = cfg.active_pool_config()
    assert normalise(once, cfg.pool_mode) == once
    if cfg.pool_mode is PoolMode.PREFIX:
        raw = load_resource_config(data)["vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"]
        # The same getPDDeviation branch from the raw and from the normalised config.
        assert normalise_prefix_config(raw)[1] == normalise_prefix_config(once)[1]


def test_pool_configs_are_frozen() -> None:
    cfg = load_resource_config(None)["vpc.amazonaws.com/PrivateIPv4Address"]
    with pytest.raises(AttributeError):
        cfg.warm_ip_target = 9  # type: ignore[misc]
    assert WindowsIPAMConfig.from_configmap(PD).pool_mode is PoolMode.PREFIX


# COND IsOldVPCControllerDeploymentPresent: found, or any error but NotFound, is "present".
@pytest.mark.parametrize(
    ("lookup", "present"),
    [(DeploymentLookup.FOUND, True), (DeploymentLookup.NOT_FOUND, False),
     (DeploymentLookup.ERROR, True)],
)  # fmt: skip
def test_old_controller_present(lookup: DeploymentLookup, present: bool) -> None:
    assert old_controller_present(lookup) is present


# COND: both conditions return false first thing while the old controller is present,
# whatever the ConfigMap and the feature flag say.
@pytest.mark.parametrize("data", [IPAM, PD, None])
def test_old_controller_turns_ipam_and_pd_off(data: dict[str, str] | None) -> None:
    assert is_windows_ipam_enabled(data, old_controller=True) is False
    assert is_windows_pd_enabled(data, feature_flag=True, old_controller=True) is False
    cfg = WindowsIPAMConfig.from_configmap(data, old_controller=True)
    assert (cfg.enabled, cfg.mode) == (False, "disabled")
    if data is not None:
        assert is_windows_ipam_enabled(data, old_controller=False) is True
        assert WindowsIPAMConfig.from_configmap(data).enabled is True
