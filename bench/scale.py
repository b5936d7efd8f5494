"""Issue 16's figures: how far one machine goes, beside KWOK's CI figures and the API
write ceiling measured in the same run. Not part of plain ``make bench``:
``make bench BENCH_ARGS=scale`` (sizes: ``--nodes 100,300 --pods 1000``; profiles:
``--timing fast,real``).

Per node count (default 100, 300, 1,000) and timing profile (default ``fast``), one
environment (m5.large, prefix delegation, the default subnet sized for the nodes, the
default number of node-agent shards), and in it, one after the other:

1. Start: the Windows-nodes step (EC2 instances, identities, agents, every node
   registered, initialised by the controller and Ready): nodes/s; the environment's
   resident memory then, per node.
2. Idle: for ``--idle-s`` seconds (default 60) nothing is asked: the API server's write
   requests (``apiserver_request_total``, POST/PUT/PATCH/DELETE) per node per minute,
   and the CPU of every process of the environment as a share of one core.
3. Pods: ``--pods`` Windows pods (default 10 per node) created from 8 threads, through
   webhook, scheduler, controller and the kubelet emulation's CNI ADD: pods/s (first
   create to last Running) and the memory they add, per pod.
4. Once per run (the first environment): the API write ceiling as in ``bench.scenario``
   (pods created and status-patched straight at the API server from 8 threads).

KWOK (kubernetes-sigs/kwok, its CI benchmark) requires 5,000 nodes Ready within 60 s and
10,000 pods Running within 60 s, with the scheduler off, client rate limits off and no
IPAM: 83 nodes/s and 167 pods/s.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench
from bench._figures import ratio
from bench._podclock import PodClock
from bench._procmem import CpuWindow, MemorySampler, recorded_groups, usage_by_component

NAME = "issue 16: scale — nodes/s, pods/s, memory, idle API writes and CPU vs KWOK"
DEFAULT = False  # only when named: make bench BENCH_ARGS=scale
NODES = (100, 300, 1000)
PODS_PER_NODE = 10
PROFILES = ("fast",)
IDLE_S = 60.0
POD_BASE_S, POD_EACH_S = 120.0, 0.2  # how long the pods may take to be Running
INSTANCE_TYPE = "m5.large"
KWOK_NODES_PER_S = 5000 / 60
KWOK_PODS_PER_S = 10000 / 60
MiB = 1024 * 1024
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")
_REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.M)


@dataclass
class Sizes:
    """What ``--nodes``, ``--pods``, ``--timing`` and ``--idle-s`` asked for."""

    nodes: tuple[int, ...] = NODES
    pods: int | None = None  # None: PODS_PER_NODE per node
    profiles: tuple[str, ...] = PROFILES
    idle_s: float = IDLE_S


#: Set by ``python -m bench`` from its size options.
SIZES = Sizes()


@dataclass
class Run:
    """One environment's figures."""

    nodes: int
    profile: str
    shards: int = 0
    subnet: str = ""
    start_s: float = 0.0  # Environment.start, control plane included
    nodes_s: float = 0.0  # the Windows-nodes step
    rss_nodes: int = 0  # environment RSS once the nodes are Ready
    rss_agents: int = 0  # the node agents' part of it
    idle_writes: dict[str, float] = field(default_factory=dict)  # resource -> writes
    idle: CpuWindow | None = None
    pods: int = 0
    pods_s: float = 0.0  # first create to last Running
    pods_running: int = 0
    rss_pods: int = 0
    peak_rss: int = 0
    error: str = ""

    @property
    def nodes_per_s(self) -> float:
        """Nodes to Ready per second (the nodes step)."""
        return self.nodes / self.nodes_s if self.nodes_s else 0.0

    @property
    def pods_per_s(self) -> float:
        """Pods to Running per second."""
        return self.pods_running / self.pods_s if self.pods_s else 0.0

    def writes_per_node_min(self, idle_s: float) -> float:
        """API writes per node per minute while idle."""
        return sum(self.idle_writes.values()) / self.nodes / (idle_s / 60) if self.nodes else 0.0

    def idle_core_share(self) -> float:
        """The environment's CPU while idle, as a share of one core."""
        w = self.idle
        return sum(w.components.values()) / w.wall_s if w and w.wall_s else 0.0


def write_requests(metrics: str) -> dict[str, float]:
    """Write requests served so far, per resource, from the API server's /metrics."""
    out: dict[str, float] = {}
    for labels, value in _REQUESTS.findall(metrics):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.get("verb") in WRITE_VERBS:
            res = pairs.get("resource", "") + (
                f"/{pairs['subresource']}" if pairs.get("subresource") else ""
            )
            out[res] = out.get(res, 0.0) + float(value)
    return out


def _metrics(client: Any) -> str:
    resp = client.pool.request("GET", client.server + "/metrics", headers=client.headers())
    return str(resp.data.decode())


def _spec(nodes: int, profile: str) -> Any:
    from dataclasses import replace

    from harness.spec import PROFILES as TIMINGS
    from harness.spec import spec_from_flags

    if bench.BASE_SPEC is not None:
        return bench.BASE_SPEC.with_timing(profile)
    spec = spec_from_flags(
        windows_nodes=nodes, instance_type=INSTANCE_TYPE, prefix_delegation=True, timing=profile
    )
    # fast's 4 s leader renew deadline is lost when a large start slows the API server on
    # a shared machine (the controller exits, as the real one does): keep real's.
    real = TIMINGS["real"]
    return replace(
        spec,
        timing=replace(
            spec.timing,
            leader_lease_duration_s=real.leader_lease_duration_s,
            leader_renew_deadline_s=real.leader_renew_deadline_s,
            leader_retry_period_s=real.leader_retry_period_s,
        ),
    )


def _step_seconds(steps: list[str], prefix: str) -> float:
    """The duration of the step whose title starts with `prefix` (`✓ title (x s)`)."""
    for s in steps:
        m = re.match(rf"✓ {re.escape(prefix)}.*\(([0-9.]+) s\)$", s)
        if m:
            return float(m.group(1))
    return 0.0


def _environment(nodes: int, profile: str, ceiling: list[Any]) -> Run:
    """Every measurement of one size and profile on one environment."""
    from bench.scenario import NAMESPACE, THREADS, _ceiling, _create, _pod
    from harness.env import Environment
    from harness.kube.rest import RestClient

    spec = _spec(nodes, profile)
    run = Run(nodes=spec.node_count(), profile=profile)
    run.shards = spec.node_agent.shards(run.nodes)
    run.subnet = spec.vpc.subnets[0].cidr
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-scale-") as tmp:
        run_dir = Path(tmp)
        env = Environment(spec, run_dir, name=f"bench-scale-{nodes}")
        mem = MemorySampler(run_dir, interval_s=2.0).start("start")
        steps: list[str] = []
        t0 = time.monotonic()
        try:
            env.start(progress=lambda m: steps.append(m) if m.startswith("✓ ") else None)
            run.start_s = time.monotonic() - t0
            run.nodes_s = _step_seconds(steps, f"Starting {run.nodes} Windows node")
            run.rss_nodes = mem.sample()
            usage = usage_by_component(recorded_groups(run_dir))
            run.rss_agents = sum(u.rss for n, u in usage.items() if n.startswith("node-agent"))
            client = RestClient(str(env.cluster.kubeconfig), THREADS + 4)
            # Idle: nothing asked; what the emulated kubelets write on their own.
            mem.phase = "idle"
            before = write_requests(_metrics(client))
            cpu = CpuWindow(run_dir).begin()
            time.sleep(SIZES.idle_s)
            run.idle = cpu.end()
            after = write_requests(_metrics(client))
            run.idle_writes = {k: v - before.get(k, 0.0) for k, v in after.items()}
            run.idle_writes = {k: v for k, v in run.idle_writes.items() if v > 0}
            # Pods.
            mem.phase = "pods"
            run.pods = SIZES.pods if SIZES.pods is not None else PODS_PER_NODE * run.nodes
            clock = PodClock(client, NAMESPACE).start()
            try:
                pods = [_pod(f"scale-{i}", "scale", host_network=False) for i in range(run.pods)]
                names = {p["metadata"]["name"] for p in pods}
                created, _calls, _span = _create(client, pods)
                end = time.monotonic() + POD_BASE_S + POD_EACH_S * run.pods
                while time.monotonic() < end and clock.count_running(names) < len(names):
                    time.sleep(1.0)
                running = dict(clock.running)
                run.pods_running = len(names & running.keys())
                if run.pods_running:
                    last = max(running[n] for n in names if n in running)
                    run.pods_s = last - min(created.values())
                run.rss_pods = mem.sample()
            finally:
                clock.stop()
            if not ceiling:
                mem.phase = "ceiling"
                ceiling.append(_ceiling(client, env.pipeline.nodes if env.pipeline else []))
        except Exception as e:
            run.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            mem.stop()
            run.peak_rss = mem.overall()[1]
            env.stop()
    return run


def _table(runs: list[Run], ceiling: Any) -> list[str]:
    """The README's table: one row per run, KWOK's figures and the ceiling beside."""
    cw = ceiling.writes_per_s if ceiling else 0.0
    cp = ceiling.pods_per_s if ceiling else 0.0
    rows = [
        "| nodes | profile | shards | nodes→Ready/s | pods | pods→Running/s | MiB/node (agents) | "
        "MiB/pod | peak MiB | idle writes/node/min | idle writes ÷ ceiling | idle CPU "
        "(% of a core) | pods/s ÷ ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        per_node = r.rss_nodes / r.nodes / MiB if r.nodes else 0.0
        per_agent_node = r.rss_agents / r.nodes / MiB if r.nodes else 0.0
        per_pod = (r.rss_pods - r.rss_nodes) / r.pods_running / MiB if r.pods_running else 0.0
        idle_w_s = sum(r.idle_writes.values()) / SIZES.idle_s
        rows.append(
            f"| {r.nodes} | {r.profile} | {r.shards} | {r.nodes_per_s:.1f} | "
            f"{r.pods_running}/{r.pods} | {r.pods_per_s:.1f} | "
            f"{per_node:.2f} ({per_agent_node:.2f}) | {per_pod:.3f} | "
            f"{r.peak_rss / MiB:.0f} | {r.writes_per_node_min(SIZES.idle_s):.1f} | "
            f"{ratio(idle_w_s, cw):.3f} | {100 * r.idle_core_share():.0f} | "
            f"{ratio(r.pods_per_s, cp):.2f} |"
        )
    rows.append(
        f"| KWOK CI | — | — | {KWOK_NODES_PER_S:.0f} | 10000 | {KWOK_PODS_PER_S:.0f} | "
        "| | | | | | |"
    )
    return rows


def run() -> list[str]:
    """Every size and profile asked for; the table, then details per run."""
    ceiling: list[Any] = []
    runs = [_environment(n, p, ceiling) for p in SIZES.profiles for n in SIZES.nodes]
    c = ceiling[0] if ceiling else None
    lines = _table(runs, c)
    if c is not None:
        lines.append(
            f"API write ceiling (8 threads, create + status patch): {c.pods_per_s:.0f} pods/s, "
            f"{c.writes_per_s:.0f} writes/s"
        )
    for r in runs:
        idle = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.idle_writes.items()))
        lines.append(
            f"[{r.nodes} {r.profile}] subnet {r.subnet}, start {r.start_s:.1f} s, nodes step "
            f"{r.nodes_s:.1f} s, pods {r.pods_s:.1f} s; idle {SIZES.idle_s:g} s writes: "
            f"{idle or '-'}"
        )
        if r.idle is not None:
            comps = ", ".join(
                f"{k} {100 * v / r.idle.wall_s:.0f}%"
                for k, v in sorted(r.idle.components.items(), key=lambda kv: -kv[1])[:6]
            )
            lines.append(f"[{r.nodes} {r.profile}] idle CPU by component: {comps}")
        if r.error:
            lines.append(f"[{r.nodes} {r.profile}] FAILED: {r.error}")
    lines.append(
        "The CPU is shared with other work on this machine: figures are noisy; "
        "compare within one run."
    )
    return lines
