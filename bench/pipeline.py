"""Windows node emulation: the cost of one CNI call per ``cni.mode`` and pods/s through
the whole pipeline.

Part 1, per call: ``ekswin-cni`` ADD+DEL with a static IP (no API server) against a
fake_hns, (a) exec'd with the netconf's ``agentSocket`` so the binary hands the call
to a CniRunner server (the agent's fast path, ``exec``), (b) exec'd without it
(``exec-direct``: the binary does everything), (c) the plugin function in-process
(``inprocess``); plus the bare cost of an exec (``VERSION``) and of the interpreter.

Part 2, the whole pipeline: control plane, fake_ec2, fake_hns, the VPC resource
controller with its webhook, one node agent with 4 nodes (t3.2xlarge, prefix
delegation). Pods are created through the API server (webhook on), scheduled by the
real scheduler, annotated by the controller and started by the agent; we time creation
to all Running, per CNI mode, with the controller at its real client limits (20 QPS)
and raised (200/400). Last, ``ekswin up`` with 10 Windows nodes.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bench
from harness.testing import pod_manifest

NAME = "node agent: CNI modes (exec+socket, exec-direct, in-process), pods/s end to end"
CNI_ROUNDS = 12
NODES = 4
PODS = 120
UP_NODES = 10
# The kubelet stays instant (the fast profile's) so the figures measure the pipeline.
REAL: dict[str, Any] = {"profile": "fast", "controller_api_qps": 20, "controller_api_burst": 30}
RAISED_QPS: dict[str, Any] = {**REAL, "controller_api_qps": 200, "controller_api_burst": 400}
# (CNI mode, controller args, label): exec (the default) at both controller limits,
# the other modes with the raised limits (where the CNI path, not the controller, binds).
RUNS: list[tuple[str, dict[str, Any], str]] = [
    ("exec", REAL, "controller 20 QPS"),
    ("exec", RAISED_QPS, "controller 200 QPS"),
    ("exec-direct", RAISED_QPS, "controller 200 QPS"),
    ("inprocess", RAISED_QPS, "controller 200 QPS"),
]


def _start_hns() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_hns", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on grpc://"):
        _stop(proc)
        raise RuntimeError(f"fake_hns did not start: {line!r}")
    return proc, line.removeprefix("listening on grpc://")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _exec_cost(argv: list[str], env: dict[str, str], rounds: int = 20) -> tuple[float, float]:
    """(median wall, mean CPU) of exec'ing `argv` with empty stdin."""
    walls = []
    cpu0 = _child_cpu()
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, input=b"", env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), (_child_cpu() - cpu0) / rounds


def _cni_costs(target: str, sock_dir: Path) -> dict[str, Any]:
    from harness.cni.vpcbridge import run
    from harness.hns import NodeHns

    binary = str(Path(sys.executable).with_name("ekswin-cni"))
    modes = ("exec", "exec-direct", "inprocess")
    with NodeHns(target, "bench") as hns:
        hns.ensure_host("10.0.17763")
        namespaces = [hns.create_namespace() for _ in range(len(modes) * CNI_ROUNDS)]
    conf = {
        "cniVersion": "1.0.0",
        "name": "vpc",
        "type": "ekswin-cni",
        "eniMACAddress": "0a:00:00:00:00:01",
        "eniIPAddresses": ["10.0.0.10/16"],
        "vpcCIDRs": ["10.0.0.0/16"],
        "serviceCIDR": "10.96.0.0/16",
        "gatewayIPAddress": "10.0.0.1",
        "hnsEndpoint": target,
        "hnsHost": "bench",
    }
    from harness.nodes.cnirunner import ThreadedCniServer

    sock = str(sock_dir / "cni.sock")
    server = ThreadedCniServer(sock)
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, float] = dict.fromkeys(modes, 0.0)
    try:
        for i in range(len(modes) * CNI_ROUNDS):
            mode = modes[i % len(modes)]
            netconf = {**conf, "ipAddresses": [f"10.0.1.{i + 1}/16"]}
            if mode == "exec":
                netconf["agentSocket"] = sock
            stdin = json.dumps(netconf).encode()
            total = 0.0
            cpu0 = _child_cpu()
            for command in ("ADD", "DEL"):
                env = {
                    "CNI_COMMAND": command,
                    "CNI_CONTAINERID": f"{i:064x}",
                    "CNI_NETNS": namespaces[i],
                    "CNI_IFNAME": "eth0",
                    "CNI_PATH": str(Path(binary).parent),
                    "PATH": os.environ.get("PATH", ""),
                }
                t0 = time.perf_counter()
                if mode == "inprocess":
                    code, _ = run(env, stdin)
                else:
                    code = subprocess.run(
                        [binary], input=stdin, env=env, capture_output=True, check=False
                    ).returncode
                total += time.perf_counter() - t0
                if code != 0:
                    raise RuntimeError(f"CNI {command} failed in {mode} mode")
            wall[mode].append(total)
            cpu[mode] += _child_cpu() - cpu0
        served = server.runner.served
    finally:
        server.close()
    env = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "")}
    version = _exec_cost([binary], env)
    bare = _exec_cost([sys.executable, "-c", "pass"], env)
    nosite = _exec_cost([sys.executable, "-S", "-c", "pass"], env)
    return {
        "wall": {m: statistics.median(v) for m, v in wall.items()},
        "cpu": {m: c / CNI_ROUNDS for m, c in cpu.items()},
        "served": served,
        "version": version,
        "bare": bare,
        "nosite": nosite,
    }


def _running(core: Any) -> int:
    resp = core.list_namespaced_pod(
        "default", field_selector="status.phase=Running", _preload_content=False
    )
    return len(json.loads(resp.data).get("items") or [])


def _pipeline(mode: str, timing: dict[str, Any]) -> dict[str, Any]:
    """pods/s from creation to Running with one environment in `mode`."""
    from kubernetes import client

    from harness.env import Environment
    from harness.spec import parse_spec, spec_document

    base = bench.BASE_SPEC
    if base is not None:  # `make bench BENCH_ARGS="--spec FILE"`: its nodes and settings
        doc = base.to_dict()
    else:
        doc = spec_document(windows_nodes=NODES, instance_type="t3.2xlarge", prefix_delegation=True)
    agent = {**doc.get("node_agent", {}), "cni_mode": mode}
    spec = parse_spec({**doc, "timing": timing, "node_agent": agent}, "bench")
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
        env = Environment(spec, Path(tmp), name="bench")
        t0 = time.perf_counter()
        env.start()
        try:
            up = time.perf_counter() - t0
            core = client.CoreV1Api(env.cluster.api)
            t1 = time.perf_counter()
            pods = [pod_manifest(f"b-{i}") for i in range(PODS)]
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda pod: core.create_namespaced_pod("default", pod), pods))
            created = time.perf_counter() - t1
            deadline = time.monotonic() + 150
            running = 0
            while time.monotonic() < deadline:
                running = _running(core)
                if running >= PODS:
                    break
                time.sleep(0.25)
            dur = time.perf_counter() - t1
            done = time.time()
            status_file = Path(tmp) / "components" / "nodes" / "agent-status.json"
            status: dict[str, Any] = {}
            for _ in range(20):  # rewritten every 2 s: wait for a copy newer than `done`
                if status_file.exists() and status_file.stat().st_mtime > done:
                    status = json.loads(status_file.read_text())
                    break
                time.sleep(0.25)
            return {"up": up, "created": created, "dur": dur, "running": running, "status": status}
        finally:
            env.stop()


def _env_up(nodes: int) -> float:
    from harness.env import Environment
    from harness.spec import spec_from_flags

    with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
        spec = bench.BASE_SPEC or spec_from_flags(windows_nodes=nodes)
        env = Environment(spec, Path(tmp), name="bench")
        t0 = time.perf_counter()
        env.start()
        try:
            return time.perf_counter() - t0
        finally:
            env.stop()


def run() -> list[str]:
    """Measure and return printable lines."""
    proc, target = _start_hns()
    try:
        with tempfile.TemporaryDirectory(prefix="ekswin-cni-") as sock_dir:
            c = _cni_costs(target, Path(sock_dir))
    finally:
        _stop(proc)
    w, cpu = c["wall"], c["cpu"]
    lines = [
        f"exec cost: interpreter -c pass {c['bare'][0] * 1000:.0f} ms "
        f"(-S, no site/editable finder: {c['nosite'][0] * 1000:.0f} ms); "
        f"ekswin-cni VERSION {c['version'][0] * 1000:.0f} ms wall, "
        f"{c['version'][1] * 1000:.0f} ms CPU",
    ]
    for mode, what in (
        ("exec", "exec'd shim -> agent socket"),
        ("exec-direct", "exec'd, plugin runs in the binary"),
        ("inprocess", "plugin function in-process"),
    ):
        extra = f", {cpu[mode] * 1000:.0f} ms child CPU" if mode != "inprocess" else ""
        lines.append(f"CNI ADD+DEL {mode:11s} ({what}): {w[mode] * 1000:.0f} ms median wall{extra}")
    lines.append(
        f"exec-direct / exec: {w['exec-direct'] / w['exec']:.1f}x wall, "
        f"{cpu['exec-direct'] / max(cpu['exec'], 1e-9):.1f}x CPU; "
        f"exec / inprocess: {w['exec'] / w['inprocess']:.1f}x wall "
        f"({c['served']} calls served over the socket)"
    )
    rates: dict[str, float] = {}
    for mode, args, label in RUNS:
        key = f"{mode}, {label}"
        try:
            res = _pipeline(mode, args)
        except Exception as e:  # report, do not hide
            lines.append(f"pipeline {key}: not measured: {e!r}")
            continue
        st = res["status"].get("cni") or {}
        rates[key] = res["running"] / res["dur"]
        lines.append(
            f"pipeline {key}: {res['running']}/{PODS} pods Running in {res['dur']:.1f} s = "
            f"{rates[key]:.1f} pods/s (created in {res['created']:.1f} s; env up "
            f"{res['up']:.1f} s; agent reports mode {st.get('mode', '?')}, "
            f"{st.get('calls', '?')} CNI calls, {st.get('served_over_socket', 0)} via socket)"
        )
    base = rates.get("exec-direct, controller 200 QPS")
    for key, rate in rates.items():
        if base and not key.startswith("exec-direct"):
            lines.append(f"ratio {key} / exec-direct: {rate / base:.1f}x")
    try:
        lines.append(
            f"ekswin up with {UP_NODES} Windows nodes (Environment.start): "
            f"{_env_up(UP_NODES):.1f} s"
        )
    except Exception as e:
        lines.append(f"ekswin up with {UP_NODES} nodes: not measured: {e!r}")
    return lines
