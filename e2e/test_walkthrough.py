"""The README walkthrough, as a user types it: up with nodes, deploy, scale past
capacity, inspect with kubectl and the AWS CLI, down."""

from __future__ import annotations

import ipaddress
import json
import shutil

import pytest

from e2e.conftest import User
from harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANNOTATION = "vpc.amazonaws.com/PrivateIPv4Address"
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: iis}
spec:
  replicas: 20
  selector: {matchLabels: {app: iis}}
  template:
    metadata: {labels: {app: iis}}
    spec:
      nodeSelector: {kubernetes.io/os: windows}
      terminationGracePeriodSeconds: 1
      containers:
      - name: iis
        image: mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019
"""


def _pods(user: User) -> list[dict]:
    out = user.kubectl("get", "pods", "-l", "app=iis", "-o", "json").stdout
    return json.loads(out)["items"]


def _running(pods: list[dict]) -> list[dict]:
    return [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]


@pytest.mark.parametrize("backend", ["local", "existing"])
def test_readme_walkthrough(user: User, backend: str) -> None:
    extra: list[str] = []
    if backend == "existing":  # "Use your own cluster": a separately started one
        user.ekswin("up", "--bare", "--detach", "--name", "other")
        kubeconfig = f"{user.env['EKSWIN_STATE_DIR']}/other/kubeconfig"
        extra = ["--backend", "existing", "--kubeconfig", kubeconfig]
    up = user.ekswin(
        "up",
        "--detach",
        "--name",
        "demo",
        *extra,
        "--windows-nodes",
        "1",
        "--instance-type",
        "t3.2xlarge",
        "--prefix-delegation",
    )
    assert "export KUBECONFIG=" in up.stdout
    ec2_url = next(
        line.split()[-1] for line in up.stdout.splitlines() if line.strip().startswith("ec2 ")
    )
    nodes = json.loads(user.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["labels"]["kubernetes.io/os"] for n in nodes] == ["windows"]
    # PD on a t3.2xlarge: (15 - 1) x 16 = 224 pod IPs advertised.
    wait_until(
        lambda: (
            json.loads(user.kubectl("get", "node", "win-0", "-o", "json").stdout)["status"][
                "allocatable"
            ].get(ANNOTATION)
            == "224"
        ),
        60,
        "capacity 224 on win-0",
    )

    user.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    pods = wait_until(
        lambda: (p := _pods(user)) and len(_running(p)) == 20 and p, 120, "20 Running pods"
    )
    # The webhook added the resource; the controller's annotation is the pod IP.
    for p in pods:
        res = p["spec"]["containers"][0]["resources"]
        assert res["requests"][ANNOTATION] == "1" and res["limits"][ANNOTATION] == "1"
        assert p["metadata"]["annotations"][ANNOTATION] == p["status"]["podIP"] + "/32"

    # The AWS view: every pod IP lies in one of the ENI's /28 prefixes.
    from harness.testing import ec2_client

    ec2 = ec2_client(ec2_url)
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    prefixes = [
        ipaddress.ip_network(p["Ipv4Prefix"]) for e in enis for p in e.get("Ipv4Prefixes", [])
    ]
    assert len(prefixes) == 2  # 20 pods + warm 1 IP -> 2 prefixes (FACTS.md)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 20
    assert all(any(ipaddress.ip_address(ip) in net for net in prefixes) for ip in ips)
    if shutil.which("aws"):
        cli = user.run(
            [
                "aws",
                "--endpoint-url",
                ec2_url,
                "ec2",
                "describe-network-interfaces",
                "--output",
                "json",
            ]
        )
        assert {
            p["Ipv4Prefix"]
            for e in json.loads(cli.stdout)["NetworkInterfaces"]
            for p in e.get("Ipv4Prefixes", [])
        } == {str(n) for n in prefixes}

    # Scale past the node's pod limit (max-pods 110): the scheduler leaves the rest Pending.
    user.kubectl("scale", "deployment/iis", "--replicas=115")
    wait_until(lambda: len(_running(_pods(user))) == 110, 240, "110 Running pods")

    def pending_message() -> str | None:
        for p in _pods(user):
            for c in p["status"].get("conditions", []):
                if c.get("reason") == "Unschedulable":
                    return str(c.get("message"))
        return None

    msg = wait_until(pending_message, 60, "an Unschedulable pod")
    assert "Too many pods" in msg

    status = json.loads(user.ekswin("status", "--name", "demo", "--json").stdout)
    (node,) = status["nodes"]
    assert node["mode"] == "prefix" and node["capacity"] == "224"
    assert node["assigned_ips"] == 110
    assert status["invariants"] == {
        "ok": True,
        "violations": [],
        "line": "invariants hold (6 checked)",
    }
    assert status["spec"]["nodes"][0]["instance_type"] == "t3.2xlarge"
    # the controller's own pool view, from its introspection endpoint
    assert node["pool"]["mode"] == "prefix" and node["pool"]["used"] == 110
    assert status["controller"]["ipam_enabled"] is True
    text = user.ekswin("status", "--name", "demo").stdout
    assert "invariants hold" in text and "pool used/warm/cooling" in text

    down = user.ekswin("down", "--name", "demo")
    assert down.returncode == 0
    assert user.ekswin("status", "--name", "demo", check=False).returncode == 1
    if backend == "existing":
        user.kubectl("delete", "deployment/iis", "--wait=true")
        nodes = json.loads(user.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert nodes == []  # down removed the fake Windows node from the other cluster
        cms = user.kubectl("get", "configmaps", "-n", "kube-system", "-o", "name").stdout
        assert "amazon-vpc-cni" not in cms
        assert user.ekswin("down", "--name", "other").returncode == 0
