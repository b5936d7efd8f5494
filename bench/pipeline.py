"""Windows node emulation: cost of a CNI call (exec vs in-process) and pod start-up
throughput of the node agent against the real API server, fake_ec2 and fake_hns.

Part 1 runs ``ekswin-cni`` ADD+DEL with a static IP (no API server) against fake_hns,
exec'd as containerd does and in-process (``harness.cni.plugin.run``); part 2 starts
the full environment (control plane, EC2, HNS, controller, one agent with
``--windows-nodes``) and times pods from creation to Running in exec mode.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "node agent: CNI exec vs in-process, pods to Running"
CNI_ROUNDS = 15
NODES = 4
PODS = 40


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


def _cni_costs(target: str) -> dict[str, float]:
    from harness.cni.hns import NodeHns
    from harness.cni.plugin import run

    binary = str(Path(sys.executable).with_name("ekswin-cni"))
    with NodeHns(target, "bench") as hns:
        hns.ensure_host("10.0.17763")
        namespaces = [hns.create_namespace() for _ in range(2 * CNI_ROUNDS)]
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
    out: dict[str, list[float]] = {"exec": [], "inprocess": []}
    for i in range(2 * CNI_ROUNDS):
        mode = "exec" if i % 2 == 0 else "inprocess"
        stdin = json.dumps({**conf, "ipAddresses": [f"10.0.1.{i + 1}/16"]}).encode()
        sandbox = f"{i:064x}"
        times = []
        for command in ("ADD", "DEL"):
            env = {
                "CNI_COMMAND": command,
                "CNI_CONTAINERID": sandbox,
                "CNI_NETNS": namespaces[i],
                "CNI_IFNAME": "eth0",
                "CNI_PATH": str(Path(binary).parent),
                "PATH": os.environ.get("PATH", ""),
            }
            t0 = time.perf_counter()
            if mode == "exec":
                proc = subprocess.run(
                    [binary], input=stdin, env=env, capture_output=True, check=False
                )
                code = proc.returncode
            else:
                code, _ = run(env, stdin)
            times.append(time.perf_counter() - t0)
            if code != 0:
                raise RuntimeError(f"CNI {command} failed in {mode} mode")
        out[mode].append(sum(times))
    return {m: statistics.median(v) for m, v in out.items()}


def _pods_to_running() -> dict[str, float]:
    from kubernetes import client

    from harness.env import Environment, EnvOptions

    with tempfile.TemporaryDirectory(prefix="ekswin-bench-") as tmp:
        env = Environment(
            EnvOptions(
                name="bench",
                run_dir=Path(tmp),
                windows_nodes=NODES,
                instance_type="t3.2xlarge",
                prefix_delegation=True,
                extra={"cni_mode": "exec"},
            )
        )
        t0 = time.perf_counter()
        env.start()
        try:
            up = time.perf_counter() - t0
            core = client.CoreV1Api(env.cluster.api)
            t1 = time.perf_counter()
            for i in range(PODS):
                core.create_namespaced_pod(
                    "default",
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"b-{i}"},
                        "spec": {
                            "nodeSelector": {"kubernetes.io/os": "windows"},
                            "containers": [{"name": "c", "image": "pause"}],
                        },
                    },
                )
            deadline = time.monotonic() + 120
            running = 0
            while time.monotonic() < deadline:
                running = sum(
                    1
                    for p in core.list_namespaced_pod("default").items
                    if p.status.phase == "Running"
                )
                if running == PODS:
                    break
                time.sleep(0.2)
            dur = time.perf_counter() - t1
            return {"up": up, "dur": dur, "running": running}
        finally:
            env.stop()


def run() -> list[str]:
    """Measure and return printable lines."""
    proc, target = _start_hns()
    try:
        costs = _cni_costs(target)
    finally:
        _stop(proc)
    lines = [
        f"CNI ADD+DEL, exec'd binary (cni.mode exec): {costs['exec'] * 1000:.0f} ms median",
        f"CNI ADD+DEL, in-process (cni.mode inprocess): {costs['inprocess'] * 1000:.0f} ms median",
        f"exec / in-process: {costs['exec'] / costs['inprocess']:.1f}x",
    ]
    try:
        res: dict[str, Any] = _pods_to_running()
    except Exception as e:  # the full stack may be missing pieces; report, do not hide
        lines.append(f"full pipeline not measured: {e}")
        return lines
    lines += [
        f"environment up with {NODES} nodes: {res['up']:.1f} s",
        f"{res['running']}/{PODS} pods Running in {res['dur']:.1f} s "
        f"({res['running'] / res['dur']:.1f} pods/s, CNI mode exec, timing profile fast)",
    ]
    return lines
