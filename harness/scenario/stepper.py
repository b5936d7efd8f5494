"""Carry out one step against a live environment: its effect, then the settle wait, or,
for `expect`, polling until every key holds. The scenario runner, `ekswin step` and the
pytest plugin's `env.step` all go through `do_step`, so a step means the same in each."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.invariants import check
from harness.scenario.expect import Outcome, evaluate
from harness.scenario.live import Live, StepError
from harness.scenario.model import DEFAULT_EXPECT_TIMEOUT_S, Step
from harness.scenario.settle import Settler, SettleResult
from harness.scenario.snapshot import take

SETTLE_DEADLINE_S = 120.0
POLL_S = 0.5


@dataclass
class StepRecord:
    """What happened in one step."""

    step: Step
    t: float
    duration_s: float = 0.0
    detail: str = ""
    error: str | None = None
    settle: SettleResult | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error and every expect key held."""
        return self.error is None and all(o.ok for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """The report's `steps[]` entry."""
        d: dict[str, Any] = {
            "index": self.step.index,
            "kind": self.step.kind,
            "description": self.step.describe(),
            "t": round(self.t, 3),
            "duration_s": round(self.duration_s, 3),
            "ok": self.ok,
            "detail": self.detail,
        }
        if self.error is not None:
            d["error"] = self.error
        if self.settle is not None:
            d["settled"] = self.settle.settled
            d["settle_s"] = round(self.settle.waited_s, 3)
            if not self.settle.settled:
                d["still_changing"] = list(self.settle.still_changing)
        return d

    def summary(self) -> str:
        """One line: ✓/✗, the detail or error, how the settle ended."""
        mark = "✓" if self.ok else "✗"
        settle = ""
        if self.settle is not None:
            settle = (
                f", settled in {self.settle.waited_s:.1f} s"
                if self.settle.settled
                else f", NOT settled ({', '.join(self.settle.still_changing)} still changing)"
            )
        return f"{mark} {self.error or self.detail}{settle}"


def effect(live: Live, step: Step) -> str:
    """Carry out a step that is not an `expect`; a one-line detail."""
    a = step.args
    kind = step.kind
    if kind == "set_configmap":
        return live.write_configmap({**(live.configmap() or {}), **a})
    if kind == "replace_configmap":
        return live.write_configmap(a)
    if kind == "delete_configmap":
        return live.write_configmap(None)
    if kind == "wait":
        time.sleep(float(a["seconds"]))  # the step's own meaning: let time pass
        return f"waited {a['seconds']} s"
    method = getattr(live, kind, None)
    if method is None:
        raise StepError(f"step kind {kind!r} is not implemented")
    return str(method(a))


def expect_until(live: Live, args: dict[str, Any]) -> list[Outcome]:
    """Poll an `expect` step's keys until all hold or its timeout passes."""
    timeout = float(args.get("timeout", DEFAULT_EXPECT_TIMEOUT_S))
    deadline = time.monotonic() + timeout
    needs_invariants = "invariant_broken" in args
    while True:
        try:
            snap = take(live)
        except Exception as e:  # a stopped or restarting component: not yet
            outcomes = [Outcome("observe", False, f"{type(e).__name__}: {e}", "observable")]
        else:
            violations = check(snap.state) if needs_invariants else []
            events = live.log.events()  # polls fake_ec2's log, so ec2_calls is fresh
            outcomes = evaluate(args, snap, events, violations, ec2_calls=dict(live.log.ec2_calls))
        if all(o.ok for o in outcomes) or time.monotonic() >= deadline:
            return outcomes
        time.sleep(POLL_S)


def settle_deadline(live: Live, step: Step) -> float:
    """How long a step may take to settle: the profile's base plus half a second per
    object it creates."""
    work = int(step.args.get("count", 0)) if isinstance(step.args, dict) else 0
    return live.env.spec.timing.scaled(SETTLE_DEADLINE_S) + 0.5 * work


def do_step(
    live: Live,
    settler: Settler,
    step: Step,
    on_failure: Callable[[StepRecord], None] | None = None,
) -> StepRecord:
    """Run `step`: its effect (an exception is recorded, not raised) and the settle
    wait (unless `settle: false`), or the expect polling; `on_failure` is called before
    the settle wait when the step failed (to capture the state of that moment)."""
    started = time.monotonic()
    rec = StepRecord(step, time.time() - live.log.t0)  # the events' and timeline's clock
    try:
        if step.kind == "expect":
            rec.outcomes = expect_until(live, step.args)
            rec.detail = "; ".join(o.text() for o in rec.outcomes)
        else:
            rec.detail = effect(live, step)
    except Exception as e:  # a step the environment refused: recorded, the caller goes on
        rec.error = f"{type(e).__name__}: {e}"
    if not rec.ok and on_failure is not None:
        on_failure(rec)
    if step.settle and step.kind != "expect" and rec.error is None:
        rec.settle = settler.wait(settle_deadline(live, step))
    rec.duration_s = time.monotonic() - started
    return rec
