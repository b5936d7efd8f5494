"""Steps and bundles against a running environment, carried out by the process that owns
it (the `ekswin up` supervisor or a test's Environment), so a step has the very same
effect as in a scenario: the same Live, the same settle wait.

`ekswin step` and `ekswin bundle` drop a request file into `<run dir>/requests/`
(`step-<id>.json`, `bundle-<id>.json`); the session's thread carries it out and writes
`result-<id>.json`, and the progress lines to `progress-<id>.log` as it goes. Every
step carried out is appended to the journal `<run dir>/steps.jsonl` (its document,
wall-clock start and end, outcome) that `scenario export` reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.env import Environment, read_state
from harness.scenario.live import Live
from harness.scenario.model import Step
from harness.scenario.settle import Settler
from harness.scenario.stepper import StepRecord, do_step
from harness.supervision import REQUESTS_DIR, take_requests

JOURNAL = "steps.jsonl"
POLL_S = 0.2

Say = Callable[[str], None]


def step_document(step: Step) -> dict[str, Any]:
    """A step as a scenario's `steps:` entry."""
    doc: dict[str, Any] = {step.kind: step.args}
    if not step.settle:
        doc["settle"] = False
    return doc


def read_journal(run_dir: Path) -> list[dict[str, Any]]:
    """The journal's entries, oldest first (a torn last line is skipped)."""
    out = []
    try:
        text = (run_dir / JOURNAL).read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry.get("step"), dict):
                out.append(entry)
    return out


def journal_steps(run_dir: Path) -> list[dict[str, Any]]:
    """The step documents of the journal that took effect (what earlier steps made:
    groups, nodes, subnets); a failed one is left out, as the export leaves it out."""
    return [e["step"] for e in read_journal(run_dir) if e.get("ok")]


def spec_document(run_dir: Path) -> dict[str, Any]:
    """The spec the environment in `run_dir` was started with (env.json; {} if none)."""
    spec = read_state(run_dir).get("spec")
    return dict(spec) if isinstance(spec, dict) else {}


class Session:
    """Carries out steps and bundle requests on one started environment."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.run_dir = Path(env.run_dir)
        (self.run_dir / JOURNAL).unlink(missing_ok=True)  # an earlier start's steps
        self._live: Live | None = None
        self._settler: Settler | None = None
        self.records: list[StepRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- in process ---------------------------------------------------------------------
    @property
    def live(self) -> Live:
        """The Live handle and its watches (made on the first step)."""
        if self._live is None:
            self._live = Live(self.env)
            self._settler = Settler(self._live)
        return self._live

    def run(self, steps: Sequence[Step], say: Say | None = None) -> list[StepRecord]:
        """Carry out validated steps in order, journalling each; stop at the first that
        fails (a failed expect included)."""
        say = say or (lambda m: None)
        out = []
        with self._lock:
            live = self.live
            assert self._settler is not None
            for step in steps:
                say(f"step {step.describe()}")
                t_start = time.time()
                rec = do_step(live, self._settler, step)
                rec.step = Step(len(self.records), step.kind, step.args, step.settle, step.line)
                self.records.append(rec)
                out.append(rec)
                self._journal(rec, t_start)
                say(f"  {rec.summary()}")
                if not rec.ok:
                    break
        return out

    def _journal(self, rec: StepRecord, t_start: float) -> None:
        entry = {
            "t_start": round(t_start, 3),
            "t_end": round(time.time(), 3),
            "step": step_document(rec.step),
            "ok": rec.ok,
            "detail": rec.detail,
            "error": rec.error,
        }
        with (self.run_dir / JOURNAL).open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def bundle(self, dest: Path, say: Say | None = None) -> Path:
        """A repro bundle of the environment now (harness.scenario.bundle), with the
        exported scenario as its scenario.yaml."""
        from harness.scenario.livebundle import write_live_bundle

        with self._lock:
            return write_live_bundle(self, dest, say or (lambda m: None))

    # -- requests from other processes ------------------------------------------------
    def serve(self) -> Session:
        """Start the thread that carries out request files."""
        folder = self.run_dir / REQUESTS_DIR
        folder.mkdir(exist_ok=True)
        for stale in [*folder.glob("step-*.json"), *folder.glob("bundle-*.json")]:
            stale.unlink(missing_ok=True)  # asked of an earlier run
        self._thread = threading.Thread(target=self._loop, name="step-session", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        folder = self.run_dir / REQUESTS_DIR
        while not self._stop.wait(POLL_S):
            for kind, req in take_requests(self.run_dir, ("step", "bundle")):
                self._handle(folder, kind, req)

    def _handle(self, folder: Path, what: str, req: Mapping[str, Any]) -> None:
        rid = str(req.get("id", "x"))
        progress = folder / f"progress-{rid}.log"

        def say(line: str) -> None:
            with contextlib.suppress(OSError), progress.open("a") as f:
                f.write(line + "\n")

        result: dict[str, Any]
        try:
            if what == "bundle":
                path = self.bundle(Path(str(req["out"])), say)
                result = {"ok": True, "bundle": str(path)}
            else:
                result = self._handle_steps(req, say)
        except Exception as e:  # reported to the waiting command, never kills the session
            result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            say("".join(traceback.format_exception(e)))
        tmp = folder / f".result-{rid}.tmp"
        tmp.write_text(json.dumps(result, default=str))
        tmp.replace(folder / f"result-{rid}.json")

    def _handle_steps(self, req: Mapping[str, Any], say: Say) -> dict[str, Any]:
        from harness.scenario.steparg import validate
        from harness.spec import SpecError

        docs = list(req.get("steps") or [])
        try:  # checked again here: the journal may have grown since the command read it
            steps = validate(
                spec_document(self.run_dir), journal_steps(self.run_dir), docs, "<steps>"
            )
        except SpecError as e:
            return {"ok": False, "usage": str(e)}
        if req.get("no_settle"):
            steps = [Step(s.index, s.kind, s.args, False, s.line) for s in steps]
        records = self.run(steps, say)
        return {
            "ok": all(r.ok for r in records) and len(records) == len(steps),
            "records": [r.to_dict() for r in records],
        }

    def close(self) -> None:
        """Stop serving and the watches."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._settler is not None:
            self._settler.close()
        if self._live is not None:
            self._live.close()
