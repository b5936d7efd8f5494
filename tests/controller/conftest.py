"""Fixtures for the controller's cluster tests: fake_ec2 and controller processes, helpers.

The controller runs as its own ServiceAccount with the RBAC of `controller.deploy`, so a
missing permission fails these tests the way it would fail a real deployment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client as kclient

PY = sys.executable
RES = "vpc.amazonaws.com/PrivateIPv4Address"


def _start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    errf = open(log, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=errf, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        _stop(proc)
        raise RuntimeError(f"{cmd[2]} did not start: {line!r}; see {log}")
    return proc, line.split("listening on ", 1)[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def fake_ec2(tmp_path: Path) -> Iterator[str]:
    """A fake_ec2 process (its own moto state); yields its URL."""
    proc, url = _start(
        [PY, "-m", "fake_ec2", "--port", "0", "--seed", "7"], tmp_path / "fake_ec2.log"
    )
    yield url
    _stop(proc)


@pytest.fixture
def controller_kubeconfig(ekswin_cluster: Any, tmp_path: Path) -> Path:
    """A kubeconfig for ServiceAccount kube-system/vpc-resource-controller with its RBAC."""
    from controller.deploy import NAMESPACE, SERVICE_ACCOUNT, rbac_manifests
    from harness.manifests import apply

    apply(ekswin_cluster.api, rbac_manifests())
    return Path(
        ekswin_cluster.service_account_kubeconfig(
            NAMESPACE, SERVICE_ACCOUNT, tmp_path / "controller.kubeconfig"
        )
    )


@pytest.fixture
def start_controller(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """start(kubeconfig, ec2_url, *extra_args) -> (process, health URL); stopped at teardown.

    Short cool-down and retry scale keep the upstream waits (20 s, 600 ms, 2 min) small.
    """
    procs: list[subprocess.Popen[str]] = []

    def start(kubeconfig: Path, ec2_url: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
        cmd = [
            PY,
            "-m",
            "controller",
            "--kubeconfig",
            str(kubeconfig),
            "--ec2-endpoint",
            ec2_url,
            "--region",
            "us-west-2",
            "--components",
            "controller",
            "--leader-elect=false",
            "--cooldown-seconds",
            "1",
            "--retry-scale",
            "0.05",
            "--log-level",
            "DEBUG",
            *extra,
        ]
        proc, url = _start(cmd, tmp_path / f"controller-{len(procs)}.log")
        procs.append(proc)
        return proc, url

    yield start
    for p in procs:
        _stop(p)


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `cond` until truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------- helpers
def ec2(url: str) -> Any:
    """A boto3 EC2 client for fake_ec2 (no retries: the test sees every error)."""
    from botocore.config import Config

    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def make_instance(c: Any, itype: str, cidr: str = "10.0.0.0/19") -> tuple[str, str, str]:
    """A VPC, a subnet `cidr` and one instance: (instance id, primary ENI id, cidr)."""
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub = c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-west-2a")
    subnet = sub["Subnet"]["SubnetId"]
    inst = c.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=itype, SubnetId=subnet
    )["Instances"][0]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return inst["InstanceId"], eni, cidr


def set_cm(core: kclient.CoreV1Api, data: dict[str, str]) -> None:
    """Create or replace ConfigMap kube-system/amazon-vpc-cni with `data`."""
    body = {"metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"}, "data": data}
    try:
        core.replace_namespaced_config_map("amazon-vpc-cni", "kube-system", body)
    except kclient.ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespaced_config_map("kube-system", body)


def make_node(core: kclient.CoreV1Api, instance_id: str) -> str:
    """A Windows Node object whose providerID names `instance_id`."""
    name = f"win-{uuid.uuid4().hex[:8]}"
    core.create_node(
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "windows"}},
            "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
        }
    )
    return name


def capacity(core: kclient.CoreV1Api, node: str) -> str | None:
    """The node's advertised vpc.amazonaws.com/PrivateIPv4Address capacity."""
    n = core.read_node(node)
    return (n.status.capacity or {}).get(RES)


def make_pod(core: kclient.CoreV1Api, node: str) -> str:
    """A Windows pod bound to `node` (nodeName set) requesting one IP."""
    name = f"p-{uuid.uuid4().hex[:8]}"
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "c",
                        "image": "mcr.microsoft.com/windows/nanoserver",
                        "resources": {"limits": {RES: "1"}, "requests": {RES: "1"}},
                    }
                ],
            },
        },
    )
    return name


def annotation(core: kclient.CoreV1Api, pod: str) -> str | None:
    """The pod's IP annotation, if set."""
    return (core.read_namespaced_pod(pod, "default").metadata.annotations or {}).get(RES)


def events_for(core: kclient.CoreV1Api, kind: str, name: str) -> list[Any]:
    """Events in namespace default about object kind/name (pods and nodes both land there)."""
    sel = f"involvedObject.kind={kind},involvedObject.name={name}"
    return list(core.list_namespaced_event("default", field_selector=sel).items)
