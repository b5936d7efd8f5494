"""Fixtures: a real ``python -m fake_hns --port 0`` subprocess and per-test HNS clients."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fake_hns.client import HnsClient, l2bridge_network, pb
from harness.servers import ListeningServer, ServerGroup
from harness.waiting import wait_until

_counter = itertools.count()


def start_fake_hns(servers: ServerGroup, *extra: str) -> ListeningServer:
    """Start the standalone server (its first stdout line is checked); `.url` is grpc://."""
    server = servers.start("fake_hns", ["--port", "0", *extra])
    assert server.url.startswith("grpc://127.0.0.1:"), server.url
    return server


def wait_serving(target: str, timeout: float = 20.0) -> None:
    """Poll the gRPC health service until SERVING."""
    with grpc.insecure_channel(target.removeprefix("grpc://")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
            except grpc.RpcError:
                return False
            return bool(status == health_pb2.HealthCheckResponse.SERVING)

        wait_until(serving, timeout, f"fake_hns at {target} to be SERVING")


@pytest.fixture(scope="session")
def hns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ListeningServer]:
    """One server process for the session (seed 7)."""
    with ServerGroup(tmp_path_factory.mktemp("fake_hns")) as servers:
        server = start_fake_hns(servers, "--seed", "7")
        wait_serving(server.url)
        yield server


@pytest.fixture(scope="session")
def hns_target(hns_server: ListeningServer) -> str:
    """The server's grpc:// address."""
    return hns_server.url


@pytest.fixture
def make_host(
    hns_target: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., HnsClient]]:
    """Factory: a fresh, uniquely named host (node) and a client for it; deleted afterwards."""
    clients: list[HnsClient] = []

    def make(windows_build: str = "ltsc2019", **fields: Any) -> HnsClient:
        # A node name (DNS-1123): the test's name lowercased, other characters as '-'.
        base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
        name = f"{base}-{next(_counter)}"
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
    return l2bridge_network(name, prefix, prefix.rsplit(".", 1)[0] + ".1")


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
def spawn_hns(listening_servers: ServerGroup) -> Callable[..., ListeningServer]:
    """Factory starting extra standalone servers; all are stopped at teardown."""
    return functools.partial(start_fake_hns, listening_servers)
