"""An ekswin environment: a cluster backend plus the components its spec asks for.

``Environment.start()`` runs a list of small named steps (kind-style) and reports
each through a progress callback; ``stop()`` undoes them in reverse order. Any
failure stops what was started and re-raises, so nothing is left half-created.
"""

from __future__ import annotations

import json
import shutil
import stat
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from harness.backends import (
    BackendOptions,
    ClusterBackend,
    choose,
    make_backend,
    requested_backend,
)
from harness.components import Component
from harness.pipeline import Pipeline, Progress, Step
from harness.spec import EnvSpec
from harness.supervision import Supervision

ENV_FILE = "env.json"
RESTART_TIMEOUT_S = 60.0


class Environment:
    """Start and stop everything one `ekswin up` (or one test) owns."""

    def __init__(
        self,
        spec: EnvSpec,
        run_dir: Path,
        name: str = "ekswin",
        *,
        cluster: ClusterBackend | None = None,
        options: BackendOptions | None = None,
    ) -> None:
        """`cluster` given: use it; else the backend `EKSWIN_BACKEND` or the spec names
        (auto resolved here), with `options` (default: from EKSWIN_* variables)."""
        self.spec = spec
        self.name = name
        self.run_dir = run_dir
        if cluster is None:
            backend = choose(requested_backend(None, spec.backend))
            cluster = make_backend(backend, run_dir, name, options)
        self.cluster = cluster
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self.endpoints: dict[str, str] = {}
        self.pipeline: Pipeline | None = (
            Pipeline(spec, self.cluster, run_dir, self.endpoints) if spec.has_pipeline() else None
        )
        self.supervision: Supervision | None = None
        self.started_at: float | None = None
        self.join: Any = None  # harness.join.service.JoinService, once the file is written

    def _supervise(self) -> Supervision:
        """Watch every component this environment runs, except fake_ec2 (README:
        Supervision), and restart the dead ones with back-off."""
        sv = Supervision(self.cluster.supervisor, self.run_dir)
        timing = self.spec.timing

        def add(
            component: str,
            target: Component,
            restart: Callable[[], object],
            on_gone: Callable[[], object] | None = None,
        ) -> None:
            sv.add(
                component,
                target,
                partial(self._restart_then_record, restart),
                enabled=self.spec.supervision.restarts(component),
                backoff_initial_s=timing.restart_backoff_initial_s,
                backoff_max_s=timing.restart_backoff_max_s,
                on_gone=None if on_gone is None else partial(self._restart_then_record, on_gone),
            )

        for name, comp in dict(getattr(self.cluster, "components", {})).items():
            add(name, comp, partial(comp.restart, RESTART_TIMEOUT_S))
        pipe = self.pipeline
        if pipe is not None:
            if pipe.hns.process is not None:
                add("fake_hns", pipe.hns, pipe.restart_hns)
            for i, ctl in enumerate(pipe.controllers):
                # A dead replica's webhook: the configurations move to another replica.
                add(
                    "controller",
                    ctl,
                    partial(pipe.restart_controller, i),
                    partial(pipe.controller_gone, ctl.name),
                )
            for agent in pipe.agents:
                add("node-agent", agent, partial(pipe.restart_agent, agent))
        return sv.start()

    def _restart_then_record(self, restart: Callable[[], object]) -> None:
        """Restart, then rewrite env.json: a restarted controller has new URLs."""
        restart()
        self.write_state()

    def supervise_added(self) -> None:
        """Supervise components a scenario step added (a node group's agent)."""
        sv, pipe = self.supervision, self.pipeline
        if sv is None or pipe is None:
            return
        for agent in pipe.agents:
            if agent.name not in sv.units:
                sv.add(
                    "node-agent",
                    agent,
                    partial(self._restart_then_record, partial(pipe.restart_agent, agent)),
                    enabled=self.spec.supervision.restarts("node-agent"),
                    backoff_initial_s=self.spec.timing.restart_backoff_initial_s,
                    backoff_max_s=self.spec.timing.restart_backoff_max_s,
                )

    def unsupervise(self, components: list[Component]) -> None:
        """Stop supervising components a scenario step ended for good (the node agent
        of removed nodes)."""
        if self.supervision is not None:
            for comp in components:
                self.supervision.remove(comp.name)

    def steps(self) -> list[Step]:
        """The named steps `start` runs, in order."""
        titles = {
            "local": "Starting the control plane (etcd, kube-apiserver, controller-manager, "
            "scheduler)",
            "existing": "Connecting to the existing cluster",
            "kind": "Creating the kind cluster",
        }
        cluster_step: Step = (titles.get(self.cluster.backend, "Cluster"), self._start_cluster)
        if self.pipeline is None:
            return [cluster_step]
        preflight: Step = (
            "Checking the cluster (objects to install, webhook reachability)",
            self._preflight,
        )
        steps = [*self.pipeline.pre_cluster_steps(), cluster_step]
        if self.cluster.backend != "local":  # a cluster made a moment ago needs no check
            steps.append(preflight)
        steps += self.pipeline.steps()
        if self.pipeline.joinable():
            steps.append(("Writing the join file for node agents on other hosts", self._join))
        return steps

    def _join(self, say: Progress) -> None:
        """Let `ekswin agent --join` shards on other hosts join (harness.join.service)."""
        from harness.backends.existing import ExistingCluster
        from harness.join.joinfile import JoinSubnet
        from harness.join.service import JoinService

        pipe = self.pipeline
        assert pipe is not None and isinstance(self.cluster, ExistingCluster)
        service = JoinService(
            self.cluster,
            self.spec,
            self.run_dir,
            ec2_url=pipe.ec2_url,
            vpc_id=pipe.vpc_id,
            subnets=[
                JoinSubnet(s.name, pipe.subnet_ids[s.name], s.cidr, s.az)
                for s in pipe.subnets.values()
            ],
            reserved=lambda: {n["name"] for n in pipe.nodes} | set(self.spec.node_names()),
        )
        self.on_stop("the join service", service.stop)
        path = service.start()
        self.join = service
        say(f"    {path} (EC2 for other hosts: {service.endpoint})")

    def _preflight(self, say: Progress) -> None:
        assert self.pipeline is not None
        self.cluster.preflight(self.pipeline.planned_objects(), lambda m: say(f"    {m}"))

    def start(self, progress: Progress | None = None) -> None:
        """Run every step; on failure undo the steps done so far and re-raise."""
        say = progress or (lambda msg: None)
        try:
            for title, action in self.steps():
                t0 = time.monotonic()
                say(f"• {title} ...")
                action(say)
                say(f"✓ {title} ({time.monotonic() - t0:.1f} s)")
            if self.pipeline is not None and self.pipeline.upstream:
                self.on_stop("the upstream controller's CNINode finalizers", self._release)
            self.supervision = self._supervise()
            self.started_at = time.time()
            self.write_state()
        except BaseException:
            self.stop()
            raise

    def _release(self) -> None:
        assert self.pipeline is not None
        self.pipeline.release_cninodes()

    def on_stop(self, what: str, undo: Callable[[], None]) -> None:
        """Register an undo action (run in reverse order by stop())."""
        self._undo.append((what, undo))

    def _start_cluster(self, say: Progress) -> None:
        self.cluster.start(progress=lambda m: say(f"    {m}"))
        self.on_stop(f"{self.cluster.backend} cluster", self.cluster.stop)
        self.endpoints["kubernetes"] = self.cluster.server

    def write_state(self) -> None:
        """env.json: name, spec and the endpoints now (status reads it)."""
        state = {
            "name": self.name,
            "spec": self.spec.to_dict(),
            "endpoints": self.endpoints,
            "started_at": self.started_at,  # `scenario export` reads changes since
        }
        (self.run_dir / ENV_FILE).write_text(json.dumps(state, indent=1))

    def stop(self) -> None:
        """Undo every step, newest first; also reap anything recorded in pids.json."""
        errors = []
        supervision, self.supervision = self.supervision, None
        if supervision is not None:  # nothing may restart what `down` stops
            supervision.stop()
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{what}: {e}")
        self.cluster.supervisor.stop_all()
        if supervision is not None:
            supervision.close()
        if errors:
            raise RuntimeError("teardown problems: " + "; ".join(errors))


def read_state(run_dir: Path) -> dict[str, object]:
    """The env.json a started environment wrote ({} when absent or unreadable)."""
    try:
        data = json.loads((run_dir / ENV_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_runtime_state(run_dir: Path) -> None:
    """Remove what a stopped run no longer needs, keep logs: the tmpfs etcd data and
    unix sockets a killed component could not remove (the node agent's cni.sock)."""
    remove_sockets(run_dir)
    try:
        info = json.loads((run_dir / "cluster.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return
    data = info.get("etcd_data")
    if data and Path(data).name.startswith("ekswin-etcd-"):
        shutil.rmtree(data, ignore_errors=True)


def remove_sockets(run_dir: Path) -> list[Path]:
    """Unlink every unix socket under `run_dir` (call once its processes are stopped)."""
    removed = []
    for path in run_dir.rglob("*"):
        try:
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            pass
    return removed
