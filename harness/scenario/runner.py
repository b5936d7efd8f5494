"""Run a scenario: start its environment, run the steps (settling after each), check
the expectations and invariants, and build the report (SCENARIOS.md, report v1)."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.invariants import Violation, check
from harness.scenario.expect import Outcome, evaluate
from harness.scenario.live import Live, StepError
from harness.scenario.model import DEFAULT_EXPECT_TIMEOUT_S, Scenario, Step
from harness.scenario.settle import Settler, SettleResult
from harness.scenario.shared import SharedEnvironments
from harness.scenario.snapshot import Snapshot, take

REPORT_VERSION = 1
SETTLE_DEADLINE_S = 120.0
POLL_S = 0.5

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Outputs:
    """What a run writes besides its report: a repro bundle (to `bundle`, on failure,
    or always with `bundle_on_success`) and an HTML page (to `html`)."""

    bundle: Path | None = None
    bundle_on_success: bool = False
    html: Path | None = None
    zip: bool = False


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


class Sampler:
    """The report's timeline: a sample at every step and every `interval_s`."""

    def __init__(self, live: Live, interval_s: float) -> None:
        self.live = live
        self.samples: list[dict[str, Any]] = []
        self.step = -1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_s,), name="scenario-timeline", daemon=True
        )
        self._thread.start()

    def _loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.sample()
            except Exception:  # a component restarting: skip this sample
                continue

    def sample(self, snap: Snapshot | None = None) -> Snapshot:
        """Record one sample (from `snap`, else a new snapshot)."""
        snap = snap or take(self.live)
        nodes = {}
        for name, n in snap.nodes.items():
            running = sum(1 for p in snap.pods if p["node"] == name and p["state"] == "running")
            waiting = sum(
                1 for p in snap.pods if p["node"] == name and p["state"] == "container_creating"
            )
            nodes[name] = {
                "pods_running": running,
                "pods_pending": waiting,
                "ips_used": n["assigned_ips"],
                "ips_warm": max(0, n["free_ips"] - n["cooling_ips"]),
                "ips_cooling": n["cooling_ips"],
                "prefixes": len(n["eni"]["prefixes"]),
            }
        with self._lock:
            self.samples.append(
                {
                    "t": round(snap.t, 3),
                    "step": self.step,
                    "pods_pending": snap.count("pending"),
                    "nodes": nodes,
                    "ec2_calls": dict(self.live.log.ec2_calls),
                }
            )
        return snap

    def close(self) -> list[dict[str, Any]]:
        """Stop sampling; the samples in time order."""
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            return sorted(self.samples, key=lambda s: s["t"])


def _run_step(live: Live, step: Step) -> str:
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


class ScenarioRun:
    """One run of a scenario against a fresh environment."""

    def __init__(
        self,
        scenario: Scenario,
        run_dir: Path,
        progress: Progress | None = None,
        shared: SharedEnvironments | None = None,
        outputs: Outputs | None = None,
    ) -> None:
        self.scenario = scenario
        self.shared = shared
        self.outputs = outputs or Outputs()
        self.captures: list[Any] = []  # bundle.Capture: at the first failure, at the end
        self.environment: dict[str, Any] = {"reused": False, "reset_s": None}
        self.backend = "local"  # the backend the environment ran on, once it is known
        self.run_dir = run_dir
        self.say = progress or (lambda m: None)
        self.records: list[StepRecord] = []
        self.violations: list[Violation] = []
        self.error: str | None = None
        self.failure: dict[str, Any] | None = None
        self.t0 = time.monotonic()

    @property
    def timing(self) -> Any:
        """The environment's resolved timing."""
        return self.scenario.spec.timing

    def _deadline(self, step: Step) -> float:
        work = int(step.args.get("count", 0)) if isinstance(step.args, dict) else 0
        return self.timing.scaled(SETTLE_DEADLINE_S) + 0.5 * work

    def _expect(self, live: Live, step: Step) -> list[Outcome]:
        timeout = float(step.args.get("timeout", DEFAULT_EXPECT_TIMEOUT_S))
        deadline = time.monotonic() + timeout
        needs_invariants = "invariant_broken" in step.args
        while True:
            try:
                snap = take(live)
            except Exception as e:  # a stopped or restarting component: not yet
                outcomes = [Outcome("observe", False, f"{type(e).__name__}: {e}", "observable")]
            else:
                violations = check(snap.state) if needs_invariants else []
                events = live.log.events()  # polls fake_ec2's log, so ec2_calls is fresh
                outcomes = evaluate(
                    step.args, snap, events, violations, ec2_calls=dict(live.log.ec2_calls)
                )
            if all(o.ok for o in outcomes) or time.monotonic() >= deadline:
                return outcomes
            time.sleep(POLL_S)

    def _final_invariants(self, live: Live) -> list[Violation]:
        """Invariants once the cool-down has passed, polled until only expected ones
        break (they may take a resync to converge) or a deadline passes."""
        expected = set(self.scenario.expected_broken())
        deadline = time.monotonic() + self.timing.cooldown_s + self.timing.scaled(60.0)
        while True:
            try:
                violations = check(take(live).state, cooldown_passed=True)
            except Exception:  # a component the scenario left stopped: nothing to check
                return []
            unexpected = [
                v for v in violations
                if (v.id, v.node) not in expected and (v.id, None) not in expected
            ]  # fmt: skip
            if not unexpected or time.monotonic() >= deadline:
                return violations
            time.sleep(POLL_S)

    def run(self) -> dict[str, Any]:
        """Start, run every step, check, stop; return the report."""
        from harness.env import Environment

        reused = self.shared.take(self.scenario) if self.shared is not None else None
        env = reused or Environment(
            self.scenario.spec, self.run_dir, name=_env_name(self.scenario.name)
        )
        self.backend = str(getattr(env.cluster, "backend", self.backend))
        if reused is not None and self.shared is not None:
            reset_s = self.shared.last_reset_s or 0.0
            self.environment = {"reused": True, "reset_s": round(reset_s, 3)}
            self.say(f"  reusing the environment of an equal spec (reset in {reset_s:.1f} s)")
        live: Live | None = None
        settler: Settler | None = None
        sampler: Sampler | None = None
        final: Snapshot | None = None
        keep = False
        try:
            try:
                if reused is None:
                    env.start(progress=lambda m: self.say(f"  {m}"))
            except Exception as e:
                self.error = f"environment failed to start: {e}"
                self.failure = {"kind": "start", "step": None, "detail": str(e)}
                report = self.report(None, [])
                self._write_outputs(report, env, None, None)
                return report
            live = Live(env)
            settler = Settler(live)
            sampler = Sampler(live, 2.0 if self.timing.profile == "fast" else 5.0)
            try:
                settler.wait(self._deadline(Step(-1, "start", None)))
                for step in self.scenario.steps:
                    sampler.step = step.index
                    self._do(live, settler, step)
                    with contextlib.suppress(Exception):  # a component the scenario stopped
                        sampler.sample()
                self.violations = self._final_invariants(live)
            except Exception as e:  # the runner itself broke: a crash, reported and bundled
                self.error = f"crash: {type(e).__name__}: {e}"
                self.failure = {
                    "kind": "crash",
                    "step": sampler.step if sampler.step >= 0 else None,
                    "detail": "".join(traceback.format_exception_only(e)).strip(),
                }
            try:
                final = take(live)
            except Exception as e:  # a component left stopped: report what is known
                self.error = self.error or f"final state not observable: {type(e).__name__}: {e}"
            timeline = sampler.close()
            sampler = None
            keep = self.shared is not None and self.failure is None
            report = self.report(final, timeline, live)
            self._write_outputs(report, env, live, final)  # before the environment stops
            return report
        finally:
            if sampler is not None:
                sampler.close()
            if settler is not None:
                settler.close()
            if live is not None:
                live.close()
            if keep and self.shared is not None:
                self.shared.give_back(self.scenario, env)
            else:
                env.stop()

    def _do(self, live: Live, settler: Settler, step: Step) -> None:
        started = time.monotonic()
        rec = StepRecord(step, time.time() - live.log.t0)  # the events' and timeline's clock
        self.records.append(rec)
        self.say(f"step {step.index}: {step.describe()}")
        try:
            if step.kind == "expect":
                rec.outcomes = self._expect(live, step)
                rec.detail = "; ".join(o.text() for o in rec.outcomes)
            else:
                rec.detail = _run_step(live, step)
        except Exception as e:  # a step the environment refused: recorded, the run goes on
            rec.error = f"{type(e).__name__}: {e}"
        if not rec.ok and self.outputs.bundle is not None and not self.captures:
            self._capture(live, "failure")
        if step.settle and step.kind not in ("expect",) and rec.error is None:
            rec.settle = settler.wait(self._deadline(step))
        rec.duration_s = time.monotonic() - started
        mark = "✓" if rec.ok else "✗"
        settle = ""
        if rec.settle is not None:
            settle = (
                f", settled in {rec.settle.waited_s:.1f} s"
                if rec.settle.settled
                else f", NOT settled ({', '.join(rec.settle.still_changing)} still changing)"
            )
        self.say(f"  {mark} {rec.error or rec.detail}{settle}")

    def _capture(self, live: Live, moment: str) -> None:
        from harness.scenario.bundle import capture

        try:
            self.captures.append(capture(live, moment))
        except Exception as e:  # never let the bundle's extras break the run
            self.say(f"  (could not capture the {moment} state: {type(e).__name__}: {e})")

    def _write_outputs(
        self, report: dict[str, Any], env: Any, live: Live | None, final: Snapshot | None
    ) -> None:
        """The bundle (when wanted) and the HTML page (when asked), while `env` runs."""
        out = self.outputs
        want_bundle = out.bundle is not None and (not report["ok"] or out.bundle_on_success)
        if not want_bundle and out.html is None:
            return
        cooling: dict[str, set[str]] = {}
        if live is not None and live.pipeline is not None:
            from harness.pictures.gather import cooling_ips

            with contextlib.suppress(Exception):
                cooling = cooling_ips([c.url for c in live.pipeline.controllers if c.url])
        pictures: dict[str, Path] = {}
        scratch = tempfile.TemporaryDirectory(prefix="ekswin-pictures-")
        try:
            if want_bundle and out.bundle is not None:
                from harness.scenario.bundle import write_bundle, zip_bundle

                if live is not None:
                    self._capture(live, "end")
                run_dirs = list(dict.fromkeys([self.run_dir, Path(env.run_dir)]))
                try:
                    path = write_bundle(
                        out.bundle,
                        scenario=self.scenario,
                        report=report,
                        run_dirs=run_dirs,
                        live=live,
                        captures=self.captures,
                        final=final,
                        cooling=cooling,
                    )
                    if out.zip:
                        zip_bundle(path)
                    self.say(f"bundle: {path}")
                    pictures = {p.name: p for p in (path / "pictures").glob("*.svg")}
                except Exception as e:  # the verdict stands without its bundle
                    self.say(f"  (could not write the bundle: {type(e).__name__}: {e})")
            if out.html is not None:
                from harness.scenario.bundle import draw_pictures
                from harness.scenario.html import write_html

                if not pictures:
                    drawn = draw_pictures(Path(scratch.name), report, final, cooling)
                    pictures = {n: p for n, p in drawn.items() if p.suffix == ".svg"}
                try:
                    write_html(report, out.html, pictures)
                    self.say(f"html: {out.html}")
                except Exception as e:
                    self.say(f"  (could not write the HTML page: {type(e).__name__}: {e})")
        finally:
            scratch.cleanup()

    def _first_failure(self, unexpected: list[Violation]) -> dict[str, Any] | None:
        for rec in self.records:
            if rec.error is not None:
                return {"kind": "step", "step": rec.step.index, "detail": rec.error}
            for o in rec.outcomes:
                if not o.ok:
                    key = o.key.split(".")[-1]
                    return {
                        "kind": "expectation",
                        "step": rec.step.index,
                        "key": key,
                        "node": rec.step.args.get("node"),
                        "detail": o.text(),
                    }
        if unexpected:
            v = unexpected[0]
            return {
                "kind": "invariant",
                "step": None,
                "invariant": v.id,
                "node": v.node,
                "detail": str(v),
            }
        return None

    def report(
        self, snap: Snapshot | None, timeline: list[dict[str, Any]], live: Live | None = None
    ) -> dict[str, Any]:
        """The report v1 document."""
        expected = set(self.scenario.expected_broken())
        unexpected = [
            v for v in self.violations
            if (v.id, v.node) not in expected and (v.id, None) not in expected
        ]  # fmt: skip
        if self.failure is None:
            self.failure = self._first_failure(unexpected)
        ok = self.failure is None
        pods = snap.pods if snap else []
        spec = self.scenario.spec
        return {
            "report_version": REPORT_VERSION,
            "scenario": self.scenario.name,
            "environment": self.environment,
            "seed": spec.seed,
            "backend": self.backend,
            "timing": spec.timing.to_spec(),
            "ok": ok,
            "duration_s": round(time.monotonic() - self.t0, 3),
            "error": self.error,
            "failure": self.failure,
            "nodes": snap.nodes if snap else {},
            "pods": {
                "running": sum(1 for p in pods if p["state"] == "running"),
                "pending": sum(1 for p in pods if p["state"] == "pending"),
                "container_creating": sum(1 for p in pods if p["state"] == "container_creating"),
                "items": [
                    {"name": p["name"], "node": p["node"], "ip": p["ip"], "phase": p["phase"]}
                    for p in sorted(pods, key=lambda p: p["name"])
                ],
            },
            "cooling_ips": sum(n["cooling_ips"] for n in (snap.nodes if snap else {}).values()),
            "invariants": {
                "ok": not unexpected,
                "violations": [
                    {
                        "id": v.id,
                        "node": v.node,
                        "message": v.message,
                        "expected": v not in unexpected,
                    }
                    for v in self.violations
                ],
            },
            "bundle": None,
            "expectations": [
                {
                    "step": r.step.index,
                    "ok": r.ok,
                    "detail": r.detail,
                    "keys": {o.key: {"ok": o.ok, "got": o.got, "want": o.want} for o in r.outcomes},
                }
                for r in self.records
                if r.step.kind == "expect"
            ],
            "steps": [r.to_dict() for r in self.records],
            "events": [e.to_dict() for e in (live.log.events() if live else [])],
            "timeline": timeline,
        }


def _env_name(name: str) -> str:
    return ("s-" + name)[:40].rstrip("-") or "scenario"


def run_scenario(
    scenario: Scenario,
    run_dir: Path,
    *,
    seed: int | None = None,
    timing: str | None = None,
    progress: Progress | None = None,
    shared: SharedEnvironments | None = None,
    outputs: Outputs | None = None,
) -> dict[str, Any]:
    """Run `scenario` (with `seed` / the `timing` profile overriding the file's); with
    `shared`, on a reset environment of an equal spec when one is idle; `outputs`: the
    bundle and HTML page to write."""
    spec = scenario.spec
    if timing is not None:
        spec = spec.with_timing(timing)
    if seed is not None:
        spec = replace(spec, seed=seed)
    return ScenarioRun(replace(scenario, spec=spec), run_dir, progress, shared, outputs).run()
