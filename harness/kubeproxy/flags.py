"""kube-proxy (winkernel) settings, validated the way the real proxier validates them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class KubeProxyConfigError(Exception):
    """kube-proxy refuses to start (the real message)."""


def parse_feature_gates(value: str) -> dict[str, bool]:
    """Parse ``--feature-gates`` text (``A=true,B=false``)."""
    gates: dict[str, bool] = {}
    for item in filter(None, (p.strip() for p in value.split(","))):
        name, sep, raw = item.partition("=")
        if not sep or raw.lower() not in ("true", "false"):
            raise KubeProxyConfigError(
                f"invalid value of {item}, expected NAME=true|false in --feature-gates"
            )
        gates[name.strip()] = raw.lower() == "true"
    return gates


@dataclass(frozen=True)
class KubeProxyConfig:
    """The flags the emulation honours.

    sync_period_s / min_sync_period_s mirror ``--iptables-sync-period`` style settings of
    kube-proxy (winkernel uses the same ``syncPeriod`` = 30 s default and
    ``minSyncPeriod``); scale them down for tests.
    """

    enable_dsr: bool = False
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    sync_period_s: float = 30.0
    min_sync_period_s: float = 1.0
    hns_version: tuple[int, int] = (13, 2)  # Windows Server 2022 HNS: DSR supported

    def validate(self) -> None:
        """Refuse ``--enable-dsr`` without the WinDSR gate, as NewProxier does."""
        if self.enable_dsr and not self.feature_gates.get("WinDSR", False):
            raise KubeProxyConfigError("WinDSR feature gate not enabled")
        if self.enable_dsr and not dsr_supported(self.hns_version):
            raise KubeProxyConfigError(
                "DSR is not supported by this version of HNS (need 9.3-9.x or >= 10.2)"
            )
        if self.sync_period_s <= 0 or self.min_sync_period_s < 0:
            raise KubeProxyConfigError(
                f"invalid sync periods {self.sync_period_s}/{self.min_sync_period_s}: "
                "syncPeriod must be > 0 and minSyncPeriod >= 0"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KubeProxyConfig:
        """From the agent JSON ``kube_proxy`` block (see docs/nodes.md)."""
        gates = data.get("feature_gates", {})
        if isinstance(gates, str):
            gates = parse_feature_gates(gates)
        known = {"enable_dsr", "feature_gates", "sync_period_s", "min_sync_period_s", "hns_version"}
        unknown = set(data) - known
        if unknown:
            raise KubeProxyConfigError(
                f"kube_proxy: unknown field(s) {sorted(unknown)}; expected {sorted(known)}"
            )
        hv = data.get("hns_version", (13, 2))
        return cls(
            enable_dsr=bool(data.get("enable_dsr", False)),
            feature_gates=dict(gates),
            sync_period_s=float(data.get("sync_period_s", 30.0)),
            min_sync_period_s=float(data.get("min_sync_period_s", 1.0)),
            hns_version=(int(hv[0]), int(hv[1])),
        )


def dsr_supported(version: tuple[int, int]) -> bool:
    """HNS supports DSR in 9.3-9.x and from 10.2 on (FACTS.md)."""
    major, minor = version
    return (major == 9 and minor >= 3) or (major, minor) >= (10, 2)
