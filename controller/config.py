"""Windows IPAM configuration from the `kube-system/amazon-vpc-cni` ConfigMap.

Each rule mirrors the public source of aws/amazon-vpc-resource-controller-k8s at
commit b8d425119bdba371202882b808f202c6073a46cc:

- pkg/condition/conditions.go  IsWindowsIPAMEnabled / IsWindowsPrefixDelegationEnabled
- pkg/config/loader.go          ParseWinIPTargetConfigs, LoadResourceConfigFromConfigMap,
                                getDefaultResourceConfig (the default constants)
- pkg/pool/utils.go             GetWinWarmPoolConfig (which of the two configs a pool gets)
- pkg/pool/pool.go              getPDDeviation / calculateSecondaryIPDeviation: the
                                normalisation the pool applies to its config on reconcile
- pkg/provider/ip/provider.go   UpdateResourceCapacity (non-Nitro nodes keep secondary mode)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controller import goparse

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "amazon-vpc-cni"

ENABLE_WINDOWS_IPAM_KEY = "enable-windows-ipam"
ENABLE_WINDOWS_PD_KEY = "enable-windows-prefix-delegation"
WARM_PREFIX_TARGET = "warm-prefix-target"
WARM_IP_TARGET = "warm-ip-target"
MINIMUM_IP_TARGET = "minimum-ip-target"
WIN_WARM_PREFIX_TARGET = "windows-warm-prefix-target"
WIN_WARM_IP_TARGET = "windows-warm-ip-target"
WIN_MINIMUM_IP_TARGET = "windows-minimum-ip-target"

RESOURCE_NAME_IP = "vpc.amazonaws.com/PrivateIPv4Address"
RESOURCE_NAME_IP_FROM_PREFIX = "vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"

# pkg/config/loader.go constants.
SECONDARY_DEFAULT_WARM_IP_TARGET = 3
SECONDARY_DEFAULT_MIN_IP_TARGET = 3
SECONDARY_DEFAULT_MAX_DEVIATION = 0
SECONDARY_DEFAULT_RESERVED = 0
PD_DEFAULT_DESIRED_SIZE = 1
PD_DEFAULT_MAX_DEVIATION = 0
PD_DEFAULT_RESERVED = 0
PD_DEFAULT_WARM_IP_TARGET = 1
PD_DEFAULT_MIN_IP_TARGET = 3
PD_DEFAULT_WARM_PREFIX_TARGET = 0

Mode = Literal["disabled", "secondary", "prefix"]


@dataclass
class WarmPoolConfig:
    """config.WarmPoolConfig: a pool's targets. `desired_size == 0` marks a draining pool."""

    desired_size: int = 0
    reserved_size: int = 0
    max_deviation: int = 0
    warm_ip_target: int = 0
    min_ip_target: int = 0
    warm_prefix_target: int = 0

    def copy(self) -> WarmPoolConfig:
        """Return an independent copy (the pool mutates its config while reconciling)."""
        return dataclasses.replace(self)


def default_secondary_config() -> WarmPoolConfig:
    """getDefaultResourceConfig: the PrivateIPv4Address (secondary IP) pool config."""
    return WarmPoolConfig(
        desired_size=SECONDARY_DEFAULT_WARM_IP_TARGET,
        warm_ip_target=SECONDARY_DEFAULT_WARM_IP_TARGET,
        min_ip_target=SECONDARY_DEFAULT_MIN_IP_TARGET,
        max_deviation=SECONDARY_DEFAULT_MAX_DEVIATION,
        reserved_size=SECONDARY_DEFAULT_RESERVED,
    )


def default_prefix_config() -> WarmPoolConfig:
    """getDefaultResourceConfig: the PrivateIPv4AddressFromPrefix (PD) pool config."""
    return WarmPoolConfig(
        desired_size=PD_DEFAULT_DESIRED_SIZE,
        max_deviation=PD_DEFAULT_MAX_DEVIATION,
        reserved_size=PD_DEFAULT_RESERVED,
        warm_ip_target=PD_DEFAULT_WARM_IP_TARGET,
        min_ip_target=PD_DEFAULT_MIN_IP_TARGET,
        warm_prefix_target=PD_DEFAULT_WARM_PREFIX_TARGET,
    )


def _key_true(data: Mapping[str, str] | None, key: str) -> bool:
    """Present and ParseBool-true (absent, empty or unparsable -> False)."""
    if not data or key not in data:
        return False
    try:
        return goparse.parse_bool(data[key])
    except ValueError:
        return False


def is_windows_ipam_enabled(data: Mapping[str, str] | None) -> bool:
    """conditions.go IsWindowsIPAMEnabled: ConfigMap has data and the key is ParseBool-true."""
    return _key_true(data, ENABLE_WINDOWS_IPAM_KEY)


def is_windows_pd_enabled(data: Mapping[str, str] | None, *, feature_flag: bool) -> bool:
    """conditions.go IsWindowsPrefixDelegationEnabled: the controller flag, IPAM and the PD key."""
    if not feature_flag:
        return False
    return _key_true(data, ENABLE_WINDOWS_IPAM_KEY) and _key_true(data, ENABLE_WINDOWS_PD_KEY)


def _lookup(data: Mapping[str, str], plain: str, windows: str) -> str | None:
    # The plain key wins whenever it is present, even empty or invalid.
    if plain in data:
        return data[plain]
    if windows in data:
        return data[windows]
    return None


def parse_win_ip_target_configs(
    data: Mapping[str, str] | None,
) -> tuple[int, int, int, bool]:
    """loader.go ParseWinIPTargetConfigs -> (warm_ip, min_ip, warm_prefix, pd_in_configmap).

    `pd_in_configmap` is only the ConfigMap key (not the controller flag), as upstream.
    """
    if data is None or len(data) == 0:
        # Go: a ConfigMap without data has a nil Data map.
        return SECONDARY_DEFAULT_WARM_IP_TARGET, SECONDARY_DEFAULT_MIN_IP_TARGET, 0, False
    try:
        pd = goparse.parse_bool(data.get(ENABLE_WINDOWS_PD_KEY, ""))
    except ValueError:
        pd = False

    warm_s = _lookup(data, WARM_IP_TARGET, WIN_WARM_IP_TARGET)
    min_s = _lookup(data, MINIMUM_IP_TARGET, WIN_MINIMUM_IP_TARGET)
    prefix_s = _lookup(data, WARM_PREFIX_TARGET, WIN_WARM_PREFIX_TARGET)

    warm = 0
    if warm_s is not None:
        # Go assigns Atoi's value even on error (0, or the clamped bound on overflow).
        warm, ok = goparse.atoi(warm_s)
        if ok and not pd and warm == 0:
            # An explicit 0 is not supported in secondary mode: at least 1 warm IP.
            warm = 1
    minimum = 0
    if min_s is not None:
        minimum, _ = goparse.atoi(min_s)
    warm_prefix = 0
    if pd and prefix_s is not None:
        warm_prefix, _ = goparse.atoi(prefix_s)

    if warm == 0 and minimum == 0:
        if pd and warm_prefix == 0:
            minimum = PD_DEFAULT_MIN_IP_TARGET
            warm = PD_DEFAULT_WARM_IP_TARGET
            warm_prefix = PD_DEFAULT_WARM_PREFIX_TARGET
        elif not pd:
            minimum = SECONDARY_DEFAULT_MIN_IP_TARGET
            warm = SECONDARY_DEFAULT_WARM_IP_TARGET
    return warm, minimum, warm_prefix, pd


def load_resource_config(data: Mapping[str, str] | None) -> dict[str, WarmPoolConfig]:
    """loader.go LoadResourceConfigFromConfigMap: both pools' configs, keyed by resource name.

    `None` (no ConfigMap, or it could not be read) gives the defaults, as
    pool/utils.go GetWinWarmPoolConfig falls back to LoadResourceConfig.
    """
    configs = {
        RESOURCE_NAME_IP: default_secondary_config(),
        RESOURCE_NAME_IP_FROM_PREFIX: default_prefix_config(),
    }
    if data is None:
        return configs
    warm, minimum, warm_prefix, pd = parse_win_ip_target_configs(data)
    if warm == 0 and minimum == 0 and warm_prefix == 0:
        return configs
    if pd:
        target = configs[RESOURCE_NAME_IP_FROM_PREFIX]
        target.warm_ip_target = warm
        target.min_ip_target = minimum
        target.warm_prefix_target = warm_prefix
    else:
        target = configs[RESOURCE_NAME_IP]
        target.warm_ip_target = warm
        target.min_ip_target = minimum
    return configs


def get_win_warm_pool_config(data: Mapping[str, str] | None, *, pd_enabled: bool) -> WarmPoolConfig:
    """pool/utils.go GetWinWarmPoolConfig: the config of the PD or the secondary pool."""
    configs = load_resource_config(data)
    return configs[RESOURCE_NAME_IP_FROM_PREFIX if pd_enabled else RESOURCE_NAME_IP]


def normalise_prefix_config(cfg: WarmPoolConfig) -> tuple[bool, bool, bool]:
    """pool.go getPDDeviation preamble: fill defaults in place; return the 'defined' flags.

    Returns (warm_ip_defined, min_ip_defined, warm_prefix_defined) as computed *before*
    the defaults are filled, which decides the branch getPDDeviation takes.
    """
    if cfg.desired_size == 0:
        # Draining pool: all targets 0.
        cfg.warm_ip_target = 0
        cfg.min_ip_target = 0
        cfg.warm_prefix_target = 0
        return False, False, False
    warm_defined = cfg.warm_ip_target > 0
    min_defined = cfg.min_ip_target > 0
    prefix_defined = cfg.warm_prefix_target > 0
    if not warm_defined and (min_defined or not prefix_defined):
        cfg.warm_ip_target = PD_DEFAULT_WARM_IP_TARGET
    if not min_defined and (warm_defined or not prefix_defined):
        cfg.min_ip_target = PD_DEFAULT_MIN_IP_TARGET
    return warm_defined, min_defined, prefix_defined


def normalise_secondary_config(cfg: WarmPoolConfig) -> None:
    """pool.go calculateSecondaryIPDeviation preamble: draining -> 0; negatives -> defaults."""
    if cfg.desired_size == 0:
        cfg.warm_ip_target = 0
        cfg.min_ip_target = 0
        cfg.warm_prefix_target = 0
    if cfg.min_ip_target < 0:
        cfg.min_ip_target = SECONDARY_DEFAULT_MIN_IP_TARGET
    if cfg.warm_ip_target < 0:
        cfg.warm_ip_target = SECONDARY_DEFAULT_WARM_IP_TARGET


@dataclass(frozen=True)
class WindowsIPAMConfig:
    """The Windows IPAM settings one node's active pool works with.

    `mode` is "disabled" (IPAM off: node unmanaged), "secondary" or "prefix". When not
    disabled, the three targets are those after the normalisation the pool applies on
    its first reconcile, and `pool_config` is the full normalised WarmPoolConfig.
    """

    mode: Mode
    warm_ip_target: int = 0
    minimum_ip_target: int = 0
    warm_prefix_target: int = 0
    pool_config: WarmPoolConfig | None = None

    @classmethod
    def from_configmap(
        cls,
        data: Mapping[str, str] | None,
        *,
        nitro: bool = True,
        prefix_delegation_flag: bool = True,
    ) -> WindowsIPAMConfig:
        """Resolve the mode and targets for a node from the ConfigMap data (None = no ConfigMap)."""
        if not is_windows_ipam_enabled(data):
            return cls(mode="disabled")
        pd = is_windows_pd_enabled(data, feature_flag=prefix_delegation_flag)
        mode: Mode = "prefix" if (pd and nitro) else "secondary"
        cfg = get_win_warm_pool_config(data, pd_enabled=mode == "prefix")
        if mode == "prefix":
            normalise_prefix_config(cfg)
        else:
            normalise_secondary_config(cfg)
        return cls(
            mode=mode,
            warm_ip_target=cfg.warm_ip_target,
            minimum_ip_target=cfg.min_ip_target,
            warm_prefix_target=cfg.warm_prefix_target,
            pool_config=cfg,
        )

    def active_pool_config(self) -> WarmPoolConfig:
        """A fresh un-normalised copy is what a pool is given; this returns the normalised one."""
        if self.pool_config is None:
            raise ValueError("Windows IPAM is disabled: no pool config")
        return self.pool_config.copy()
