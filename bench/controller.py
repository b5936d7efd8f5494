"""The controller's pipeline: pod bound -> IP annotation, warm-pool hit vs miss, throughput.

Starts its own local control plane, fake_ec2 and the controller (real processes, real
protocols). Pods are Windows pods created with `spec.nodeName` set (creation is the
binding; no scheduler). Times are taken by this process: just before the create call,
and when its pod watch sees the annotation. A pod is a warm-pool miss when the controller
emitted `ResourceAllocationFailed` for it (the pool had nothing to give at first try).

Run twice: with the real client limits (API QPS 20 / burst 30, the controller's
defaults) and with them raised, to show what the pipeline itself can do.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from controller.kube import iter_lines
from harness.servers import ListeningServer
from harness.testing import ec2_client, pod_manifest
from harness.waiting import wait_until

NAME = "controller: pod bound -> IP annotation (4 Windows nodes, prefix delegation)"
RES = "vpc.amazonaws.com/PrivateIPv4Address"
NODES = 4
BURST_PODS = 200
SEQ_PODS = 16
RAISED_QPS, RAISED_BURST = 1000, 2000


# ------------------------------------------------------------------ watching
class Watcher:
    """Records, per pod name, when its annotation was first seen and whether it missed."""

    def __init__(self, core: Any, namespace: str) -> None:
        self.core = core
        self.ns = namespace
        self.annotated: dict[str, float] = {}
        self.allocated_events: set[str] = set()
        self.failed_events: set[str] = set()
        self.cv = threading.Condition()
        self._resps: list[Any] = []
        for target in (self._pods, self._events):
            threading.Thread(target=target, daemon=True).start()

    def _open(self, list_fn: Any) -> Any:
        rv = json.loads(list_fn(self.ns, _preload_content=False).data)["metadata"][
            "resourceVersion"
        ]
        resp = list_fn(
            self.ns,
            watch=True,
            resource_version=rv,
            timeout_seconds=600,
            _preload_content=False,
        )
        self._resps.append(resp)
        return resp

    def _pods(self) -> None:
        try:
            for line in iter_lines(self._open(self.core.list_namespaced_pod)):
                now = time.perf_counter()
                obj = json.loads(line)["object"]
                md = obj.get("metadata", {})
                if RES in (md.get("annotations") or {}):
                    with self.cv:
                        self.annotated.setdefault(md["name"], now)
                        self.cv.notify_all()
        except Exception:  # the stream is closed at the end of a run
            return

    def _events(self) -> None:
        try:
            for line in iter_lines(self._open(self.core.list_namespaced_event)):
                obj = json.loads(line)["object"]
                name = obj.get("involvedObject", {}).get("name", "")
                with self.cv:
                    if obj.get("reason") == "ResourceAllocationFailed":
                        self.failed_events.add(name)
                    elif obj.get("reason") == "ResourceAllocated":
                        self.allocated_events.add(name)
                    self.cv.notify_all()
        except Exception:
            return

    def wait(self, cond: Any, timeout: float, what: str) -> None:
        """Wait for cond() (called under the lock); RuntimeError naming `what` on timeout."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while not cond():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"timed out waiting for {what}")
                self.cv.wait(min(left, 0.5))

    def close(self) -> None:
        """Stop both watches."""
        # shutdown() unblocks the reader threads; close() from here would wait on them.
        for r in self._resps:
            with contextlib.suppress(Exception):
                r.shutdown()


# ------------------------------------------------------------------ objects
def _create_pod(core: Any, ns: str, name: str, node: str) -> None:
    # Raw response (no model deserialisation), read to the end so the connection is reused:
    # the bench's own client must not be what limits the pipeline.
    pod = pod_manifest(name, node=node, resources={RES: "1"})
    resp = core.create_namespaced_pod(ns, pod, _preload_content=False)
    resp.data  # noqa: B018 - reading releases the connection
    resp.release_conn()


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "n=0"
    return (
        f"median {statistics.median(xs) * 1000:.0f} ms, p99 {_pct(xs, 0.99) * 1000:.0f} ms "
        f"(n={len(xs)})"
    )


class Run:
    """One controller configuration against fresh nodes in a fresh namespace."""

    def __init__(self, cluster: Any, ec2_url: str, subnet: str, tmp: Path, label: str) -> None:
        from kubernetes import client as kclient

        self.cluster = cluster
        self.core = kclient.CoreV1Api(cluster.api)
        self.ec2_url = ec2_url
        self.subnet = subnet
        self.tmp = tmp
        self.label = label
        self.ns = f"bench-{label}"

    def setup_nodes(self) -> list[str]:
        """One m5.large instance and Windows Node per bench node."""
        c = ec2_client(self.ec2_url)
        names = []
        for i in range(NODES):
            inst = c.run_instances(
                ImageId="ami-12c6146b",
                MinCount=1,
                MaxCount=1,
                InstanceType="m5.large",
                SubnetId=self.subnet,
            )["Instances"][0]
            name = f"win-{self.label}-{i}"
            self.core.create_node(
                {
                    "metadata": {"name": name, "labels": {"kubernetes.io/os": "windows"}},
                    "spec": {"providerID": f"aws:///us-west-2a/{inst['InstanceId']}"},
                }
            )
            names.append(name)
        self.core.create_namespace({"metadata": {"name": self.ns}})
        return names

    def run(self, extra: list[str]) -> dict[str, Any]:
        """Start the controller, then the sequential (hit) and burst phases."""
        nodes = self.setup_nodes()
        watcher = Watcher(self.core, self.ns)
        args = [
            "--kubeconfig",
            str(self.cluster.kubeconfig),
            "--ec2-endpoint",
            self.ec2_url,
            "--components",
            "controller",
            "--leader-elect=false",
            *extra,
        ]
        ctl = ListeningServer.module("controller", args, self.tmp, f"controller-{self.label}")
        ctl.start()
        try:
            wait_until(
                lambda: all((self.core.read_node(n).status.capacity or {}).get(RES) for n in nodes),
                30,
                "capacity advertised on every node",
                max_interval_s=0.05,
            )
            created: dict[str, float] = {}
            # Sequential: one pod at a time, each after the last is annotated.
            seq = []
            for i in range(SEQ_PODS):
                name = f"seq-{i}"
                seq.append(name)
                created[name] = time.perf_counter()
                _create_pod(self.core, self.ns, name, nodes[i % NODES])
                watcher.wait(lambda n=name: n in watcher.annotated, 30, f"annotation of {name}")
            # Burst: BURST_PODS pods as fast as 8 client threads can create them.
            burst = [f"burst-{i}" for i in range(BURST_PODS)]

            def create(i: int) -> None:
                name = burst[i]
                created[name] = time.perf_counter()
                _create_pod(self.core, self.ns, name, nodes[i % NODES])

            t0 = time.perf_counter()
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(create, range(BURST_PODS)))
            t_created = time.perf_counter()
            watcher.wait(
                lambda: all(n in watcher.annotated for n in burst), 120, "burst annotations"
            )
            t_done = max(watcher.annotated[n] for n in burst)
            # Classify: wait until the controller's ResourceAllocated event for every pod
            # arrived, so any earlier ResourceAllocationFailed for it arrived too.
            everything = seq + burst
            watcher.wait(
                lambda: all(n in watcher.allocated_events for n in everything),
                60,
                "ResourceAllocated events",
            )
            ips = {
                (p.metadata.annotations or {}).get(RES)
                for p in self.core.list_namespaced_pod(self.ns).items
            }
            if len(ips) != len(everything) or None in ips:
                raise RuntimeError(f"{len(ips)} distinct annotations for {len(everything)} pods")
            lat = {n: watcher.annotated[n] - created[n] for n in everything}
            return {
                "seq_hit": [lat[n] for n in seq if n not in watcher.failed_events],
                "seq_miss": [lat[n] for n in seq if n in watcher.failed_events],
                "hit": [lat[n] for n in burst if n not in watcher.failed_events],
                "miss": [lat[n] for n in burst if n in watcher.failed_events],
                "rate": BURST_PODS / (t_done - t0),
                "create_rate": BURST_PODS / (t_created - t0),
            }
        finally:
            watcher.close()
            ctl.stop()
            self.core.delete_collection_namespaced_pod(self.ns, grace_period_seconds=0)
            for n in nodes:
                self.core.delete_node(n)


def run() -> list[str]:
    """Start a control plane, fake_ec2 and two controllers in turn; report the figures."""
    from kubernetes import client as kclient

    from harness.backends.local import LocalCluster

    lines = []
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-ctl-") as tmpd:
        tmp = Path(tmpd)
        with LocalCluster(tmp / "run", name="benchctl") as cluster:
            ec2_args = ["--port", "0", "--seed", "7"]
            with ListeningServer.module("fake_ec2", ec2_args, tmp).start() as fake_ec2:
                ec2_url = fake_ec2.url
                c = ec2_client(ec2_url)
                vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
                subnet = c.create_subnet(
                    VpcId=vpc, CidrBlock="10.0.0.0/17", AvailabilityZone="us-west-2a"
                )["Subnet"]["SubnetId"]
                core = kclient.CoreV1Api(cluster.api)
                core.create_namespaced_config_map(
                    "kube-system",
                    {
                        "metadata": {"name": "amazon-vpc-cni"},
                        "data": {
                            "enable-windows-ipam": "true",
                            "enable-windows-prefix-delegation": "true",
                        },
                    },
                )
                results = {}
                for label, extra in (
                    ("default", []),
                    (
                        "raised",
                        [
                            "--apiserver-qps",
                            str(RAISED_QPS),
                            "--apiserver-burst",
                            str(RAISED_BURST),
                        ],
                    ),
                ):
                    results[label] = Run(cluster, ec2_url, subnet, tmp, label).run(extra)
    d, r = results["default"], results["raised"]
    lines.append(
        f"cores: {os.cpu_count()}; {NODES} m5.large nodes, PD mode, default warm targets "
        "(warm-ip 1, min-ip 3), real retry intervals (--retry-scale 1)"
    )
    for _label, res, what in (
        ("default", d, "API QPS 20 / burst 30 (the real default)"),
        ("raised", r, f"API QPS {RAISED_QPS} / burst {RAISED_BURST}"),
    ):
        lines.append(f"[{what}]")
        lines.append(f"  unloaded, one pod at a time: hit {_fmt(res['seq_hit'])}")
        if res["seq_miss"]:
            lines.append(f"  unloaded misses: {_fmt(res['seq_miss'])}")
        lines.append(
            f"  burst of {BURST_PODS} pods: {res['rate']:.1f} annotations/s "
            f"(pods created at {res['create_rate']:.0f}/s)"
        )
        lines.append(f"  burst warm-pool hit:  {_fmt(res['hit'])}")
        lines.append(f"  burst warm-pool miss: {_fmt(res['miss'])}")
    lines.append(
        f"raised / default throughput: {r['rate'] / d['rate']:.2f}x; target 50 pods/s "
        f"through the pipeline: {'met' if r['rate'] >= 50 else 'NOT met'} with raised limits, "
        f"{'met' if d['rate'] >= 50 else 'not reachable'} with the real default"
    )
    return lines
