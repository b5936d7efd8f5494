"""Supervision as a real cluster does it: a dead component is restarted with back-off.

The harness plays the role each component's real supervisor plays: the kubelet for
the controller (a Deployment's pod) and the control plane (static pods), the Windows
service control manager for HNS and the kubelet service (the node agent). All of them
use the kubelet's CrashLoopBackOff shape here: the first restart waits
``restart_backoff_initial_s`` (kubelet: 10 s), each further crash doubles the wait up
to ``restart_backoff_max_s`` (kubelet: 5 min), and a component that ran twice the cap
without crashing starts again from the initial wait. fake_ec2 is never restarted: EC2
does not go away, its failures are modelled as faults.

A background thread polls every child (``waitpid``, so a dead one never stays a
zombie), logs each death with its exit code or signal and each restart to
``logs/supervisor.log``, hands them to listeners as events (``source: supervisor``
in a scenario report) and writes ``supervision.json`` for ``ekswin status``.
A component stopped on purpose (a scenario ``stop`` step) is not restarted until it
is started again; ``supervision.restart.<component>: false`` in the spec turns
restarts off, so a death stays an outage. ``ekswin restart COMPONENT`` drops a
request file that the thread carries out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.components import Component
from harness.process import ManagedProcess, Supervisor

# The component names shared by `ekswin status`, `ekswin restart` and scenario steps.
COMPONENTS = (
    "controller",
    "fake_hns",
    "node-agent",
    "kube-apiserver",
    "etcd",
    "kube-scheduler",
    "kube-controller-manager",
)
STATE_FILE = "supervision.json"
REQUESTS_DIR = "requests"
POLL_S = 0.1

log = logging.getLogger("ekswin.supervisor")

Listener = Callable[[str, str], None]  # (reason, message)


def post_request(run_dir: Path, kind: str, body: Mapping[str, Any]) -> str:
    """Drop a request for the process that owns the environment into its inbox
    (written aside, then renamed in, so a reader never sees half a file); its id."""
    rid = uuid.uuid4().hex
    folder = run_dir / REQUESTS_DIR
    tmp = folder / f".{rid}.tmp"
    tmp.write_text(json.dumps({**body, "id": rid}))
    tmp.replace(folder / f"{kind}-{rid}.json")
    return rid


def take_requests(run_dir: Path, kinds: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Remove and return the waiting requests of `kinds`, oldest name first, as
    (kind, body); an unreadable or vanished file is skipped."""
    folder = run_dir / REQUESTS_DIR
    try:
        files = sorted(p for kind in kinds for p in folder.glob(f"{kind}-*.json"))
    except OSError:
        return []
    out = []
    for path in files:
        try:
            req = json.loads(path.read_text())
            path.unlink()
        except (OSError, ValueError):
            continue
        out.append((path.name.split("-", 1)[0], req))
    return out


def describe_exit(returncode: int | None) -> str:
    """'exited with code N' or 'killed by signal SIGNAME' (Popen's negative codes)."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exited with code {returncode}"


@dataclass
class BackOff:
    """kubelet's container restart back-off: initial, doubling, capped, reset after
    a run of twice the cap."""

    initial_s: float
    max_s: float
    current_s: float = 0.0

    def next(self, ran_s: float) -> float:
        """The wait before the next restart of a process that ran `ran_s` seconds."""
        if self.current_s == 0.0 or ran_s >= 2 * self.max_s:
            self.current_s = self.initial_s
        else:
            self.current_s = min(self.current_s * 2, self.max_s)
        return self.current_s


@dataclass
class Unit:
    """One supervised process: its component, how to start it again, its record."""

    name: str  # the process name (controller-1, node-agent-0, ...)
    component: str  # the name in COMPONENTS
    target: Component
    restart: Callable[[], object]  # starts it again and waits until ready (re-registers...)
    enabled: bool
    backoff: BackOff
    state: str = "running"  # running | back-off | restarting | down | stopped
    restarts: int = 0
    last_exit: str = ""
    last_exit_at: float = 0.0
    next_restart_at: float = 0.0
    started_at: float = field(default_factory=time.time)
    proc: ManagedProcess | None = None
    on_gone: Callable[[], object] | None = None  # called (own thread) once it died or stopped
    stop_began_at: float | None = None  # a requested stop: when it began (the outage start)

    def to_dict(self) -> dict[str, Any]:
        """The supervision.json shape of this unit."""
        return {
            "component": self.component,
            "state": self.state,
            "restart": self.enabled,
            "restarts": self.restarts,
            "last_exit": self.last_exit or None,
            "last_exit_at": self.last_exit_at or None,
            "next_restart_in_s": round(max(0.0, self.next_restart_at - time.time()), 1)
            if self.state == "back-off"
            else None,
            "pid": self.proc.pid if self.proc is not None and self.proc.alive() else None,
        }


class Supervision:
    """Watches the units of one environment and restarts the dead ones."""

    def __init__(self, sup: Supervisor, run_dir: Path) -> None:
        self.sup = sup
        self.run_dir = run_dir
        self.units: dict[str, Unit] = {}
        # Held while a unit is restarted and while a scenario stops or starts a component,
        # so the supervisor never mistakes a requested stop for a crash.
        self.lock = threading.RLock()
        self.listeners: list[Listener] = []
        self._closed = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[tuple[Unit, ManagedProcess | None, str]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._handled: list[dict[str, Any]] = []
        self._log_path = run_dir / "logs" / "supervisor.log"

    # -- set-up -----------------------------------------------------------------------
    def add(
        self,
        component: str,
        target: Component,
        restart: Callable[[], object],
        *,
        enabled: bool,
        backoff_initial_s: float,
        backoff_max_s: float,
        on_gone: Callable[[], object] | None = None,
    ) -> Unit:
        """Supervise `target` (started already) as part of `component`; `on_gone` runs
        in its own thread each time the process is found dead or stopped."""
        if component not in COMPONENTS:
            raise ValueError(f"component {component!r}: expected one of {', '.join(COMPONENTS)}")
        unit = Unit(
            target.name,
            component,
            target,
            restart,
            enabled,
            BackOff(backoff_initial_s, backoff_max_s),
            proc=target.process,
            on_gone=on_gone,
        )
        self.units[unit.name] = unit
        return unit

    def remove(self, name: str) -> None:
        """Stop supervising unit `name` (its component is gone for good, e.g. the node
        agent of removed nodes): no restart, no state row."""
        with self.lock:
            if self.units.pop(name, None) is not None:
                self._log_line("Removed", f"{name} is no longer supervised")
                self._write_state()

    def start(self) -> Supervision:
        """Start the watching thread."""
        folder = self.run_dir / REQUESTS_DIR
        folder.mkdir(exist_ok=True)
        for stale in folder.glob("restart-*.json"):  # asked of an earlier run
            stale.unlink(missing_ok=True)
        self._write_state()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        self._worker = threading.Thread(target=self._work, name="supervisor-restart", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop watching and restarting; a restart under way finishes first. Call
        close() once the processes are stopped."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.lock:
            pass

    def close(self) -> None:
        """End the restart thread (after `stop` and after the processes were stopped)."""
        self.stop()
        self._finished.set()
        if self._worker is not None:
            self._worker.join(timeout=5)

    def of(self, component: str) -> list[Unit]:
        """The units of one component."""
        return [u for u in self.units.values() if u.component == component]

    def stop_begins(self, targets: list[Component]) -> None:
        """A requested stop of `targets` begins now: the outage supervisor.log records
        starts here, not when the watcher later finds the process gone (a pod created
        during a slow stop is then seen as created during the outage)."""
        now = time.time()
        for unit in self.units.values():
            if any(unit.target is t for t in targets):
                unit.stop_began_at = now

    # -- events -------------------------------------------------------------------------
    def _event(self, reason: str, message: str) -> None:
        log.warning("%s: %s", reason, message)
        self._log_line(reason, message)
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):
                listener(reason, message)

    def _log_line(self, reason: str, message: str, at: float | None = None) -> None:
        """Append one line to supervisor.log (`ekswin why` reads outages from it);
        `at`: when it happened, if earlier than now."""
        with contextlib.suppress(OSError), self._log_path.open("a") as f:
            f.write(f"{log_timestamp(time.time() if at is None else at)} {reason}: {message}\n")

    # -- the watching thread ------------------------------------------------------------
    def _run(self) -> None:
        last_write = 0.0
        while not self._closed.is_set():
            self.sup.reap_exited()  # waitpid on every child: no zombie stays
            changed = False
            if self.lock.acquire(blocking=False):
                try:
                    for unit in list(self.units.values()):
                        changed |= self._check(unit)
                    changed |= self._requests()
                finally:
                    self.lock.release()
            if changed or time.monotonic() - last_write > 1.0:
                self._write_state()
                last_write = time.monotonic()
            self._closed.wait(POLL_S)

    def _check(self, unit: Unit) -> bool:
        """Advance one unit's state; True when it changed."""
        proc = unit.target.process
        now = time.time()
        if proc is None:  # stopped on purpose: not restarted until started again
            if unit.state != "stopped":
                unit.state, unit.proc = "stopped", None
                # In the log only: whoever stopped it reports the event itself.
                self._log_line(
                    "Stopped",
                    f"{unit.component} ({unit.name}) stopped on request",
                    at=unit.stop_began_at,
                )
                unit.stop_began_at = None
                self._gone(unit)
                return True
            return False
        if proc is not unit.proc:  # started again by someone (a scenario step)
            if unit.state == "stopped":
                self._log_line(
                    "Started", f"{unit.component} ({unit.name}) started again, pid {proc.pid}"
                )
            unit.proc, unit.state, unit.started_at = proc, "running", now
            return True
        if proc.alive():
            if unit.state != "running" and unit.state != "restarting":
                unit.state = "running"
                return True
            return False
        if unit.state == "running":
            code = proc.popen.returncode if proc.popen is not None else None
            unit.last_exit, unit.last_exit_at = describe_exit(code), now
            self.sup.forget(unit.name, proc)  # its group's stragglers go too
            self._event("Died", f"{unit.component} ({unit.name}, pid {proc.pid}) {unit.last_exit}")
            self._gone(unit)
            if not unit.enabled:
                unit.state = "down"
                self._event(
                    "NotRestarted", f"{unit.component} ({unit.name}): restarts are off; down"
                )
                return True
            delay = unit.backoff.next(now - unit.started_at)
            unit.state, unit.next_restart_at = "back-off", now + delay
            self._event(
                "BackOff", f"Back-off {delay:g}s restarting failed {unit.component} ({unit.name})"
            )
            return True
        if unit.state == "back-off" and now >= unit.next_restart_at:
            unit.state = "restarting"
            self._spawn(unit, proc, "Restarted")
            return True
        return False

    def _gone(self, unit: Unit) -> None:
        """Run the unit's on_gone hook in its own thread (it may call the API server;
        the watching thread must not wait for it)."""
        hook = unit.on_gone
        if hook is None:
            return

        def run() -> None:
            try:
                hook()
            except Exception as e:  # e.g. the API server is the one that is down
                log.warning("%s: after its exit: %s", unit.name, e)

        threading.Thread(target=run, name=f"gone-{unit.name}", daemon=True).start()

    def _spawn(self, unit: Unit, dead: ManagedProcess | None, reason: str) -> None:
        self._queue.put((unit, dead, reason))

    def _work(self) -> None:
        # One long-lived thread starts every restarted process: PR_SET_PDEATHSIG fires
        # when the forking *thread* exits, so a short-lived thread would take its child
        # with it. It ends at close(), once `down` has stopped what it started.
        while not self._finished.is_set():
            try:
                unit, dead, reason = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._restart(unit, dead, reason)

    def _restart(self, unit: Unit, dead: ManagedProcess | None, reason: str) -> None:
        with self.lock:
            if self._closed.is_set():
                return
            # A scenario stopped or started it meanwhile: its wish wins.
            if dead is not None and unit.target.process is not dead:
                return
            try:
                unit.restart()
            except Exception as e:
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                self._event("RestartFailed", f"{unit.component} ({unit.name}): {first}")
                new = unit.target.process
                if new is not None and new.alive():
                    new.stop()  # never ready: count it as a crash and back off again
            unit.restarts += 1
            unit.proc = unit.target.process
            unit.started_at = time.time()
            unit.state = "running"
            pid = unit.proc.pid if unit.proc is not None else None
            self._event(
                reason,
                f"{unit.component} ({unit.name}) started again, pid {pid}, restart {unit.restarts}",
            )
            self._write_state()

    # -- `ekswin restart` ---------------------------------------------------------------
    def _requests(self) -> bool:
        taken = take_requests(self.run_dir, ("restart",))
        for _, req in taken:
            self.request_restart(str(req.get("component", "")), str(req.get("id", "")))
        return bool(taken)

    def request_restart(self, component: str, request_id: str = "") -> list[str]:
        """Restart every unit of `component` now (also one whose restarts are off or that
        was stopped); return their names."""
        units = self.of(component)
        self._handled.append({"id": request_id, "component": component, "units": len(units)})
        for unit in units:
            self._event("RestartRequested", f"{unit.component} ({unit.name}) restart requested")
            if unit.target.process is not None and unit.target.process.alive():
                unit.target.process.stop()
                unit.last_exit = describe_exit(
                    unit.target.process.popen.returncode if unit.target.process.popen else None
                )
                unit.last_exit_at = time.time()
                self.sup.forget(unit.name, unit.target.process)
            unit.state = "restarting"
            self._spawn(unit, None, "Restarted")
        return [u.name for u in units]

    # -- status -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What supervision.json holds."""
        return {
            "updated_at": time.time(),
            "units": {name: u.to_dict() for name, u in self.units.items()},
            "handled_requests": self._handled[-20:],
        }

    def _write_state(self) -> None:
        path = self.run_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(self.snapshot(), indent=1))
            tmp.replace(path)


def log_timestamp(epoch: float) -> str:
    """supervisor.log's timestamp: UTC with milliseconds (2026-01-02T03:04:05.678Z)."""
    ms = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}Z"


def read_log(run_dir: Path) -> list[tuple[float, str, str]]:
    """supervisor.log as (epoch, reason, message), oldest first ([] when absent)."""
    import calendar

    out = []
    try:
        text = (run_dir / "logs" / "supervisor.log").read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        reason, sep, message = rest.partition(": ")
        if not sep:
            continue
        try:
            base, _, frac = stamp.rstrip("Z").partition(".")
            t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            continue
        out.append((t + (int(frac) / 1000 if frac.isdigit() else 0.0), reason, message))
    return out


def outages(lines: list[tuple[float, str, str]]) -> list[dict[str, Any]]:
    """Per process, the intervals it was not running: from a death, a stop or a requested
    restart to the next start (end None: still out). Plain data from read_log()."""
    ends = ("Restarted", "Started")
    starts = ("Died", "Stopped", "RestartRequested")
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for t, reason, message in lines:
        component, _, rest = message.partition(" (")
        unit = rest.split(",", 1)[0].split(")", 1)[0]
        if not unit:
            continue
        if reason in starts and unit not in open_:
            open_[unit] = {
                "component": component, "unit": unit, "start": t, "end": None,
                "why": f"{reason}: {message}",
            }  # fmt: skip
        elif reason in ends and unit in open_:
            o = open_.pop(unit)
            o["end"] = t
            done.append(o)
    return sorted(done + list(open_.values()), key=lambda o: o["start"])


def read_state(run_dir: Path) -> dict[str, Any]:
    """supervision.json of a running environment ({} when there is none)."""
    try:
        data = json.loads((run_dir / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def is_live(state: dict[str, Any], within_s: float = 10.0) -> bool:
    """True when a supervisor wrote `state` lately (it rewrites it every second)."""
    return time.time() - float(state.get("updated_at") or 0) < within_s


def by_component(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per component (COMPONENTS order): state (the worst of its units), restarts
    (summed), last exit (the newest), units."""
    order = ("down", "stopped", "back-off", "restarting", "running")
    out: dict[str, dict[str, Any]] = {}
    for name, u in (state.get("units") or {}).items():
        c = out.setdefault(
            u["component"],
            {"state": "running", "restarts": 0, "last_exit": None, "_at": 0.0, "units": []},
        )
        c["units"].append(name)
        c["restarts"] += int(u.get("restarts") or 0)
        if order.index(u["state"]) < order.index(c["state"]):
            c["state"] = u["state"]
        if u.get("last_exit") and (u.get("last_exit_at") or 0) >= c["_at"]:
            c["last_exit"], c["_at"] = u["last_exit"], u.get("last_exit_at") or 0
    for c in out.values():
        c.pop("_at")
    return {k: out[k] for k in COMPONENTS if k in out}
