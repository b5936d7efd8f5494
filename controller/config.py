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
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from controller import goparse

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "amazon-vpc-cni"

ENABLE_WINDOWS_IPAM_KEY = "enable-windows-ipam"
ENABLE_WINDOWS_PD_KEY = "enable-windows-prefix-delegation"
# The old in-cluster VPC resource controller (config/type.go OldVPCControllerDeploymentName):
# while its Deployment exists this controller keeps Windows IPAM off.
OLD_CONTROLLER_NAMESPACE = "kube-system"
OLD_CONTROLLER_DEPLOYMENT = "vpc-resource-controller"
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

DISABLED = "disabled"  # the mode label of a node whose IPAM is off (unmanaged)


class PoolMode(enum.StrEnum):
    """Which provider's pool serves a node's pods: secondary IPs or /28 prefixes (PD).

    The string value is only for the edges (metrics labels, introspection JSON, logs).
    """

    SECONDARY = "secondary"
    PREFIX = "prefix"

    @property
    def resource_name(self) -> str:
        """The upstream resource (provider) name of this pool's IPs."""
        return RESOURCE_NAME_IP_FROM_PREFIX if self is PoolMode.PREFIX else RESOURCE_NAME_IP


@dataclass(frozen=True)
class WarmPoolConfig:
    """config.WarmPoolConfig: a pool's targets. `desired_size == 0` marks a draining pool.

    Frozen: normalisation returns a new config, so nothing shared is changed behind a
    pool's back.
    """

    desired_size: int = 0
    reserved_size: int = 0
    max_deviation: int = 0
    warm_ip_target: int = 0
    min_ip_target: int = 0
    warm_prefix_target: int = 0


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


class DeploymentLookup(enum.Enum):
    """What a read of the old controller's Deployment gave."""

    FOUND = "found"
    NOT_FOUND = "not found"
    ERROR = "error"  # any other error


def old_controller_present(lookup: DeploymentLookup) -> bool:
    """conditions.go IsOldVPCControllerDeploymentPresent: the Deployment was found, or the
    read failed with anything but NotFound (upstream then errs on the side of "present")."""
    return lookup is not DeploymentLookup.NOT_FOUND


def is_windows_ipam_enabled(
    data: Mapping[str, str] | None, *, old_controller: bool = False
) -> bool:
    """conditions.go IsWindowsIPAMEnabled: off while the old controller's Deployment is
    present; else the ConfigMap has data and the key is ParseBool-true."""
    if old_controller:
        return False
    return _key_true(data, ENABLE_WINDOWS_IPAM_KEY)


def is_windows_pd_enabled(
    data: Mapping[str, str] | None, *, feature_flag: bool, old_controller: bool = False
) -> bool:
    """conditions.go IsWindowsPrefixDelegationEnabled: off while the old controller's
    Deployment is present; else the controller flag, IPAM and the PD key."""
    if old_controller or not feature_flag:
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
        configs[RESOURCE_NAME_IP_FROM_PREFIX] = dataclasses.replace(
            configs[RESOURCE_NAME_IP_FROM_PREFIX],
            warm_ip_target=warm,
            min_ip_target=minimum,
            warm_prefix_target=warm_prefix,
        )
    else:
        configs[RESOURCE_NAME_IP] = dataclasses.replace(
            configs[RESOURCE_NAME_IP], warm_ip_target=warm, min_ip_target=minimum
        )
    return configs


def get_win_warm_pool_config(data: Mapping[str, str] | None, *, pd_enabled: bool) -> WarmPoolConfig:
    """pool/utils.go GetWinWarmPoolConfig: the config of the PD or the secondary pool."""
    configs = load_resource_config(data)
    return configs[RESOURCE_NAME_IP_FROM_PREFIX if pd_enabled else RESOURCE_NAME_IP]


def normalise_prefix_config(cfg: WarmPoolConfig) -> tuple[WarmPoolConfig, bool]:
    """pool.go getPDDeviation preamble: (config with defaults filled, prefix-target-only).

    `prefix-target-only` (only warm-prefix-target is > 0 before the defaults are filled)
    decides the branch getPDDeviation takes. Applying this to its own output gives the
    same result, so a pool may be handed an already normalised config.
    """
    if cfg.desired_size == 0:
        # Draining pool: all targets 0.
        drained = dataclasses.replace(cfg, warm_ip_target=0, min_ip_target=0, warm_prefix_target=0)
        return drained, False
    warm_defined = cfg.warm_ip_target > 0
    min_defined = cfg.min_ip_target > 0
    prefix_defined = cfg.warm_prefix_target > 0
    warm, minimum = cfg.warm_ip_target, cfg.min_ip_target
    if not warm_defined and (min_defined or not prefix_defined):
        warm = PD_DEFAULT_WARM_IP_TARGET
    if not min_defined and (warm_defined or not prefix_defined):
        minimum = PD_DEFAULT_MIN_IP_TARGET
    prefix_only = not warm_defined and not min_defined and prefix_defined
    return dataclasses.replace(cfg, warm_ip_target=warm, min_ip_target=minimum), prefix_only


def normalise_secondary_config(cfg: WarmPoolConfig) -> WarmPoolConfig:
    """pool.go calculateSecondaryIPDeviation preamble: draining -> 0; negatives -> defaults."""
    if cfg.desired_size == 0:
        cfg = dataclasses.replace(cfg, warm_ip_target=0, min_ip_target=0, warm_prefix_target=0)
    if cfg.min_ip_target < 0:
        cfg = dataclasses.replace(cfg, min_ip_target=SECONDARY_DEFAULT_MIN_IP_TARGET)
    if cfg.warm_ip_target < 0:
        cfg = dataclasses.replace(cfg, warm_ip_target=SECONDARY_DEFAULT_WARM_IP_TARGET)
    return cfg


def normalise(cfg: WarmPoolConfig, mode: PoolMode) -> WarmPoolConfig:
    """The targets a pool of `mode` works with once it has applied its normalisation."""
    if mode is PoolMode.PREFIX:
        return normalise_prefix_config(cfg)[0]
    return normalise_secondary_config(cfg)


@dataclass(frozen=True)
class WindowsIPAMConfig:
    """The effective Windows IPAM settings of one node: the one place they are decided.

    `pool_mode` is None when IPAM is off (the node is unmanaged), else the provider whose
    pool is active. `pool_config` is the active pool's WarmPoolConfig after the
    normalisation the pool applies, and the three targets are read from it.
    """

    pool_mode: PoolMode | None
    pool_config: WarmPoolConfig | None = None

    @classmethod
    def from_configmap(
        cls,
        data: Mapping[str, str] | None,
        *,
        nitro: bool = True,
        prefix_delegation_flag: bool = True,
        old_controller: bool = False,
    ) -> WindowsIPAMConfig:
        """Resolve the mode and targets for a node from the ConfigMap data (None = no
        ConfigMap); `old_controller`: the old controller's Deployment is present."""
        if not is_windows_ipam_enabled(data, old_controller=old_controller):
            return cls(pool_mode=None)
        pd = is_windows_pd_enabled(data, feature_flag=prefix_delegation_flag)
        # UpdateResourceCapacity: a non-Nitro node keeps the secondary pool active.
        mode = PoolMode.PREFIX if (pd and nitro) else PoolMode.SECONDARY
        cfg = get_win_warm_pool_config(data, pd_enabled=mode is PoolMode.PREFIX)
        return cls(pool_mode=mode, pool_config=normalise(cfg, mode))

    @property
    def enabled(self) -> bool:
        """Windows IPAM is on: the node is managed."""
        return self.pool_mode is not None

    @property
    def mode(self) -> str:
        """Edge label: "disabled", "secondary" or "prefix"."""
        return DISABLED if self.pool_mode is None else self.pool_mode.value

    @property
    def warm_ip_target(self) -> int:
        """Normalised warm-ip-target of the active pool (0 when disabled)."""
        return self.pool_config.warm_ip_target if self.pool_config else 0

    @property
    def minimum_ip_target(self) -> int:
        """Normalised minimum-ip-target of the active pool (0 when disabled)."""
        return self.pool_config.min_ip_target if self.pool_config else 0

    @property
    def warm_prefix_target(self) -> int:
        """Normalised warm-prefix-target of the active pool (0 when disabled)."""
        return self.pool_config.warm_prefix_target if self.pool_config else 0

    def active_pool_config(self) -> WarmPoolConfig:
        """The normalised config the active pool is given; ValueError when IPAM is disabled."""
        if self.pool_config is None:
            raise ValueError("Windows IPAM is disabled: no pool config")
        return self.pool_config
