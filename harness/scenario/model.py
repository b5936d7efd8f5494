"""A scenario: an environment spec plus numbered steps (SCENARIOS.md, schema version 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.spec import EnvSpec

STEP_KINDS = (
    "create_pods",
    "delete_pods",
    "create_services",
    "delete_services",
    "set_configmap",
    "replace_configmap",
    "delete_configmap",
    "add_nodes",
    "remove_nodes",
    "add_subnet",
    "reserve_cidr",
    "fragment",
    "set_dsr",
    "hns_ports",
    "restart",
    "stop",
    "start",
    "faults",
    "wait",
    "expect",
)

#: Expect keys about one node (they need `node:`); the others are cluster-wide.
NODE_KEYS = (
    "mode",
    "capacity",
    "secondary_ips",
    "prefixes",
    "assigned_ips",
    "free_ips",
    "cooling_ips",
    "hns_endpoints",
    "load_balancers",
)
CLUSTER_KEYS = ("pods_running", "pods_pending", "pods_container_creating", "ec2_calls")
EITHER_KEYS = ("lb_failures", "invariant_broken", "event", "no_event")
DEFAULT_EXPECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Step:
    """One step of a scenario, numbered from 0."""

    index: int
    kind: str
    args: Any
    settle: bool = True
    line: int | None = None

    def describe(self) -> str:
        """A one-line summary for progress and reports."""
        if isinstance(self.args, Mapping):
            inner = ", ".join(f"{k}: {v}" for k, v in self.args.items())
            return f"{self.kind} {{{inner}}}"
        return f"{self.kind} {self.args}" if self.args is not None else self.kind


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario."""

    name: str
    spec: EnvSpec
    steps: tuple[Step, ...]
    source: str = "<scenario>"
    document: Mapping[str, Any] = field(default_factory=dict)

    def expected_broken(self) -> list[tuple[str, str | None]]:
        """(invariant id, node or None) pairs the scenario expects to be broken."""
        return [
            (s.args["invariant_broken"], s.args.get("node"))
            for s in self.steps
            if s.kind == "expect" and "invariant_broken" in s.args
        ]
