"""Timing profiles: every wait and client rate limit the environment sets, in one table.

``real`` (the default) is what the real system does, because users reproduce it;
``fast`` shortens the waits and lifts the client rate limits for tests and large
runs. A spec may name a profile or override single keys
(``timing: {profile: fast, cooldown_s: 5}``). README's timing table is generated
from :data:`PROFILES` by :func:`markdown_table` (a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PROFILE_NAMES = ("real", "fast")


@dataclass(frozen=True)
class Timing:
    """The resolved timing of one environment (a profile plus overrides)."""

    profile: str
    cooldown_s: float
    retry_scale: float
    resync_period_s: float
    controller_api_qps: float
    controller_api_burst: int
    controller_ec2_qps: float
    controller_ec2_burst: int
    ec2_backoff_scale: float
    leader_lease_duration_s: float
    leader_renew_deadline_s: float
    leader_retry_period_s: float
    kubelet_sandbox_create_ms: tuple[int, int]
    kubelet_image_pull_ms: tuple[int, int]
    kubelet_container_start_ms: tuple[int, int]
    kubelet_container_stop_ms: tuple[int, int]
    kubelet_sandbox_retry_initial_s: float
    kubelet_sandbox_retry_max_s: float
    kubelet_node_status_report_s: float
    cni_annotation_wait_s: float
    restart_backoff_initial_s: float
    restart_backoff_max_s: float

    def overrides(self) -> dict[str, Any]:
        """The keys whose value differs from the named profile's (what a spec must say)."""
        base = PROFILES[self.profile]
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "profile" and getattr(self, f.name) != getattr(base, f.name)
        }

    def to_spec(self) -> str | dict[str, Any]:
        """The spec form: the profile name, or a mapping with the overrides."""
        extra = {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides().items()}
        return {"profile": self.profile, **extra} if extra else self.profile

    def kubelet_profile(self) -> dict[str, Any]:
        """The node agent's kubelet timing profile (harness.nodes.profiles mapping form)."""
        return {
            "name": f"timing-{self.profile}",
            "sandbox_create_ms": list(self.kubelet_sandbox_create_ms),
            "image_pull_ms": list(self.kubelet_image_pull_ms),
            "container_start_ms": list(self.kubelet_container_start_ms),
            "container_stop_ms": list(self.kubelet_container_stop_ms),
            "sandbox_retry_initial_s": self.kubelet_sandbox_retry_initial_s,
            "sandbox_retry_max_s": self.kubelet_sandbox_retry_max_s,
            "node_status_report_s": self.kubelet_node_status_report_s,
            # The kubelet's Lease cadence is not a wait users shorten: the same in both.
            "lease_renew_s": 10.0,
            "lease_duration_s": 40,
        }

    def controller_flags(self) -> list[str]:
        """The controller's command-line flags for these values."""
        return [
            f"--cooldown-seconds={self.cooldown_s:g}",
            f"--retry-scale={self.retry_scale:g}",
            f"--resync-period-seconds={self.resync_period_s:g}",
            f"--apiserver-qps={self.controller_api_qps:g}",
            f"--apiserver-burst={self.controller_api_burst}",
            f"--ec2-qps={self.controller_ec2_qps:g}",
            f"--ec2-burst={self.controller_ec2_burst}",
            f"--ec2-backoff-scale={self.ec2_backoff_scale:g}",
            f"--leader-lease-duration-seconds={self.leader_lease_duration_s:g}",
            f"--leader-lease-renew-deadline-seconds={self.leader_renew_deadline_s:g}",
            f"--leader-lease-retry-period-seconds={self.leader_retry_period_s:g}",
        ]

    def scaled(self, real_seconds: float) -> float:
        """A deadline the real profile sets to `real_seconds`, scaled like the retries."""
        return real_seconds if self.profile == "real" else max(real_seconds * 0.25, 1.0)


PROFILES: dict[str, Timing] = {
    "real": Timing(
        profile="real",
        cooldown_s=30.0,
        retry_scale=1.0,
        resync_period_s=1800.0,
        controller_api_qps=20.0,
        controller_api_burst=30,
        controller_ec2_qps=12.0,
        controller_ec2_burst=18,
        ec2_backoff_scale=1.0,
        leader_lease_duration_s=30.0,
        leader_renew_deadline_s=15.0,
        leader_retry_period_s=5.0,
        kubelet_sandbox_create_ms=(1500, 4000),
        kubelet_image_pull_ms=(500, 3000),
        kubelet_container_start_ms=(1000, 3000),
        kubelet_container_stop_ms=(500, 2000),
        kubelet_sandbox_retry_initial_s=10.0,
        kubelet_sandbox_retry_max_s=300.0,
        kubelet_node_status_report_s=300.0,
        cni_annotation_wait_s=60.0,
        restart_backoff_initial_s=10.0,
        restart_backoff_max_s=300.0,
    ),
    "fast": Timing(
        profile="fast",
        cooldown_s=2.0,
        retry_scale=0.05,
        resync_period_s=60.0,
        controller_api_qps=0.0,
        controller_api_burst=0,
        controller_ec2_qps=0.0,
        controller_ec2_burst=0,
        ec2_backoff_scale=0.05,
        leader_lease_duration_s=6.0,
        leader_renew_deadline_s=4.0,
        leader_retry_period_s=1.0,
        kubelet_sandbox_create_ms=(0, 0),
        kubelet_image_pull_ms=(0, 0),
        kubelet_container_start_ms=(0, 0),
        kubelet_container_stop_ms=(0, 0),
        kubelet_sandbox_retry_initial_s=1.0,
        kubelet_sandbox_retry_max_s=5.0,
        kubelet_node_status_report_s=60.0,
        cni_annotation_wait_s=10.0,
        restart_backoff_initial_s=1.0,
        restart_backoff_max_s=10.0,
    ),
}

# What each key means, for the README table.
DESCRIPTIONS: dict[str, str] = {
    "cooldown_s": "IP cool-down before a released IP is reused (s)",
    "retry_scale": "multiplies the controller's pod retry intervals "
    "(20 s cooling, 600 ms pool empty, 2 min no CIDR)",
    "resync_period_s": "controller periodic resync of every node's pool (s)",
    "controller_api_qps": "controller Kubernetes client QPS (0: unlimited)",
    "controller_api_burst": "controller Kubernetes client burst",
    "controller_ec2_qps": "controller EC2 client QPS (0: unlimited)",
    "controller_ec2_burst": "controller EC2 client burst",
    "ec2_backoff_scale": "multiplies the controller's EC2 SDK retry back-off "
    "(rand x 2^attempt s, cap 20 s) and its post-assign attach poll",
    "leader_lease_duration_s": "controller leader-election lease duration (s)",
    "leader_renew_deadline_s": "controller leader-election renew deadline (s)",
    "leader_retry_period_s": "controller leader-election retry period (s)",
    "kubelet_sandbox_create_ms": "kubelet: pod sandbox creation delay [min, max] (ms)",
    "kubelet_image_pull_ms": "kubelet: image pull delay [min, max] (ms)",
    "kubelet_container_start_ms": "kubelet: container start delay [min, max] (ms)",
    "kubelet_container_stop_ms": "kubelet: container stop delay [min, max] (ms)",
    "kubelet_sandbox_retry_initial_s": "kubelet: first back-off after a failed sandbox (s)",
    "kubelet_sandbox_retry_max_s": "kubelet: back-off cap after failed sandboxes (s)",
    "kubelet_node_status_report_s": "kubelet: node status report interval when nothing changed (s)",
    "cni_annotation_wait_s": "CNI ADD: how long it waits for the pod's IP annotation (s)",
    "restart_backoff_initial_s": "supervisor: first back-off before restarting a dead "
    "component, doubling per crash (kubelet CrashLoopBackOff) (s)",
    "restart_backoff_max_s": "supervisor: back-off cap; reset after 2x this without a crash (s)",
}


class TimingError(ValueError):
    """A timing value is unknown or malformed (message names the key)."""


def resolve(value: str | Mapping[str, Any] | None, profile: str | None = None) -> Timing:
    """The Timing for a spec's `timing` value; `profile` (``--timing``) overrides its profile."""
    if value is None:
        value = "real"
    if isinstance(value, str):
        value = {"profile": value}
    data = dict(value)
    name = profile or str(data.pop("profile", "real"))
    data.pop("profile", None)
    if name not in PROFILES:
        raise TimingError(f"timing profile {name!r}: expected one of {', '.join(PROFILE_NAMES)}")
    known = {f.name for f in fields(Timing)} - {"profile"}
    unknown = set(data) - known
    if unknown:
        raise TimingError(f"timing: unknown key(s) {sorted(unknown)}; expected {sorted(known)}")
    for key, v in data.items():
        if isinstance(v, list):
            data[key] = tuple(v)
    return replace(PROFILES[name], **data)


def _cell(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{value[0]} to {value[1]}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_table() -> str:
    """The README table: one row per key, one column per profile."""
    rows = ["| key | meaning | `real` (default) | `fast` |", "|---|---|---|---|"]
    real, fast = asdict(PROFILES["real"]), asdict(PROFILES["fast"])
    for key, meaning in DESCRIPTIONS.items():
        rows.append(f"| `{key}` | {meaning} | {_cell(real[key])} | {_cell(fast[key])} |")
    return "\n".join(rows)
