"""Fault injection for the EC2 front: throttling, latency and targeted errors, seeded.

A :class:`FaultPlan` maps an EC2 action (or ``"*"`` for every action) to an
:class:`ActionFaults`. :meth:`FaultPlan.decide` says, for one request, how long to delay
it and which error (if any) to answer instead of calling moto. All randomness comes from
one ``random.Random(seed)``; time from an injectable monotonic clock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_ec2.exceptions import Ec2Error, RequestLimitExceeded, error_for_code

# AWS's EC2 token buckets (bucket size, refill per second), by action class (FACTS.md).
RESOURCE_INTENSIVE = {
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
    "CreateNetworkInterface",
    "DeleteNetworkInterface",
    "ModifyNetworkInterfaceAttribute",
}
REALISTIC_BUCKETS: dict[str, tuple[float, float]] = {
    "resource_intensive": (100.0, 5.0),
    "non_mutating": (100.0, 20.0),
    "non_mutating_unfiltered": (50.0, 10.0),
    "mutating": (50.0, 5.0),
}


def action_class(action: str, unfiltered: bool = False) -> str:
    """Which AWS throttling bucket ``action`` draws from."""
    if action in RESOURCE_INTENSIVE:
        return "resource_intensive"
    if action.startswith(("Describe", "Get", "List")):
        return "non_mutating_unfiltered" if unfiltered else "non_mutating"
    return "mutating"


class TokenBucket:
    """A token bucket: ``capacity`` tokens, ``refill`` tokens per (scaled) second."""

    def __init__(self, capacity: float, refill: float, clock: Callable[[], float]) -> None:
        if capacity <= 0 or refill < 0:
            raise ValueError(f"bucket needs capacity > 0 and refill >= 0, got {capacity}/{refill}")
        self.capacity = capacity
        self.refill = refill
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def take(self) -> bool:
        """Take one token; False when empty (the call is throttled)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class InjectedError:
    """Answer ``code`` (with ``message``/``http_status``) for the next ``times`` calls."""

    code: str
    times: int = 1
    message: str | None = None
    http_status: int | None = None


@dataclass
class ActionFaults:
    """Faults for one action: latency, throttle rate, token bucket, an error N times."""

    latency_ms: float = 0.0
    throttle_rate: float = 0.0
    bucket: TokenBucket | None = None
    error: InjectedError | None = None


@dataclass
class Decision:
    """What to do with one request."""

    delay_s: float = 0.0
    error: Ec2Error | None = None


@dataclass
class FaultPlan:
    """Faults per action, a seeded RNG, and an optional "realistic" throttling profile."""

    seed: int = 0
    clock: Callable[[], float] = time.monotonic
    actions: dict[str, ActionFaults] = field(default_factory=dict)
    profile: str | None = None
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._profile_buckets: dict[str, TokenBucket] = {}

    # ------------------------------------------------------------------ configuration
    def reseed(self, seed: int) -> None:
        """Restart the RNG from ``seed``."""
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Remove every fault and profile."""
        with self._lock:
            self.actions.clear()
            self.profile = None
            self._profile_buckets.clear()

    def _scaled_clock(self) -> float:
        return self.clock() * self.time_scale

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Merge a JSON spec (see docs/fake_ec2.md) into the plan; ValueError on bad input."""
        allowed = {"seed", "profile", "time_scale", "actions"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(
                f"unknown fault field(s) {sorted(unknown)}; expected {sorted(allowed)}"
            )
        if "seed" in spec:
            self.reseed(int(spec["seed"]))
        with self._lock:
            if "time_scale" in spec:
                scale = float(spec["time_scale"])
                if scale <= 0:
                    raise ValueError(f"time_scale must be > 0, got {scale}")
                self.time_scale = scale
            if "profile" in spec:
                profile = spec["profile"]
                if profile not in (None, "realistic"):
                    raise ValueError(f"profile must be 'realistic' or null, got {profile!r}")
                self.profile = profile
                self._profile_buckets.clear()
            actions = spec.get("actions", {})
            if not isinstance(actions, Mapping):
                raise ValueError("actions must be an object mapping action name to faults")
            for action, raw in actions.items():
                self.actions[str(action)] = self._parse_action(str(action), raw)

    def _parse_action(self, action: str, raw: Any) -> ActionFaults:
        if not isinstance(raw, Mapping):
            raise ValueError(f"faults for {action} must be an object")
        allowed = {"latency_ms", "throttle_rate", "bucket", "error"}
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(
                f"unknown field(s) {sorted(unknown)} for {action}; expected {sorted(allowed)}"
            )
        faults = ActionFaults(latency_ms=float(raw.get("latency_ms", 0.0)))
        if faults.latency_ms < 0:
            raise ValueError(f"{action}.latency_ms must be >= 0")
        rate = float(raw.get("throttle_rate", 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{action}.throttle_rate must be within [0, 1], got {rate}")
        faults.throttle_rate = rate
        bucket = raw.get("bucket")
        if bucket is not None:
            faults.bucket = TokenBucket(
                float(bucket["capacity"]), float(bucket["refill_per_s"]), self._scaled_clock
            )
        err = raw.get("error")
        if err is not None:
            if "code" not in err:
                raise ValueError(f"{action}.error needs a code")
            faults.error = InjectedError(
                code=str(err["code"]),
                times=int(err.get("times", 1)),
                message=err.get("message"),
                http_status=err.get("http_status"),
            )
        return faults

    # ------------------------------------------------------------------ decisions
    def decide(self, action: str, unfiltered: bool = False) -> Decision:
        """Decide delay and error for one call of ``action``."""
        with self._lock:
            decision = Decision()
            for key in (action, "*"):
                faults = self.actions.get(key)
                if faults is None:
                    continue
                decision.delay_s += faults.latency_ms / 1000.0
                if decision.error is not None:
                    continue
                if faults.error is not None and faults.error.times > 0:
                    faults.error.times -= 1
                    e = faults.error
                    decision.error = error_for_code(e.code, e.message, e.http_status)
                elif (faults.throttle_rate and self._rng.random() < faults.throttle_rate) or (
                    faults.bucket is not None and not faults.bucket.take()
                ):
                    decision.error = RequestLimitExceeded()
            if decision.error is None and self.profile == "realistic":
                cls = action_class(action, unfiltered)
                bucket = self._profile_buckets.get(cls)
                if bucket is None:
                    capacity, refill = REALISTIC_BUCKETS[cls]
                    bucket = TokenBucket(capacity, refill, self._scaled_clock)
                    self._profile_buckets[cls] = bucket
                if not bucket.take():
                    decision.error = RequestLimitExceeded()
            return decision

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of the plan."""
        with self._lock:
            return {
                "seed": self.seed,
                "profile": self.profile,
                "time_scale": self.time_scale,
                "actions": {
                    name: {
                        "latency_ms": f.latency_ms,
                        "throttle_rate": f.throttle_rate,
                        "bucket": None
                        if f.bucket is None
                        else {"capacity": f.bucket.capacity, "refill_per_s": f.bucket.refill},
                        "error": None
                        if f.error is None
                        else {
                            "code": f.error.code,
                            "times": f.error.times,
                            "message": f.error.message,
                            "http_status": f.error.http_status,
                        },
                    }
                    for name, f in self.actions.items()
                },
            }
