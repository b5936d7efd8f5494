"""Run a soak: start an environment, play the plan's pod operations from one thread
while the main thread fires its faults one at a time, and check all along.

Threads: operations (create/delete at their planned times; an API error is retried,
so an API server outage delays them), a pod watch (the peak of pods waiting for an IP),
a checker (every few seconds: the invariants over one observation, and fake_ec2's
request log counted). After each fault ends (an EC2 fault cleared, an outage over, a
kill sent) the runner polls until every pod created before that moment is Running and
no invariant is broken: that wait is the fault's recovery time. At the end, with every
pod deleted and the cool-down passed, the invariants are checked once more with
`no-leak-after-cooldown` on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.invariants import Violation, check
from harness.soak.figures import (
    OBSERVER_KEY,
    Ec2Tally,
    PodRow,
    ViolationLog,
    pod_row,
    pods_to_run,
    waiting_for_ip,
)
from harness.soak.plan import Fault, Op, Plan

SOAK_VERSION = 1
OP_RETRY_S = 120.0  # an operation the API refuses this long fails
CHECK_EVERY_S = 4.0
POD_LABEL = {"app.ekswin.dev/soak": "1"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """What `make soak` was asked for (the plan's options plus the environment's)."""

    nodes: int = 5
    prefix_instance_type: str = "m5.large"  # Nitro: /28 prefixes
    secondary_instance_type: str = "m4.2xlarge"  # Xen: secondary IPs, 14 pods
    timing: str = "fast"
    recovery_deadline_s: float = 180.0

    def groups(self) -> list[tuple[str, str, int]]:
        """(group name, instance type, count): half the nodes (rounded up) Nitro, in
        prefix mode, the rest Xen, which falls back to secondary IPs."""
        pd = (self.nodes + 1) // 2
        out = [("pd", self.prefix_instance_type, pd)]
        if self.nodes - pd:
            out.append(("sec", self.secondary_instance_type, self.nodes - pd))
        return out


def soak_spec(plan: Plan, options: Options) -> Any:
    """The environment: prefix delegation on, so the Nitro nodes use /28 prefixes (a
    fragmented subnet refuses them with InsufficientCidrBlocks) and the Xen ones
    secondary IPs (every few pods an EC2 assign or unassign); the plan's seed."""
    from harness.spec import parse_spec, spec_document

    doc = spec_document(
        windows_nodes=options.nodes,
        prefix_delegation=True,
        timing=options.timing,
        seed=plan.seed,
        name="soak",
    )
    doc["nodes"] = [
        {"name": name, "instance_type": itype, "subnet": "a", "count": count}
        for name, itype, count in options.groups()
    ]
    return parse_spec(doc, "soak")


class _Pods:
    """The soak's pods as a watch shows them, and the peak of pods waiting for an IP."""

    def __init__(self, api: Any, stop: threading.Event) -> None:
        from kubernetes import client

        self.rows: dict[str, PodRow] = {}
        self.gone: set[str] = set()  # deleted by an operation (a missed DELETED event)
        self.missed: set[str] = set()  # admitted without the webhook's IP request
        self.peak_waiting = 0
        self._lock = threading.Lock()
        core = client.CoreV1Api(api)
        self._thread = threading.Thread(
            target=self._run, args=(core, stop), name="soak-pods", daemon=True
        )
        self._thread.start()

    def _run(self, core: Any, stop: threading.Event) -> None:
        from harness.scenario.watch import list_and_watch
        from harness.scenario.workload import NAMESPACE

        list_and_watch(
            core.list_namespaced_pod,
            self._handle,
            stop,
            namespace=NAMESPACE,
            label_selector=",".join(f"{k}={v}" for k, v in POD_LABEL.items()),
        )

    def _handle(self, etype: str, obj: Any) -> None:
        with self._lock:
            name = obj.metadata.name
            if etype == "DELETED":
                self.rows.pop(name, None)
            else:
                row = self.rows[name] = pod_row(obj)
                if not row.requests_ip:
                    self.missed.add(name)
            live = [r for n, r in self.rows.items() if n not in self.gone]
            self.peak_waiting = max(self.peak_waiting, waiting_for_ip(live))

    def deleted(self, name: str) -> None:
        """An operation deleted `name`."""
        with self._lock:
            self.gone.add(name)

    def snapshot(self) -> list[PodRow]:
        """The rows now (pods deleted by an operation left out)."""
        with self._lock:
            return [r for n, r in self.rows.items() if n not in self.gone]


class Soak:
    """One soak run against a fresh environment."""

    def __init__(
        self, plan: Plan, options: Options, run_dir: Path, progress: Progress | None = None
    ) -> None:
        self.plan = plan
        self.options = options
        self.run_dir = run_dir
        self.say = progress or (lambda m: None)
        self.stop = threading.Event()
        self.ec2 = Ec2Tally()
        self.violations = ViolationLog()
        self.created_at: dict[str, float] = {}  # pod -> monotonic time of its create
        self.ops_done = {"create": 0, "delete": 0, "retried": 0, "failed": 0}
        self.op_errors: list[str] = []
        self.living = 0
        self.peak_living = 0
        self.fault_active = False
        self.ops_finished = threading.Event()  # the last operation is done
        self.faults: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.t0 = 0.0
        self._lock = threading.Lock()
        self._ec2_lock = threading.Lock()
        from harness.env import Environment

        self.env = Environment(soak_spec(plan, options), run_dir, name="soak")
        self.live: Any = None  # harness.scenario.live.Live, once started
        self.pods: _Pods | None = None

    # -- helpers --------------------------------------------------------------------
    def _t(self) -> float:
        return time.monotonic() - self.t0

    def _observe(self) -> Any:
        from harness.observe import observe
        from harness.spec import REGION

        pipe = self.env.pipeline
        assert pipe is not None
        return observe(
            self.env.cluster.api,
            ec2_url=pipe.ec2_url,
            region=REGION,
            hns_target=pipe.hns_target,
            nodes=pipe.nodes,
            prefix_delegation_flag=self.env.spec.prefix_delegation_flag(),
            ec2_access_key=OBSERVER_KEY,
        )

    def _pods(self) -> _Pods:
        assert self.pods is not None
        return self.pods

    def _down(self) -> list[str]:
        """Supervised components not running (again) yet."""
        sv = self.env.supervision
        if sv is None:
            return []
        return sorted(
            u.name for u in sv.units.values() if u.state != "running" or not u.target.alive()
        )

    def _poll_ec2(self) -> int:
        """Count the request log's new rows; return the error answers counted so far."""
        pipe = self.env.pipeline
        assert pipe is not None
        with self._ec2_lock, contextlib.suppress(Exception):  # busy: the next poll catches up
            self.ec2.add(pipe.admin().requests(since=self.ec2.last_seq))
        return sum(self.ec2.errors.values())

    # -- the operations thread ------------------------------------------------------
    def _do_op(self, core: Any, op: Op) -> None:
        from kubernetes.client.rest import ApiException

        from harness.scenario import workload

        deadline = time.monotonic() + OP_RETRY_S
        tries = 0
        while not self.stop.is_set():
            tries += 1
            try:
                if op.kind == "create":
                    body = workload.pod("soak", 0)
                    body["metadata"]["name"] = op.pod
                    body["metadata"]["labels"].update(POD_LABEL)
                    self.created_at[op.pod] = time.monotonic()
                    core.create_namespaced_pod(workload.NAMESPACE, body)
                else:
                    self._pods().deleted(op.pod)
                    core.delete_namespaced_pod(op.pod, workload.NAMESPACE)
                break
            except ApiException as e:
                if (op.kind == "create" and e.status == 409) or (
                    op.kind == "delete" and e.status == 404
                ):
                    break  # an earlier try went through before its answer was lost
                err = f"{op.kind} {op.pod}: {e.status} {e.reason}"
            except Exception as e:  # the API server down: retried
                err = f"{op.kind} {op.pod}: {type(e).__name__}: {str(e)[:120]}"
            if time.monotonic() >= deadline:
                self.ops_done["failed"] += 1
                self.op_errors.append(err)
                return
            self.stop.wait(0.5)
        else:
            return  # the soak is ending: not done
        if tries > 1:
            self.ops_done["retried"] += 1
        self.ops_done[op.kind] += 1
        with self._lock:
            self.living += 1 if op.kind == "create" else -1
            self.peak_living = max(self.peak_living, self.living)

    def _ops(self) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.env.cluster.api)
        try:
            for op in self.plan.ops:
                if self.stop.wait(max(0.0, op.t - self._t())):
                    return
                self._do_op(core, op)
        except Exception as e:  # the thread itself broke: the run fails with it
            self.errors.append(f"operations: {type(e).__name__}: {e}")
        finally:
            self.ops_finished.set()

    # -- the checking thread --------------------------------------------------------
    def _checker(self) -> None:
        while not self.stop.wait(CHECK_EVERY_S):
            self._poll_ec2()
            active = self.fault_active
            try:
                violations = check(self._observe())
            except Exception:  # a component down (a fault): nothing to check now
                continue
            self.violations.add(self._t(), violations, fault_active=active or self.fault_active)

    # -- faults ---------------------------------------------------------------------
    def _sigkill(self, component: str) -> str:
        pipe = self.env.pipeline
        assert pipe is not None
        targets = {
            "controller": pipe.controllers[:1],
            "fake_hns": [pipe.hns],
            "node-agent": list(pipe.agents),
            "etcd": [self.env.cluster.components["etcd"]],
        }[component]
        hit, killed = [], []
        for c in targets:
            proc = c.process
            if proc is not None and proc.pid is not None and proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                    hit.append(f"{c.name} (pid {proc.pid})")
                    killed.append(proc)
        # The signal is delivered asynchronously: recovery is timed from the death, so
        # a check cannot see the old process still alive and call it recovered.
        deadline = time.monotonic() + 10.0
        while any(p.alive() for p in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "SIGKILL to " + (", ".join(hit) or "nothing running")

    def _fire(self, fault: Fault) -> str:
        """Start the fault, hold it, end it; return what was done."""
        live = self.live
        kind = fault.kind
        if kind.endswith("-kill"):
            return self._sigkill(kind.removesuffix("-kill"))
        if kind == "ec2-throttle":
            done = live.faults({"ec2": {"throttle_rate": 0.3, "latency_ms": 50}})
        elif kind == "ec2-errors":
            errors = {
                a: {"code": "InternalError", "count": 4}
                for a in ("AssignPrivateIpAddresses", "UnassignPrivateIpAddresses")
            }
            done = live.faults({"ec2": {"errors": errors}})
        elif kind == "insufficient-cidr":
            done = live.fragment({"subnet": "a", "every": 16, "offset": 9})
        elif kind == "kube-apiserver-outage":
            done = live.stop("kube-apiserver")
        else:
            raise ValueError(f"fault kind {kind!r}")
        self._hold(fault)
        if kind in ("ec2-throttle", "ec2-errors"):
            live.faults({"ec2": {}})
        elif kind == "insufficient-cidr":
            done += "; " + live.fragment({"subnet": "a", "undo": True})
        else:
            live.start("kube-apiserver")
        return done

    def _hold(self, fault: Fault) -> None:
        """Wait out the fault's hold; an EC2 fault that no call has met yet (the
        components called EC2 too rarely) is held on, up to three times as long."""
        errors = self._poll_ec2()
        self.stop.wait(fault.hold_s)
        if fault.kind not in ("ec2-throttle", "ec2-errors"):
            return
        deadline = time.monotonic() + 2 * fault.hold_s
        while self._poll_ec2() == errors and time.monotonic() < deadline:
            if self.stop.wait(0.5):
                return

    def _recover(self, since: float) -> tuple[float | None, list[str]]:
        """Poll until every pod created before `since` (monotonic) runs and no invariant
        is broken; return (seconds after `since`, None at the deadline) and what was
        still wrong at the last poll."""
        deadline = since + self.options.recovery_deadline_s
        before = {p for p, t in self.created_at.items() if t < since}
        left: list[str] = []
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                left = [f"{c} not running again" for c in self._down()]
                left += [str(v) for v in check(self._observe())]
                waiting = pods_to_run(self._pods().snapshot(), before)
                if waiting:
                    left.append(f"{len(waiting)} pods not Running ({', '.join(waiting[:3])}...)")
                if not left:
                    return now - since, []
            except Exception as e:  # still down
                left = [f"not observable: {type(e).__name__}: {str(e)[:160]}"]
            if now >= deadline:
                return None, left
            self.stop.wait(1.0)
        return None, left

    def _run_faults(self) -> None:
        for fault in self.plan.faults:
            if self.stop.wait(max(0.0, fault.t - self._t())):
                return
            started = self._t()
            churn = not self.ops_finished.is_set()
            errors_before = self._poll_ec2()
            self.say(f"  t={started:6.1f}s fault {fault.kind} (hold {fault.hold_s:g} s)")
            self.fault_active = True
            try:
                detail = self._fire(fault)
                ended = time.monotonic()
                recovery, left = self._recover(ended)
            finally:
                self.fault_active = False
            rec = {
                "t": round(started, 3),
                "kind": fault.kind,
                "what": fault.describe(),
                "detail": detail,
                "held_s": round(ended - self.t0 - started, 3),
                "during_churn": churn,
                "ec2_errors": self._poll_ec2() - errors_before,
                "recovered": recovery is not None,
                "recovery_s": round(recovery, 3) if recovery is not None else None,
                "left": left[:10],
            }
            self.faults.append(rec)
            shown = (
                f"{recovery:.1f} s"
                if recovery is not None
                else "NOT recovered: " + "; ".join(left[:3])
            )
            self.say(f"    recovered in {shown}")

    # -- the end ----------------------------------------------------------------------
    def _drain(self) -> None:
        """Wait until the soak's pods are gone, then the cool-down; check for leaks."""
        from harness.waiting import WaitTimeout, wait_until

        timing = self.env.spec.timing
        try:
            wait_until(
                lambda: not [p for p in self._observe().pods if p.name.startswith("soak-")],
                self.options.recovery_deadline_s,
                "every soak pod deleted",
            )
        except WaitTimeout as e:
            self.errors.append(str(e))
        deadline = time.monotonic() + timing.cooldown_s + timing.scaled(60.0)
        self.stop.wait(timing.cooldown_s)
        last: list[Violation] = []
        while True:
            try:
                last = check(self._observe(), cooldown_passed=True)
            except Exception as e:
                self.errors.append(f"final check: {type(e).__name__}: {e}")
                return
            if not last or time.monotonic() >= deadline:
                break
            self.stop.wait(1.0)
        self.violations.final(self._t(), last)

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Start the environment, soak, stop it; return the report."""
        from harness.scenario.live import Live

        load_start = os.getloadavg()[0]
        started = time.monotonic()
        shown = ", ".join(f"{n} {t}" for _, t, n in self.options.groups())
        self.say(f"starting {self.options.nodes} nodes ({shown})")
        try:
            self.env.start(progress=lambda m: self.say(f"  {m}"))
        except Exception as e:
            return self.report(0.0, time.monotonic() - started, load_start, f"start: {e}")
        start_s = time.monotonic() - started
        threads: list[threading.Thread] = []
        try:
            self.live = Live(self.env)
            self.pods = _Pods(self.env.cluster.api, self.stop)
            self._poll_ec2()
            self.ec2 = Ec2Tally(last_seq=self.ec2.last_seq)  # start-up calls not counted
            self.t0 = time.monotonic()
            self.say(
                f"soak: {len(self.plan.ops)} operations over {self.plan.duration_s:g} s, "
                f"{len(self.plan.faults)} faults"
            )
            threads = [
                threading.Thread(target=self._ops, name="soak-ops", daemon=True),
                threading.Thread(target=self._checker, name="soak-check", daemon=True),
            ]
            for th in threads:
                th.start()
            self._run_faults()
            threads[0].join()
            self._drain()
            self._poll_ec2()
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            duration = self._t()
            self.stop.set()
            for th in threads:
                th.join(timeout=30)
            report = self.report(start_s, duration, load_start, None)
            if self.live is not None:
                with contextlib.suppress(Exception):
                    self.live.close()
            self.env.stop()
        return report

    def _restarts(self) -> dict[str, Any]:
        from harness.supervision import by_component

        sv = self.env.supervision
        comps = by_component(sv.snapshot()) if sv is not None else {}
        by = {k: int(v["restarts"]) for k, v in comps.items()}
        outages = sum(1 for f in self.faults if f["kind"] == "kube-apiserver-outage")
        if outages:
            by["kube-apiserver"] = by.get("kube-apiserver", 0) + outages
        return {"total": sum(by.values()), "by_component": by}

    def report(
        self, start_s: float, duration_s: float, load_start: float, error: str | None
    ) -> dict[str, Any]:
        """The soak's report (see README: Reliability)."""
        errors = ([error] if error else []) + self.errors + self.op_errors[:5]
        inv = self.violations.to_dict()
        created = self.ops_done["create"]
        ok = (
            not errors
            and not inv["violations"]
            and all(f["recovered"] for f in self.faults)
            and len(self.faults) == len(self.plan.faults)
            and self.ops_done["failed"] == 0
        )
        pods = self.pods
        return {
            "soak_version": SOAK_VERSION,
            "ok": ok,
            "seed": self.plan.seed,
            "nodes": self.options.nodes,
            "node_groups": [
                {"name": g, "instance_type": t, "count": n} for g, t, n in self.options.groups()
            ],
            "timing": self.options.timing,
            "start_s": round(start_s, 3),
            "duration_s": round(duration_s, 3),
            "cpu": {
                "cores": os.cpu_count(),
                "load_start": round(load_start, 2),
                "load_end": round(os.getloadavg()[0], 2),
            },
            "plan": self.plan.to_dict(),
            "ops": {
                "planned": len(self.plan.ops),
                "done": self.ops_done["create"] + self.ops_done["delete"],
                "creates": self.ops_done["create"],
                "deletes": self.ops_done["delete"],
                "retried": self.ops_done["retried"],
                "failed": self.ops_done["failed"],
            },
            "pods": {
                "created": created,
                "peak_living": self.peak_living,
                "peak_waiting_for_ip": pods.peak_waiting if pods is not None else 0,
                "missed_by_webhook": len(pods.missed) if pods is not None else 0,
            },
            "ec2": self.ec2.to_dict(created),
            "restarts": self._restarts(),
            "faults": self.faults,
            "invariants": inv,
            "error": "; ".join(errors) or None,
        }
