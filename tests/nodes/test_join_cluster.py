"""Past one machine: two `ekswin agent --join` processes (two "hosts", loopback here)
add nodes to an environment another `ekswin up` runs on the existing backend (fake EC2
reached through the relay on --join-address); one of them stops and its nodes leave as
in a node group scale-in, leaving nothing behind."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.identity import api_client
from harness.nodes.ec2 import ec2_client
from harness.nodes.spec import IP_RESOURCE
from harness.process import _group_alive
from harness.testing import WINDOWS_IMAGE
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EKSWIN = [sys.executable, "-m", "harness.cli"]
SPEC = """\
version: 1
timing: fast
configmap:
  enable-windows-ipam: "true"
"""


def ekswin(args: list[str], env: dict[str, str], timeout: float = 180) -> Any:
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class FirstHost:
    env: dict[str, str]
    base: Path
    run_dir: Path
    api: Any
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstHost]:
    base = tmp_path_factory.mktemp("join")
    env = dict(os.environ)
    env["EKSWIN_STATE_DIR"] = str(base / "state")
    env["KUBECONFIG"] = str(base / "kube" / "config")
    for var in ("EKSWIN_BACKEND", "EKSWIN_KUBECONFIG", "EKSWIN_WEBHOOK_HOST", "EKSWIN_NAME"):
        env.pop(var, None)
    cluster = base / "state" / "cluster"
    spec = base / "env.yaml"
    spec.write_text(SPEC)
    host: FirstHost | None = None
    try:
        r = ekswin(["up", "--bare", "--detach", "--no-merge", "--name", "cluster"], env)
        assert r.returncode == 0, r.stderr
        r = ekswin(
            ["up", "--backend", "existing", "--kubeconfig", str(cluster / "kubeconfig"),
             "--name", "joined", "--no-merge", "--detach", "-f", str(spec),
             "--join-address", "127.0.0.2"],
            env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        run_dir = base / "state" / "joined"
        assert (
            f"Join file for node agents on other hosts (0600, holds a credential): {run_dir}"
            in (r.stdout)
        )
        host = FirstHost(env, base, run_dir, api_client(cluster / "kubeconfig"))
        yield host
    finally:
        for proc in host.agents if host else []:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
        ekswin(["down", "--name", "joined"], env)
        ekswin(["down", "--name", "cluster"], env)
        if host is not None:
            host.api.close()


def _agent(first: FirstHost, prefix: str) -> tuple[subprocess.Popen[bytes], Path]:
    run_dir = first.base / f"host-{prefix}"
    run_dir.mkdir()
    with (run_dir / "agent.out").open("wb") as out:
        proc = subprocess.Popen(
            [*EKSWIN, "agent", "--join", str(first.run_dir / "join.json"), "--nodes", "2",
             "--name-prefix", prefix, "--run-dir", str(run_dir)],
            env=first.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    first.agents.append(proc)
    return proc, run_dir


def _nodes(api: Any) -> dict[str, Any]:
    from kubernetes import client

    return {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}


def _schedulable(node: Any) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    return ready and IP_RESOURCE in (node.status.allocatable or {})


def test_two_hosts_join_and_one_leaves_as_a_scale_in(first: FirstHost) -> None:
    from kubernetes import client

    path = first.run_dir / "join.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    join = json.loads(path.read_text())
    env_state = json.loads((first.run_dir / "env.json").read_text())
    assert (join["kind"], join["version"], join["environment"]) == ("EkswinJoin", 1, "joined")
    assert join["kubernetes"]["server"] == env_state["endpoints"]["kubernetes"]
    assert join["kubernetes"]["token"] and join["kubernetes"]["token_expires"]
    # The other hosts reach fake EC2 through the relay on --join-address.
    assert join["ec2"]["endpoint"].startswith("http://127.0.0.2:")
    assert env_state["endpoints"]["ec2"].startswith("http://127.0.0.1:")
    assert join["ec2"]["region"] == "us-west-2" and join["ec2"]["vpc_id"].startswith("vpc-")
    subnet = join["node_group"]["subnets"][0]
    assert subnet["id"].startswith("subnet-") and join["node_group"]["name_prefix"] == "win"
    assert join["spec"]["timing"] == "fast"

    a, a_dir = _agent(first, "win-a")
    b, b_dir = _agent(first, "win-b")
    names = ["win-a-0", "win-a-1", "win-b-0", "win-b-1"]

    def all_schedulable() -> bool:
        for proc, d in ((a, a_dir), (b, b_dir)):
            assert proc.poll() is None, (d / "agent.out").read_text()
        nodes = _nodes(first.api)
        return all(n in nodes and _schedulable(nodes[n]) for n in names)

    wait_until(all_schedulable, 60, "4 joined nodes Ready with pod IPs advertised")
    # A third agent asking for names another one drives is refused before it starts.
    third = ekswin(
        ["agent", "--join", str(path), "--nodes", "1", "--name-prefix", "win-b",
         "--run-dir", str(first.base / "host-third")],
        first.env, timeout=60,
    )  # fmt: skip
    assert third.returncode == 2, third.stderr
    assert "win-b-0 exist and are Ready: another agent drives them" in third.stderr
    assert "Traceback" not in third.stderr
    node = _nodes(first.api)["win-a-0"]
    assert node.metadata.labels["eks.amazonaws.com/nodegroup"] == "win-a"
    assert node.spec.provider_id.startswith("aws:///us-west-2a/i-")

    core = client.CoreV1Api(first.api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "on-a-joined-host"},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows", "kubernetes.io/hostname": "win-a-0"},
            "containers": [{"name": "c", "image": WINDOWS_IMAGE}],
        },
    }
    core.create_namespaced_pod("default", pod)

    def running() -> Any:
        p = core.read_namespaced_pod("on-a-joined-host", "default")
        return p if p.status.phase == "Running" and p.status.pod_ip else None

    got = wait_until(running, 60, "the pod Running on win-a-0 with its VPC IP")
    assert ipaddress.ip_address(got.status.pod_ip) in ipaddress.ip_network(subnet["cidr"])
    assert IP_RESOURCE in (got.metadata.annotations or {})

    # Stop host a: its nodes leave (drained, instances terminated, Nodes deleted).
    children = [e["pid"] for e in json.loads((a_dir / "pids.json").read_text()).values()]
    assert len(children) == 2  # its fake_hns and its one shard, each in its own group
    a.send_signal(signal.SIGTERM)
    assert a.wait(60) == 0, (a_dir / "agent.out").read_text()
    out = (a_dir / "agent.out").read_text()
    assert "2 node(s) left the cluster" in out and "Traceback" not in out
    for pgid in [a.pid, *children]:
        assert not _group_alive(pgid), f"process group {pgid} of the stopped agent still runs"
    nodes = _nodes(first.api)
    assert not {"win-a-0", "win-a-1"} & set(nodes)
    assert all(_schedulable(nodes[n]) for n in ("win-b-0", "win-b-1"))
    leases = client.CoordinationV1Api(first.api).list_namespaced_lease("kube-node-lease").items
    assert sorted(lease.metadata.name for lease in leases) == ["win-b-0", "win-b-1"]
    pods = core.list_namespaced_pod("default").items
    assert [p.metadata.name for p in pods if p.spec.node_name == "win-a-0"] == []
    ec2 = ec2_client(join["ec2"]["endpoint"], "us-west-2")
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:ekswin/node", "Values": names}])
    states = {
        next(t["Value"] for t in i["Tags"] if t["Key"] == "Name"): i["State"]["Name"]
        for r in tagged["Reservations"]
        for i in r["Instances"]
    }
    assert states == {
        "win-a-0": "terminated", "win-a-1": "terminated",
        "win-b-0": "running", "win-b-1": "running",
    }  # fmt: skip
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    attached = {e.get("Attachment", {}).get("InstanceId") for e in enis}
    assert len(enis) == 2 and attached <= {
        i["InstanceId"]
        for r in tagged["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    }  # the stopped host's ENIs went with its instances
    csrs = client.CertificatesV1Api(first.api).list_certificate_signing_request().items
    assert csrs == []  # every join request was read and deleted
    owned = json.loads((first.run_dir / "owned.json").read_text())["objects"]
    assert not [o for o in owned if o["name"].startswith("win-a-")]
