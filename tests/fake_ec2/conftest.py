"""Fixtures: a real ``python -m fake_ec2 --port 0`` subprocess and boto3 clients for it."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fake_ec2.admin import AdminClient
from harness.servers import ListeningServer, ServerGroup
from harness.testing import ec2_client
from harness.waiting import wait_until

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


def start_fake_ec2(servers: ServerGroup, *extra: str) -> ListeningServer:
    """Start the standalone server (its first stdout line is checked) with fake credentials."""
    args = ["--port", "0", *extra]
    server = servers.start("fake_ec2", args, env={**os.environ, **FAKE_CREDS})
    assert server.url.startswith("http://127.0.0.1:"), server.url
    return server


@pytest.fixture(scope="session")
def fake_ec2_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerGroup(tmp_path_factory.mktemp("fake_ec2")) as servers:
        url = start_fake_ec2(servers, "--seed", "7").url
        wait_until(AdminClient(url).healthy, 20, "fake_ec2 to answer its health check")
        yield url


@pytest.fixture
def admin(fake_ec2_url: str) -> AdminClient:
    client = AdminClient(fake_ec2_url)
    client.reset(seed=7)
    return client


@pytest.fixture
def ec2(fake_ec2_url: str, admin: AdminClient) -> Any:
    return ec2_client(fake_ec2_url, region=REGION, single_attempt=True)


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
def spawn_fake_ec2(listening_servers: ServerGroup) -> Callable[..., ListeningServer]:
    """Factory starting extra standalone servers; all are stopped at teardown."""
    return functools.partial(start_fake_ec2, listening_servers)
