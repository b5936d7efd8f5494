"""ConfigMap values the real controller rejects or overrides, each with what was expected.

The real controller (aws/amazon-vpc-resource-controller-k8s @ b8d42511) parses the
`kube-system/amazon-vpc-cni` ConfigMap with Go's strconv and then normalises the targets
in its pools; most of that is silent (an unparsable `enable-windows-ipam` just turns
IPAM off). The harness behaves exactly as it does (controller.config) and, in addition,
names each such value here so the controller can log it and record an Event on the
ConfigMap. Nothing in this module changes a decision: it only explains one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller import config as cfg
from controller import goparse

# At most this many characters of a value are quoted (ConfigMap values reach 1 MiB).
MAX_SHOWN = 64

BOOL_EXPECTED = (
    "true or false, as Go's strconv.ParseBool reads them: "
    "1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False"
)
SYNTAX_EXPECTED = (
    'a decimal integer such as "3", as Go\'s strconv.Atoi reads it '
    "(an optional sign and digits: no spaces, decimal point, hex or units)"
)
RANGE_EXPECTED = "an integer that fits in 64 bits (Go int)"
NEGATIVE_EXPECTED = "an integer >= 0"
ZERO_SECONDARY_EXPECTED = "at least 1 in secondary IP mode (0 is not supported there)"
ZERO_PREFIX_EXPECTED = "a value above 0 (in prefix delegation mode 0 counts as unset)"
FLAG_EXPECTED = (
    "the controller's --enable-windows-prefix-delegation flag to be on as well (it is off)"
)

IPAM_OFF_OUTCOME = (
    "Windows IPAM is off: no node is managed and Windows pods created meanwhile get no "
    "IP resource (recreate them once IPAM is on)"
)
PD_OFF_OUTCOME = "secondary IP mode"
FLAG_OFF_OUTCOME = (
    "secondary IP mode with the default targets (warm 3, minimum 3): the ConfigMap's "
    "targets are kept for the prefix pool only"
)


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """`value` in double quotes, cut to `limit` characters with its full length noted."""
    if len(value) <= limit:
        return f'"{value}"'
    return f'"{value[:limit]}"… ({len(value)} characters)'


@dataclass(frozen=True)
class ConfigProblem:
    """One ConfigMap value the controller rejects or overrides.

    `expected` says what a valid value looks like; `outcome` what the controller does
    instead (exactly what the real controller does); `verdict` how the value fails.
    """

    key: str
    value: str
    expected: str
    outcome: str
    verdict: str = "is not valid"

    def message(self) -> str:
        """One line naming the key, the value, what was expected and what happens instead."""
        return (
            f"ConfigMap {cfg.CONFIGMAP_NAMESPACE}/{cfg.CONFIGMAP_NAME}: {self.key}="
            f"{shown(self.value)} {self.verdict}: expected {self.expected}; {self.outcome}"
        )


def _bool_problem(data: Mapping[str, str], key: str, outcome: str) -> ConfigProblem | None:
    if key not in data:
        return None
    try:
        goparse.parse_bool(data[key])
    except ValueError:
        return ConfigProblem(key, data[key], BOOL_EXPECTED, outcome)
    return None


def _source_key(data: Mapping[str, str], plain: str, windows: str) -> str | None:
    """The key a target is read from: the plain one wins whenever it is present."""
    if plain in data:
        return plain
    if windows in data:
        return windows
    return None


# (plain key, windows- twin, WarmPoolConfig field, short name in outcomes)
_TARGETS = (
    (cfg.WARM_IP_TARGET, cfg.WIN_WARM_IP_TARGET, "warm_ip_target", "warm"),
    (cfg.MINIMUM_IP_TARGET, cfg.WIN_MINIMUM_IP_TARGET, "min_ip_target", "minimum"),
    (cfg.WARM_PREFIX_TARGET, cfg.WIN_WARM_PREFIX_TARGET, "warm_prefix_target", "warm-prefix"),
)


def _target_problems(data: Mapping[str, str]) -> list[ConfigProblem]:
    """Targets that do not parse, or that the parser or the pool replace."""
    try:
        pd = goparse.parse_bool(data.get(cfg.ENABLE_WINDOWS_PD_KEY, ""))
    except ValueError:
        pd = False
    mode = cfg.PoolMode.PREFIX if pd else cfg.PoolMode.SECONDARY
    # The targets land in the config of the pool the ConfigMap selects (loader.go), even
    # when the controller's flag then keeps nodes in secondary mode.
    stored = cfg.get_win_warm_pool_config(data, pd_enabled=pd)
    prefix_only = False
    if pd:
        used, prefix_only = cfg.normalise_prefix_config(stored)
    else:
        used = cfg.normalise_secondary_config(stored)
    problems: list[ConfigProblem] = []
    for plain, windows, field, name in _TARGETS:
        if field == "warm_prefix_target" and not pd:
            continue  # only read in prefix delegation mode
        key = _source_key(data, plain, windows)
        if key is None:
            continue
        raw = data[key]
        parsed, ok = goparse.atoi(raw)
        effective = getattr(used, field)
        applies = (field == "warm_prefix_target") == prefix_only
        if applies:
            outcome = f"the {mode.value} pool uses {name} {effective}"
            if effective == goparse.INT64_MAX:
                outcome += ", so it fills each ENI of the node to its capacity"
        elif field == "warm_prefix_target":
            outcome = "ignored: warm-ip-target and minimum-ip-target take precedence"
        else:
            outcome = "ignored: only warm-prefix-target is above 0, so the pool follows it"
        if not ok and parsed == 0:
            problems.append(ConfigProblem(key, raw, SYNTAX_EXPECTED, "read as 0; " + outcome))
        elif not ok:
            problems.append(ConfigProblem(key, raw, RANGE_EXPECTED, f"read as {parsed}; {outcome}"))
        elif parsed < 0:
            problems.append(ConfigProblem(key, raw, NEGATIVE_EXPECTED, outcome))
        elif applies and parsed != effective:
            expected = ZERO_PREFIX_EXPECTED if pd else ZERO_SECONDARY_EXPECTED
            problems.append(ConfigProblem(key, raw, expected, outcome))
    return problems


def configmap_problems(
    data: Mapping[str, str] | None, *, prefix_delegation_flag: bool = True
) -> list[ConfigProblem]:
    """Every value of the ConfigMap data the controller rejects or overrides (None: no CM)."""
    if not data:
        return []
    problems = [
        p
        for p in (
            _bool_problem(data, cfg.ENABLE_WINDOWS_IPAM_KEY, IPAM_OFF_OUTCOME),
            _bool_problem(data, cfg.ENABLE_WINDOWS_PD_KEY, PD_OFF_OUTCOME),
        )
        if p is not None
    ]
    if (
        not prefix_delegation_flag
        and cfg.is_windows_ipam_enabled(data)
        and cfg.is_windows_pd_enabled(data, feature_flag=True)
    ):
        problems.append(
            ConfigProblem(
                cfg.ENABLE_WINDOWS_PD_KEY,
                data[cfg.ENABLE_WINDOWS_PD_KEY],
                FLAG_EXPECTED,
                FLAG_OFF_OUTCOME,
            )
        )
    return problems + _target_problems(data)


def capacity_problems(
    data: Mapping[str, str] | None,
    effective: cfg.WindowsIPAMConfig,
    *,
    node: str,
    instance_type: str,
    capacity: int,
) -> list[ConfigProblem]:
    """Targets a node cannot reach: the pool stops at its capacity (pool.go ReconcilePool).

    Only targets the user set are named (the defaults always fit); a value that does not
    parse at all is left to `configmap_problems`.
    """
    if not data or effective.pool_config is None:
        return []
    mode = effective.mode
    wanted = {
        "warm_ip_target": effective.warm_ip_target,
        "min_ip_target": effective.minimum_ip_target,
        "warm_prefix_target": effective.warm_prefix_target * 16,
    }
    problems: list[ConfigProblem] = []
    for plain, windows, field, name in _TARGETS:
        key = _source_key(data, plain, windows)
        if key is None or wanted[field] <= capacity:
            continue
        parsed, ok = goparse.atoi(data[key])
        if not ok or parsed != getattr(effective.pool_config, field):
            continue  # not the user's value (a default) or already reported as unparsable
        unit = "prefixes" if field == "warm_prefix_target" else "IPs"
        limit = capacity // 16 if field == "warm_prefix_target" else capacity
        problems.append(
            ConfigProblem(
                key,
                data[key],
                f"at most {limit} {unit} on node {node} ({instance_type}, {mode} mode)",
                f"the pool stops at the node's capacity of {capacity} IPs, short of the {name} "
                "target",
                verdict="cannot be met",
            )
        )
    return problems
