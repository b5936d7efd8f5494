"""Issue 11's figures: Windows pods through the whole pipeline beside plain pods, the API
write ceiling, the environment's memory, start time and a 20-step scenario.

Per timing profile (``fast``, then ``real``), one environment of 10 Windows nodes
(t3.2xlarge, prefix delegation; or ``--spec FILE``), and in it, one after the other:

1. 500 Windows pods through the pipeline: API server + webhook, scheduler, the VPC
   resource controller's IP annotation, the node agent's kubelet emulation with its CNI
   ADD. create->Running per pod (the create call's start to the watch event showing
   Running) as p50/p99, and pods/s (pods / first create to last Running). Then deleted.
2. The same number of plain pods on the same nodes, without webhook, controller or CNI:
   the webhook configurations are deleted (a dry-run create proves the API server no
   longer calls them) and the controller stopped. The pods are ``hostNetwork`` (no pod
   network: no CNI, as on a real node) and otherwise identical; the node agent's
   kubelet emulation drives them as a kubelet does (same status writes, node
   identities, delays and worker pool; no HNS namespace, no CNI call, the node's IP).
   Headline: Windows pods/s over plain pods/s.
3. The API write ceiling: the node agents are stopped, then the same number of pods
   bound to the nodes, each created and then status-patched to Running by the admin
   client from 8 threads, nothing else involved. Both pipelines as a fraction.

The environment's resident memory (every process of its supervisor's process groups)
is sampled throughout: the peak with 500 Windows pods, and overall. Start:
``Environment.start`` of that environment. Reset: the shared-environment reset
(``harness.scenario.shared.reset``) after RESET_PODS scenario pods and 2 Services, three
times, beside that fresh start. Last, a 20-step scenario on 2 nodes with ``timing: fast`` through
``run_scenario``: its duration and verdict.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench
from bench._figures import PodRun, percentile, pod_run, ratio
from bench._podclock import LABEL, PodClock
from bench._procmem import (
    CpuWindow,
    MemorySampler,
    Usage,
    dir_bytes,
    pss_bytes,
    recorded_groups,
)

NAME = (
    "issue 11: 500 Windows pods vs plain pods on 10 nodes, API write ceiling, memory, "
    "start, 20-step scenario"
)
NODES = 10
PODS = 500
THREADS = 8
INSTANCE_TYPE = "t3.2xlarge"
PROFILES = ("fast", "real")
NAMESPACE = "default"
MiB = 1024 * 1024


@dataclass
class Batch:
    """One batch of pods: how it ran, how long its creates and its deletion took."""

    run: PodRun
    create_s: float  # the create calls, 8 threads
    create_p50_s: float  # one create call (admission, webhooks included, and storage)
    create_p99_s: float
    delete_s: float = math.nan  # collection delete -> every pod gone
    stragglers: list[str] = field(default_factory=list)  # pods not Running: what they show


@dataclass
class Ceiling:
    """The API write ceiling: pods created + status-patched straight at the API server."""

    pods: int
    span_s: float
    p50_s: float  # one pod's create + patch
    p99_s: float

    @property
    def pods_per_s(self) -> float:
        """Pods written (created and status-patched) per second."""
        return self.pods / self.span_s

    @property
    def writes_per_s(self) -> float:
        """API writes per second (two per pod)."""
        return 2 * self.pods / self.span_s


def _spec(profile: str) -> Any:
    from harness.spec import parse_spec, spec_document

    if bench.BASE_SPEC is not None:  # `make bench BENCH_ARGS="--spec FILE"`
        return bench.BASE_SPEC.with_timing(profile)
    doc = spec_document(
        windows_nodes=NODES, instance_type=INSTANCE_TYPE, prefix_delegation=True, timing=profile
    )
    return parse_spec(doc, f"bench ({profile})")


def _pod(name: str, batch: str, *, host_network: bool, node: str = "") -> dict[str, Any]:
    from harness.testing import pod_manifest

    pod = pod_manifest(name, node=node, labels={LABEL: batch})
    if host_network:
        pod["spec"]["hostNetwork"] = True
    return pod


def _create(client: Any, pods: list[dict[str, Any]]) -> tuple[dict[str, float], list[float], float]:
    """Create `pods` from THREADS threads: each one's start time, each call's duration
    and the whole span."""
    from harness.kube.api import pod_path

    started: dict[str, float] = {}
    took: list[float] = []

    def one(pod: dict[str, Any]) -> None:
        t0 = started[pod["metadata"]["name"]] = time.monotonic()
        client.post(pod_path(NAMESPACE), pod)
        took.append(time.monotonic() - t0)

    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, pods))
    return started, took, time.monotonic() - t0


def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> bool:
    """wait_until, False instead of an exception: a slow batch is reported, not fatal."""
    from harness.waiting import WaitTimeout, wait_until

    try:
        wait_until(cond, timeout_s, what)
        return True
    except WaitTimeout:
        return False


def _batch(
    client: Any,
    clock: PodClock,
    batch: str,
    *,
    host_network: bool,
    timeout_s: float,
    when_running: Callable[[], None] = lambda: None,
) -> Batch:
    """Create PODS pods of `batch`, wait until Running (then call `when_running`),
    delete them, wait until gone."""
    from harness.kube.api import pod_path

    pods = [_pod(f"{batch}-{i}", batch, host_network=host_network) for i in range(PODS)]
    names = {p["metadata"]["name"] for p in pods}
    created, calls, create_s = _create(client, pods)
    _wait(lambda: clock.count_running(names) == len(names), timeout_s, f"{batch} pods Running")
    result = Batch(
        pod_run(created, dict(clock.running)),
        create_s,
        percentile(calls, 50),
        percentile(calls, 99),
    )
    result.stragglers = [_describe(client, n) for n in sorted(names - clock.running.keys())[:3]]
    when_running()
    t0 = time.monotonic()
    client.delete(pod_path(NAMESPACE), query={"labelSelector": f"{LABEL}={batch}"})
    if _wait(lambda: clock.count_present(names) == 0, timeout_s, f"{batch} pods deleted"):
        result.delete_s = time.monotonic() - t0
    return result


def _describe(client: Any, name: str) -> str:
    """A pod that did not get Running: its phase, node, IP annotation, container state
    and Events (as `kubectl describe` would show them)."""
    from harness.kube.api import pod_path
    from harness.nodes.spec import IP_RESOURCE

    try:
        pod = client.get(pod_path(NAMESPACE, name))
        events = (
            client.get(
                f"/api/v1/namespaces/{NAMESPACE}/events",
                query={"fieldSelector": f"involvedObject.name={name}"},
            ).get("items")
            or []
        )
    except Exception as e:
        return f"{name}: not readable: {e}"
    status = pod.get("status") or {}
    waiting = [
        (c.get("state") or {}).get("waiting", {}).get("reason", "")
        for c in status.get("containerStatuses") or []
    ]
    annotation = (pod["metadata"].get("annotations") or {}).get(IP_RESOURCE, "")
    # No IP limit: the mutating webhook was not applied (its failurePolicy is Ignore).
    limits = (pod["spec"]["containers"][0].get("resources") or {}).get("limits") or {}
    said = "; ".join(
        f"{e.get('reason')} x{e.get('count', 1)}: {str(e.get('message', ''))[:160]}" for e in events
    )
    return (
        f"{name}: phase {status.get('phase')}, node {pod['spec'].get('nodeName') or '-'}, "
        f"{IP_RESOURCE} limit {limits.get(IP_RESOURCE, '-')}, annotation {annotation or '-'}, "
        f"waiting {waiting or '-'}; events: {said or '-'}"
    )


def _drop_webhooks(env: Any, client: Any) -> None:
    """Delete both webhook configurations, wait until a dry-run create is no longer
    mutated (the API server stopped calling them), then stop the controller."""
    from controller import deploy
    from harness.kube.api import pod_path
    from harness.nodes.spec import IP_RESOURCE
    from harness.testing import pod_manifest

    base = "/apis/admissionregistration.k8s.io/v1"
    client.delete(f"{base}/mutatingwebhookconfigurations/{deploy.MUTATING_WEBHOOK_CONFIGURATION}")
    client.delete(
        f"{base}/validatingwebhookconfigurations/{deploy.VALIDATING_WEBHOOK_CONFIGURATION}"
    )

    def unmutated() -> bool:
        probe = client.post(
            pod_path(NAMESPACE), pod_manifest("bench-probe"), query={"dryRun": "All"}
        )
        limits = (probe["spec"]["containers"][0].get("resources") or {}).get("limits") or {}
        return IP_RESOURCE not in limits

    from harness.waiting import wait_until

    wait_until(unmutated, 30, "the API server to stop calling the pod webhook")
    if env.pipeline is not None:
        for controller in env.pipeline.controllers:
            controller.stop()


RESET_PODS = 20


def _reset_once(env: Any, client: Any, i: int) -> float:
    """RESET_PODS scenario pods Running and 2 NodePort Services, then one reset; its s."""
    from harness.kube.api import pod_path
    from harness.scenario.live import Live
    from harness.scenario.shared import reset
    from harness.waiting import wait_until

    live = Live(env)
    try:
        live.create_pods({"count": RESET_PODS, "name": f"reset{i}"})
        live.create_services(
            {"count": 2, "name": f"reset{i}", "type": "NodePort", "selector": f"reset{i}"}
        )

        def running() -> bool:
            items = client.get(pod_path(NAMESPACE)).get("items") or []
            mine = [p for p in items if p["metadata"]["name"].startswith(f"reset{i}-")]
            return sum(1 for p in mine if p["status"].get("phase") == "Running") >= RESET_PODS

        wait_until(running, 120, f"{RESET_PODS} pods Running before reset {i}")
    finally:
        live.close()
    return reset(env)


def _ceiling(client: Any, nodes: list[dict[str, Any]]) -> Ceiling:
    """PODS pods bound round-robin to `nodes`, created then status-patched to Running
    (the kubelet's Running body) from THREADS threads by `client` alone."""
    from harness.kube.api import pod_path
    from harness.nodes import podstatus
    from harness.nodes.kubelet import now_rfc3339

    took: list[float] = []

    def one(i: int) -> None:
        node = nodes[i % len(nodes)]
        name = f"ceiling-{i}"
        pod = _pod(name, "ceiling", host_network=True, node=node["name"])
        t0 = time.monotonic()
        created = client.post(pod_path(NAMESPACE), pod)
        now = now_rfc3339()
        ip = node["private_ip"]
        status = podstatus.running(created, ip, ip, now, now)
        client.patch(f"{pod_path(NAMESPACE, name)}/status", {"status": status})
        took.append(time.monotonic() - t0)

    t0 = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(PODS)))
    span = time.monotonic() - t0
    return Ceiling(PODS, span, percentile(took, 50), percentile(took, 99))


def _etcd_bytes(run_dir: Path) -> int:
    """Bytes in the etcd data dir cluster.json names (on tmpfs: memory, not RSS)."""
    import json

    data = json.loads((run_dir / "cluster.json").read_text()).get("etcd_data")
    return dir_bytes(Path(data)) if data else 0


def _environment(profile: str) -> dict[str, Any]:
    """Every measurement of one profile, on one environment."""
    from harness.env import Environment
    from harness.kube.rest import RestClient

    out: dict[str, Any] = {"profile": profile}
    timeout = 180.0 if profile == "fast" else 420.0
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
        run_dir = Path(tmp)
        env = Environment(_spec(profile), run_dir, name=f"bench-{profile}")
        mem = MemorySampler(run_dir).start("start")
        out["memory"] = mem
        steps: list[str] = []
        t0 = time.monotonic()
        try:
            env.start(progress=lambda m: steps.append(m[2:]) if m.startswith("✓ ") else None)
            out["start_s"] = time.monotonic() - t0
            out["start_steps"] = steps
            client = RestClient(str(env.cluster.kubeconfig), THREADS + 4)
            clock = PodClock(client, NAMESPACE).start()
            try:
                cpu = CpuWindow(run_dir)

                def at_peak() -> None:  # 500 Windows pods Running: the memory target's point
                    out["cpu_windows"] = cpu.end()
                    out["rss_running"] = mem.sample()
                    groups = recorded_groups(run_dir)
                    out["groups"] = len(groups)
                    out["pss_windows"] = pss_bytes(groups)
                    out["etcd_bytes"] = _etcd_bytes(run_dir)

                mem.phase = "windows"
                cpu.begin()
                out["windows"] = _batch(
                    client,
                    clock,
                    "windows",
                    host_network=False,
                    timeout_s=timeout,
                    when_running=at_peak,
                )
                mem.phase = "reset"
                out["reset_s"] = [_reset_once(env, client, i) for i in range(3)]
                mem.phase = "plain"
                _drop_webhooks(env, client)
                cpu_plain = CpuWindow(run_dir).begin()
                out["plain"] = _batch(
                    client,
                    clock,
                    "plain",
                    host_network=True,
                    timeout_s=timeout,
                    when_running=lambda: out.__setitem__("cpu_plain", cpu_plain.end()),
                )
                mem.phase = "ceiling"
                nodes = env.pipeline.nodes if env.pipeline is not None else []
                for agent in env.pipeline.agents if env.pipeline is not None else []:
                    agent.stop()  # nothing but the admin client writes the ceiling's pods
                cpu_ceiling = CpuWindow(run_dir).begin()
                out["ceiling"] = _ceiling(client, nodes)
                out["cpu_ceiling"] = cpu_ceiling.end()
            finally:
                clock.stop()
        finally:
            mem.stop()
            t1 = time.monotonic()
            env.stop()
            out["stop_s"] = time.monotonic() - t1
    return out


def _fmt_batch(what: str, b: Batch) -> str:
    r = b.run
    done = f"{r.running}/{r.total} Running" if r.running < r.total else f"{r.total} Running"
    return (
        f"{what}: {done}, create->Running p50 {r.p50_s:.2f} s, p99 {r.p99_s:.2f} s; "
        f"{r.pods_per_s:.1f} pods/s ({r.span_s:.1f} s first create to last Running; "
        f"the creates alone {r.total / b.create_s:.1f}/s, one create call p50 "
        f"{b.create_p50_s * 1000:.0f} ms, p99 {b.create_p99_s * 1000:.0f} ms; "
        f"deleted in {b.delete_s:.1f} s)"
    )


def _fmt_stragglers(b: Batch) -> list[str]:
    return [f"  not Running: {s}" for s in b.stragglers]


def _fmt_cpu(what: str, w: CpuWindow) -> str:
    """Where the CPU went during a window (the machine has os.cpu_count() cores)."""
    top = sorted(w.components.items(), key=lambda kv: -kv[1])[:6]
    cores = os.cpu_count() or 1
    return (
        f"CPU during {what} ({w.wall_s:.1f} s x {cores} cores = {w.wall_s * cores:.0f} core-s; "
        f"machine busy {w.machine_s:.0f}): "
        + ", ".join(f"{n} {s:.1f}" for n, s in top)
        + f", bench process {w.own_s:.1f}, other work on the machine {w.others_s:.1f}"
    )


def _fmt_usage(name: str, u: Usage) -> str:
    if u.processes <= 1:
        return f"{name} {u.rss / MiB:.0f}"
    return f"{name} {u.rss / MiB:.0f} in {u.processes} processes (itself {u.leader_rss / MiB:.0f})"


def _lines(res: dict[str, Any]) -> list[str]:
    p = res["profile"]
    lines = [f"[{p}] Environment.start ({NODES} nodes, fresh): {res['start_s']:.1f} s — "
             + "; ".join(res["start_steps"])]  # fmt: skip
    win, plain, ceil = res.get("windows"), res.get("plain"), res.get("ceiling")
    if res.get("reset_s"):
        resets = res["reset_s"]
        lines.append(
            f"[{p}] reset after {RESET_PODS} pods + 2 Services: "
            + ", ".join(f"{r:.2f}" for r in resets)
            + f" s (target <= 1 s); fresh start / reset: "
            f"{ratio(res['start_s'], min(resets)):.0f}x"
        )
    if win is not None:
        lines.append(f"[{p}] " + _fmt_batch(f"{PODS} Windows pods (full pipeline)", win))
        lines += _fmt_stragglers(win)
    if plain is not None:
        lines.append(
            f"[{p}] " + _fmt_batch(f"{PODS} plain pods (no webhook/controller/CNI)", plain)
        )
        lines += _fmt_stragglers(plain)
    if win is not None and plain is not None:
        lines.append(
            f"[{p}] RATIO Windows / plain pods/s: "
            f"{ratio(win.run.pods_per_s, plain.run.pods_per_s):.2f} (target >= 0.5 with fast); "
            f"p50 latency plain / Windows: {ratio(plain.run.p50_s, win.run.p50_s):.2f}"
        )
    if ceil is not None:
        lines.append(
            f"[{p}] API write ceiling ({THREADS} threads, create + status patch): "
            f"{ceil.pods_per_s:.1f} pods/s = {ceil.writes_per_s:.0f} writes/s "
            f"(one pod p50 {ceil.p50_s * 1000:.0f} ms, p99 {ceil.p99_s * 1000:.0f} ms)"
        )
        for what, b in (("Windows pipeline", win), ("plain pods", plain)):
            if b is not None:
                lines.append(
                    f"[{p}] {what} / API ceiling: {ratio(b.run.pods_per_s, ceil.pods_per_s):.2f}"
                )
    for key, what in (
        ("cpu_windows", "the Windows pods"),
        ("cpu_plain", "the plain pods"),
        ("cpu_ceiling", "the ceiling"),
    ):
        if key in res:
            lines.append(f"[{p}] " + _fmt_cpu(what, res[key]))
    mem: MemorySampler = res["memory"]
    total, usage = mem.peaks.get("windows", (0, {}))
    top = sorted(usage.items(), key=lambda kv: -kv[1].rss)[:6]
    lines.append(
        f"[{p}] peak RSS of the environment while {PODS} Windows pods start on {NODES} nodes: "
        f"{total / MiB:.0f} MiB (target <= 1536 MiB; {res.get('groups', '?')} process groups; "
        + ", ".join(_fmt_usage(n, u) for n, u in top)
        + ")"
    )
    if "pss_windows" in res:
        lines.append(
            f"[{p}] once the {PODS} Windows pods are Running: RSS "
            f"{res['rss_running'] / MiB:.0f} MiB, PSS (shared pages split) "
            f"{res['pss_windows'] / MiB:.0f} MiB; etcd data on tmpfs besides: "
            f"{res['etcd_bytes'] / MiB:.0f} MiB"
        )
    phase, overall = mem.overall()
    lines.append(f"[{p}] peak RSS over the whole run: {overall / MiB:.0f} MiB (during {phase})")
    lines.append(f"[{p}] Environment.stop: {res['stop_s']:.1f} s")
    return lines


TWENTY_STEPS: dict[str, Any] = {
    "version": 1,
    "name": "bench-twenty-steps",
    "seed": 11,
    "timing": "fast",
    "configmap": {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"},
    "nodes": [{"name": "win", "instance_type": INSTANCE_TYPE, "count": 2}],
    "steps": [
        {"create_pods": {"count": 10, "name": "a"}},
        {"expect": {"pods_running": 10}},
        {"create_services": {"count": 2, "name": "web", "type": "NodePort", "selector": "a"}},
        {"expect": {"node": "win-0", "lb_failures": 0}},
        {"create_pods": {"count": 6, "name": "b", "node": "win-1"}},
        {"expect": {"pods_running": 16}},
        {"set_configmap": {"warm-prefix-target": "2"}},
        {"expect": {"node": "win-1", "mode": "prefix"}},
        {"delete_pods": {"name": "a", "count": 4}},
        {"expect": {"pods_running": 12}},
        {"restart": "controller"},
        {"create_pods": {"count": 4, "name": "c"}},
        {"expect": {"pods_running": 16}},
        {"restart": "node-agent"},
        {"expect": {"pods_running": 16}},
        {"delete_services": {"name": "web"}},
        {"delete_pods": {"name": "a"}},
        {"delete_pods": {"name": "b"}},
        {"delete_pods": {"name": "c"}},
        {"expect": {"pods_running": 0, "pods_container_creating": 0}},
    ],
}


def _twenty_steps() -> list[str]:
    """Run TWENTY_STEPS through run_scenario; its wall time split at its progress lines."""
    from harness.scenario import parse_scenario, run_scenario

    scenario = parse_scenario(TWENTY_STEPS, "bench")
    said: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
        t0 = time.monotonic()
        report = run_scenario(
            scenario, Path(tmp), progress=lambda m: said.append((time.monotonic(), m))
        )
        wall = time.monotonic() - t0
    # "  ✓ <env step> (x s)" lines until the environment is up, then "step N: ..." and
    # each step's result line; after the last one: invariants after the cool-down, stop.
    first = next((t for t, m in said if m.startswith("step 0:")), math.nan)
    up = max((t for t, m in said if m.startswith("  ✓ ") and t < first), default=math.nan)
    last = said[-1][0] if said else math.nan
    tail = t0 + wall - last
    steps = report["steps"]
    slowest = sorted(steps, key=lambda s: -(s["duration_s"] or 0))[:3]
    verdict = "passed" if report["ok"] else f"FAILED: {report['failure']}"
    return [
        f"20-step scenario (2 nodes, timing fast): {wall:.1f} s, {verdict} (target < 60 s)",
        f"  of which: environment fresh start {up - t0:.1f} s, first settle {first - up:.1f} s, "
        f"{len(steps)} steps {last - first:.1f} s, final invariants + stop {tail:.1f} s; "
        "slowest steps: "
        + ", ".join(f"#{s['index']} {s['kind']} {s['duration_s']:.1f} s" for s in slowest),
    ]


def run() -> list[str]:
    """Measure and return printable lines."""
    lines: list[str] = []
    starts: list[float] = []
    for profile in PROFILES:
        try:
            res = _environment(profile)
        except Exception as e:  # report, do not hide; the other figures still count
            lines.append(f"[{profile}] not measured: {type(e).__name__}: {e}")
            continue
        starts.append(res["start_s"])
        lines += _lines(res)
    try:
        lines += _twenty_steps()
    except Exception as e:
        lines.append(f"20-step scenario: not run: {type(e).__name__}: {e}")
    return lines
