"""Fixtures: a real ``python -m fake_hns --port 0`` subprocess and per-test HNS clients."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fake_hns.client import HnsClient, pb

_counter = itertools.count()


def start_fake_hns(*extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start the standalone server; return the process and its grpc:// address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_hns", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first.startswith("listening on grpc://127.0.0.1:"):
        stop_process(proc)
        raise AssertionError(f"unexpected first line {first!r}")
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


def wait_serving(target: str, timeout: float = 20.0) -> None:
    """Poll the gRPC health service until SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target.removeprefix("grpc://")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            assert time.monotonic() < deadline, f"fake_hns at {target} never became SERVING"
            time.sleep(0.05)


@pytest.fixture(scope="session")
def hns_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """One server process for the session (seed 7)."""
    proc, target = start_fake_hns("--seed", "7")
    wait_serving(target)
    yield proc, target
    stop_process(proc)


@pytest.fixture(scope="session")
def hns_target(hns_server: tuple[subprocess.Popen[str], str]) -> str:
    """The server's grpc:// address."""
    return hns_server[1]


@pytest.fixture
def make_host(
    hns_target: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., HnsClient]]:
    """Factory: a fresh, uniquely named host (node) and a client for it; deleted afterwards."""
    clients: list[HnsClient] = []

    def make(windows_build: str = "ltsc2019", **fields: Any) -> HnsClient:
        name = f"{request.node.name[:40]}-{next(_counter)}"
        client = HnsClient(hns_target, name)
        client.create_host(windows_build, **fields)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.delete_host()
        client.close()


@pytest.fixture
def hns(make_host: Callable[..., HnsClient]) -> HnsClient:
    """A client on a fresh ltsc2019 host."""
    return make_host()


def l2bridge(name: str = "vpcbr0a1b2c3d4e5f", prefix: str = "10.0.0.0/24") -> pb.Network:
    """The network the AWS vpc-bridge CNI creates: L2Bridge, one subnet, default route."""
    gateway = prefix.rsplit(".", 1)[0] + ".1"
    return pb.Network(
        name=name,
        type=pb.NETWORK_TYPE_L2BRIDGE,
        ipams=[
            pb.Ipam(
                type="Static",
                subnets=[
                    pb.Subnet(
                        ip_address_prefix=prefix,
                        routes=[pb.Route(next_hop=gateway, destination_prefix="0.0.0.0/0")],
                    )
                ],
            )
        ],
    )


def pod_endpoint(network_id: str, ip: str, name: str = "") -> pb.Endpoint:
    """An endpoint as the CNI creates it: one IPv4, OutBoundNAT with exceptions, routes."""
    return pb.Endpoint(
        name=name or f"cid-{ip.replace('.', '-')}",
        host_compute_network=network_id,
        ip_configurations=[pb.IpConfig(ip_address=ip)],
        policies=[
            pb.EndpointPolicy(
                out_bound_nat=pb.OutboundNatPolicy(exceptions=["10.0.0.0/16", "172.20.0.0/16"])
            ),
            pb.EndpointPolicy(
                sdn_route=pb.SdnRoutePolicy(destination_prefix="172.20.0.0/16", need_encap=True)
            ),
        ],
    )


def lb_message(
    backends: list[str], vip: str, port: int = 80, *, dsr: bool = False, protocol: int = 6
) -> pb.LoadBalancer:
    """A ClusterIP-style load balancer on ``vip:port``."""
    return pb.LoadBalancer(
        host_compute_endpoints=backends,
        source_vip="10.0.0.10",
        frontend_vips=[vip] if vip else [],
        port_mappings=[
            pb.LoadBalancerPortMapping(protocol=protocol, internal_port=8080, external_port=port)
        ],
        flags=1 if dsr else 0,
    )


class Builders:
    """Message builders handed to tests as the ``build`` fixture."""

    network = staticmethod(l2bridge)
    endpoint = staticmethod(pod_endpoint)
    lb = staticmethod(lb_message)


@pytest.fixture
def build() -> type[Builders]:
    """Message builders (importing conftest from tests is unreliable under importlib)."""
    return Builders


@pytest.fixture
def spawn_hns() -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Factory starting extra standalone servers; all are stopped at teardown."""
    procs: list[subprocess.Popen[str]] = []

    def spawn(*extra: str) -> tuple[subprocess.Popen[str], str]:
        proc, target = start_fake_hns(*extra)
        procs.append(proc)
        return proc, target

    yield spawn
    for proc in procs:
        stop_process(proc)
