"""Kubelet timing profiles (kwok-style "stages" in data, not code).

A profile gives each lifecycle step a [min, max] delay in milliseconds, drawn from a
seeded random generator, and the sandbox-retry backoff. The named profiles are the
environment's timing profiles (``real``, ``fast``: harness.spec.timing, one table for
every wait); the agent config may carry a full mapping instead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class ProfileError(ValueError):
    """A timing profile is unknown or malformed."""


@dataclass(frozen=True)
class TimingProfile:
    """Delays of the emulated kubelet (see docs/nodes.md)."""

    name: str
    sandbox_create_ms: tuple[int, int]
    image_pull_ms: tuple[int, int]
    container_start_ms: tuple[int, int]
    container_stop_ms: tuple[int, int]
    sandbox_retry_initial_s: float
    sandbox_retry_max_s: float
    node_status_report_s: float
    lease_renew_s: float
    lease_duration_s: int
    description: str = ""

    def delay_s(self, step: str, rng: random.Random) -> float:
        """A delay for lifecycle step `step` (e.g. ``"sandbox_create"``) in seconds."""
        lo, hi = getattr(self, f"{step}_ms")
        return (lo if lo == hi else rng.uniform(lo, hi)) / 1000.0

    def backoff_s(self, failures: int) -> float:
        """Kubelet-style doubling backoff after `failures` consecutive sandbox failures."""
        return min(
            self.sandbox_retry_max_s, self.sandbox_retry_initial_s * 2 ** max(0, failures - 1)
        )


def _range(name: str, key: str, value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and v >= 0 for v in value)
        or value[0] > value[1]
    ):
        raise ProfileError(f"profile {name}: {key} must be [min_ms, max_ms] with 0 <= min <= max")
    return int(value[0]), int(value[1])


def from_mapping(name: str, data: Mapping[str, Any]) -> TimingProfile:
    """Validate one profile mapping (unknown keys are errors)."""
    known = {f.name for f in fields(TimingProfile)} - {"name"}
    unknown = set(data) - known
    if unknown:
        raise ProfileError(
            f"profile {name}: unknown key(s) {sorted(unknown)}; expected {sorted(known)}"
        )
    missing = known - {"description"} - set(data)
    if missing:
        raise ProfileError(f"profile {name}: missing key(s) {sorted(missing)}")
    kw: dict[str, Any] = {"name": name, "description": str(data.get("description", ""))}
    for f in fields(TimingProfile):
        if f.name.endswith("_ms"):
            kw[f.name] = _range(name, f.name, data[f.name])
        elif f.name.endswith("_s"):
            v = data[f.name]
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise ProfileError(f"profile {name}: {f.name} must be a number > 0, got {v!r}")
            kw[f.name] = int(v) if f.name == "lease_duration_s" else float(v)
    return TimingProfile(**kw)


def builtin() -> dict[str, TimingProfile]:
    """The kubelet part of the environment's timing profiles ("real", "fast")."""
    from harness.spec.timing import PROFILES

    out = {}
    for name, timing in PROFILES.items():
        data = timing.kubelet_profile()
        data.pop("name")
        out[name] = from_mapping(name, data)
    return out


def load(name_or_mapping: str | Mapping[str, Any]) -> TimingProfile:
    """A built-in profile by name, or a custom one from a mapping with a ``name`` key."""
    if isinstance(name_or_mapping, str):
        profiles = builtin()
        if name_or_mapping not in profiles:
            raise ProfileError(
                f"timing profile {name_or_mapping!r} unknown; expected one of {sorted(profiles)}"
            )
        return profiles[name_or_mapping]
    data = dict(name_or_mapping)
    name = str(data.pop("name", "custom"))
    return from_mapping(name, data)
