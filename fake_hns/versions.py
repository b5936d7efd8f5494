"""HNS versions per Windows build, and the features each version enables.

Feature ranges are hcsshim's (hcn/hcnglobals.go): DSR needs HNS 9.3-9.x or >= 10.2;
updating a load balancer in place (hcnModifyLoadBalancer) needs >= 15.4; the V2 API needs
>= 9.2; dual stack >= 11.10. HNS reports its version through ``hcn.GetGlobals``; hcsshim
keeps no table per build, so each build's version comes from public reports:

- ltsc2019 (build 17763, RS5): 9.3. The 9.x line is RS5's: hcsshim's DSR range 9.3-9.x
  was added for "backports to rs5 and 19H1" (microsoft/hcsshim#848), and a Windows
  Server 1809 host with DSR reports 9.3 (kubernetes/kubernetes#93304).
- ltsc2022 (build 20348): 15.1, this emulation's pick (no public report names the
  version): the 15.x features (NetworkACL, NestedIpSet) were added in the months before
  Windows Server 2022 shipped, and 15.1 lies below 15.4, so kube-proxy deletes and
  re-creates load balancers instead of updating them.

Build numbers are hcsshim's osversion constants (LTSC2019 = 17763, LTSC2022 = 20348).
"""

from __future__ import annotations

from dataclasses import dataclass

from fake_hns.names import shown

Version = tuple[int, int]

BUILD_VERSIONS: dict[str, Version] = {
    "ltsc2019": (9, 3),
    "ltsc2022": (15, 1),
}
DEFAULT_BUILD = "ltsc2019"

_MAX = 2**31 - 1
DSR_RANGES: tuple[tuple[Version, Version], ...] = (((9, 3), (9, _MAX)), ((10, 2), (_MAX, _MAX)))
MODIFY_LB_RANGES: tuple[tuple[Version, Version], ...] = (((15, 4), (_MAX, _MAX)),)
API_V2_RANGES: tuple[tuple[Version, Version], ...] = (((9, 2), (_MAX, _MAX)),)
# hcsshim hcn/hcnglobals.go IPv6DualStackVersion: HNS >= 11.10 reports dual stack.
IPV6_RANGES: tuple[tuple[Version, Version], ...] = (((11, 10), (_MAX, _MAX)),)


@dataclass(frozen=True)
class Features:
    """What a host's HNS supports."""

    api_v2: bool
    dsr: bool
    modify_load_balancer: bool
    # Reported as hcsshim decides it from the version; IPv6 objects are refused all the
    # same (EKS Windows pods are IPv4 only, FACTS.md; docs/fidelity.md).
    ipv6: bool = False


def in_ranges(version: Version, ranges: tuple[tuple[Version, Version], ...]) -> bool:
    """True when ``version`` lies in one of the inclusive ``ranges``."""
    return any(low <= version <= high for low, high in ranges)


def version_for_build(build: str) -> Version:
    """The HNS version of a Windows build name; ValueError naming the choices otherwise."""
    try:
        return BUILD_VERSIONS[build]
    except KeyError:
        choices = "|".join(sorted(BUILD_VERSIONS))
        raise ValueError(f"windows_build {shown(build)}: expected one of {choices}") from None


def features_for(
    version: Version, *, dsr: bool | None = None, modify_load_balancer: bool | None = None
) -> Features:
    """Features of ``version``, with optional overrides (None: from the version)."""
    return Features(
        api_v2=in_ranges(version, API_V2_RANGES),
        dsr=in_ranges(version, DSR_RANGES) if dsr is None else dsr,
        modify_load_balancer=(
            in_ranges(version, MODIFY_LB_RANGES)
            if modify_load_balancer is None
            else modify_load_balancer
        ),
        ipv6=in_ranges(version, IPV6_RANGES),
    )
