"""The soak's schedule, drawn from its seed: pod creates/deletes at random times and the
faults that fire meanwhile. Plain data, no servers: the same seed gives the same plan.

Operations: `ops` in all (rounded down to even), half creates and half deletes, so the
last one leaves no pod.
Each one's time is a random arrival (exponential gaps, scaled to end at `duration_s`);
which it is follows a random walk of the pod count around 60 % of `max_pods` (never
above it, so every pod fits); a delete takes a random living pod.

Faults: `faults` of the kinds asked for (each kind once before any repeats, in a random
order), at random times within the run, each with a random hold (how long an outage or
an EC2 fault lasts; a kill has none: the supervisor restarts the process). The runner
fires them one at a time: a fault starts at its planned time or once the previous one
has recovered, whichever is later.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# Fault kinds, what each does, and its hold range in seconds (0: instantaneous).
FAULT_KINDS: dict[str, tuple[str, tuple[float, float]]] = {
    "ec2-throttle": ("EC2 throttles 30 % of calls (RequestLimitExceeded), 50 ms latency", (8, 20)),
    "ec2-errors": ("EC2 answers InternalError to IP assign/unassign calls", (5, 12)),
    "insufficient-cidr": (
        "every free /28 of the subnet loses one address: prefix assigns get "
        "InsufficientCidrBlocks until it clears",
        (6, 15),
    ),
    "controller-kill": (
        "SIGKILL to the controller (and its webhook); supervisor restarts it",
        (0, 0),
    ),
    "fake_hns-kill": ("SIGKILL to fake_hns (HNS state lost); supervisor restarts it", (0, 0)),
    "node-agent-kill": ("SIGKILL to the node agent (kubelets); supervisor restarts it", (0, 0)),
    "kube-apiserver-outage": ("kube-apiserver stopped, then started (same port)", (3, 8)),
    "etcd-kill": ("SIGKILL to etcd; supervisor restarts it (data kept)", (0, 0)),
}
POD_PREFIX = "soak"
TARGET_FILL = 0.6  # the random walk's pull: this fraction of max_pods


class PlanError(ValueError):
    """Options that describe no soak (the message names the option and the value)."""


@dataclass(frozen=True)
class Op:
    """One pod operation: at `t` seconds after the start, create or delete `pod`."""

    t: float
    kind: str  # "create" | "delete"
    pod: str


@dataclass(frozen=True)
class Fault:
    """One fault: earliest start `t` (seconds after the start), kind, hold (s)."""

    t: float
    kind: str
    hold_s: float

    def describe(self) -> str:
        """What the fault does, for the report."""
        return FAULT_KINDS[self.kind][0]


@dataclass(frozen=True)
class Plan:
    """The whole schedule."""

    seed: int
    duration_s: float
    max_pods: int
    ops: tuple[Op, ...]
    faults: tuple[Fault, ...] = field(default=())

    def creates(self) -> int:
        """How many pods the plan creates."""
        return sum(1 for o in self.ops if o.kind == "create")

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the report's `plan`, ops summarised)."""
        return {
            "seed": self.seed,
            "duration_s": self.duration_s,
            "max_pods": self.max_pods,
            "ops": len(self.ops),
            "creates": self.creates(),
            "faults": [asdict(f) for f in self.faults],
        }


def _check(ops: int, duration_s: float, max_pods: int, faults: int, kinds: tuple[str, ...]) -> None:
    if ops < 2:
        raise PlanError(f"--pods {ops}: expected at least 2 operations (a create and a delete)")
    if duration_s <= 0:
        raise PlanError(f"--duration {duration_s:g}: expected a positive number of seconds")
    if max_pods < 1:
        raise PlanError(f"--max-pods {max_pods}: expected at least 1")
    if faults < 0:
        raise PlanError(f"--faults {faults}: expected 0 or more")
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise PlanError(
            f"--kinds {','.join(unknown)}: unknown fault kind; expected some of "
            f"{', '.join(FAULT_KINDS)}"
        )
    if faults and not kinds:
        raise PlanError("--kinds: empty, but --faults asks for faults")


def plan_ops(rng: random.Random, ops: int, duration_s: float, max_pods: int) -> tuple[Op, ...]:
    """`ops` operations (rounded down to even: creates = deletes) over `duration_s`."""
    creates = ops // 2
    total = 2 * creates
    gaps = [rng.expovariate(1.0) for _ in range(total)]
    scale = duration_s / sum(gaps)
    target = max(1.0, TARGET_FILL * max_pods)
    living: list[str] = []
    made, t, out = 0, 0.0, []
    for i in range(total):
        t += gaps[i] * scale
        deletes_left = (total - i) - (creates - made)
        # A create must leave enough deletes for every pod then living.
        can_create = made < creates and len(living) < max_pods and len(living) < deletes_left
        if not living or not can_create:
            create = can_create
        else:
            p = min(1.0, max(0.0, 0.5 + (target - len(living)) / (2 * target)))
            create = rng.random() < p
        if create:
            name = f"{POD_PREFIX}-{made}"
            made += 1
            living.append(name)
            out.append(Op(round(t, 3), "create", name))
        else:
            victim = living.pop(rng.randrange(len(living)))
            out.append(Op(round(t, 3), "delete", victim))
    return tuple(out)


def plan_faults(
    rng: random.Random, count: int, duration_s: float, kinds: tuple[str, ...]
) -> tuple[Fault, ...]:
    """`count` faults of `kinds` at random times within 5-70 % of the run (recoveries
    push the later ones back; they should still meet pods being created)."""
    order: list[str] = []
    while len(order) < count:
        batch = list(kinds)
        rng.shuffle(batch)
        order.extend(batch)
    times = sorted(rng.uniform(0.05, 0.7) * duration_s for _ in range(count))
    out = []
    for t, kind in zip(times, order[:count], strict=True):
        low, high = FAULT_KINDS[kind][1]
        out.append(Fault(round(t, 3), kind, round(rng.uniform(low, high), 1)))
    return tuple(out)


def make_plan(
    seed: int,
    *,
    ops: int,
    duration_s: float,
    max_pods: int,
    faults: int,
    kinds: tuple[str, ...] = tuple(FAULT_KINDS),
) -> Plan:
    """The soak's schedule for these options (PlanError naming a bad one)."""
    _check(ops, duration_s, max_pods, faults, kinds)
    rng = random.Random(seed)
    return Plan(
        seed=seed,
        duration_s=duration_s,
        max_pods=max_pods,
        ops=plan_ops(rng, ops, duration_s, max_pods),
        faults=plan_faults(rng, faults, duration_s, kinds),
    )
