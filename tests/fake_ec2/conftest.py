"""Fixtures: a real ``python -m fake_ec2 --port 0`` subprocess and boto3 clients for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fake_ec2.admin import AdminClient

FAKE_CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
}
REGION = "us-west-2"


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDS.items():
        monkeypatch.setenv(key, value)


def start_fake_ec2(*extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start the standalone server; return the process and the URL from its first line."""
    env = {**os.environ, **FAKE_CREDS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_ec2", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first.startswith("listening on http://127.0.0.1:"):
        stop_process(proc)
        raise AssertionError(
            f"unexpected first line {first!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, first.removeprefix("listening on ")


def stop_process(proc: subprocess.Popen[str], grace: float = 5.0) -> int:
    """SIGTERM the process group, SIGKILL after ``grace`` seconds; return the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return proc.returncode


@pytest.fixture(scope="session")
def fake_ec2_url() -> Iterator[str]:
    proc, url = start_fake_ec2("--seed", "7")
    admin = AdminClient(url)
    deadline = time.monotonic() + 20
    while not admin.healthy():
        assert time.monotonic() < deadline, "fake_ec2 never answered its health check"
        time.sleep(0.05)
    yield url
    stop_process(proc)


@pytest.fixture
def admin(fake_ec2_url: str) -> AdminClient:
    client = AdminClient(fake_ec2_url)
    client.reset(seed=7)
    return client


@pytest.fixture
def ec2(fake_ec2_url: str, admin: AdminClient) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ec2",
        endpoint_url=fake_ec2_url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def make_subnet(ec2: Any) -> Any:
    """Factory: a new VPC + subnet; returns the subnet id."""

    def make(cidr: str = "10.0.0.0/24", vpc_cidr: str = "10.0.0.0/16") -> str:
        vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        return str(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])

    return make


@pytest.fixture
def launch(ec2: Any) -> Any:
    """Factory: run one instance; returns (instance id, primary ENI id)."""

    def run(subnet: str, instance_type: str) -> tuple[str, str]:
        inst = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet,
        )["Instances"][0]
        return inst["InstanceId"], inst["NetworkInterfaces"][0]["NetworkInterfaceId"]

    return run


@pytest.fixture
def spawn_fake_ec2() -> Iterator[Any]:
    """Factory starting extra standalone servers; all are stopped at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def spawn(*extra: str) -> tuple[subprocess.Popen[str], str]:
        proc, url = start_fake_ec2(*extra)
        procs.append(proc)
        return proc, url

    yield spawn
    for proc in procs:
        stop_process(proc)
