"""Replay a bundle: run its scenario again with the recorded spec and seed, and say
whether the first failure showed again.

Reproduced means the same kind (start / step / expectation / invariant / crash), the
same step index, and the same expect key and node (expectation) or invariant id and
node (invariant); the values observed may differ. A bundle of a passing run (`--keep`)
reproduces when the replay passes too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.scenario.bundle import read_bundle, replay_scenario
from harness.scenario.runner import Progress, run_scenario


def failure_signature(failure: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """What two failures must share to be the same: kind, step and key/invariant + node."""
    if not failure:
        return None
    kind = failure.get("kind")
    if kind == "expectation":
        return (kind, failure.get("step"), failure.get("key"), failure.get("node"))
    if kind == "invariant":
        return (kind, failure.get("step"), failure.get("invariant"), failure.get("node"))
    return (kind, failure.get("step"))


def describe(failure: Mapping[str, Any] | None) -> str:
    """A one-line account of a failure (or "no failure")."""
    if not failure:
        return "no failure"
    what = failure.get("key") or failure.get("invariant") or ""
    node = f" on {failure['node']}" if failure.get("node") else ""
    step = f"step {failure['step']}" if failure.get("step") is not None else "no step"
    return f"{failure.get('kind')} at {step}{f' ({what}{node})' if what else node}: " + str(
        failure.get("detail", "")
    )


@dataclass(frozen=True)
class ReplayResult:
    """The recorded failure, the replay's, and whether they are the same."""

    recorded: Mapping[str, Any] | None
    replayed: Mapping[str, Any] | None
    report: dict[str, Any]

    @property
    def reproduced(self) -> bool:
        """Same failure signature (see the module docstring)."""
        return failure_signature(self.recorded) == failure_signature(self.replayed)


def replay(bundle_dir: Path, run_dir: Path, progress: Progress | None = None) -> ReplayResult:
    """Re-run the bundle in `bundle_dir` on a fresh environment in `run_dir`.
    BundleError when it is not a readable bundle."""
    bundle = read_bundle(bundle_dir)
    scenario = replay_scenario(bundle)
    report = run_scenario(scenario, run_dir, progress=progress)
    return ReplayResult(bundle.failure, report.get("failure"), report)
