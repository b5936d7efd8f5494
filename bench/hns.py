"""fake_hns: endpoint create+delete round trips over gRPC on loopback, against a real
``python -m fake_hns --port 0`` process. Reports median and p99 of the round trip,
calls/s from one client, calls/s from 8 concurrent clients, and load-balancer creates/s."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from fake_hns.client import HnsClient, pb
from harness.servers import ListeningServer

NAME = "fake_hns: endpoint create+delete round trip over gRPC"
ROUNDS = 2000
WARMUP = 100
THREADS = 8
PER_THREAD = 250
LBS = 2000


def _network(client: HnsClient) -> str:
    client.create_host()
    return client.create_network(
        pb.Network(
            name="vpcbr-bench",
            type=pb.NETWORK_TYPE_L2BRIDGE,
            ipams=[pb.Ipam(subnets=[pb.Subnet(ip_address_prefix="10.0.0.0/16")])],
        )
    ).id


def _endpoint(network_id: str, ip: str) -> pb.Endpoint:
    return pb.Endpoint(
        name=f"cid-{ip}",
        host_compute_network=network_id,
        ip_configurations=[pb.IpConfig(ip_address=ip)],
        policies=[
            pb.EndpointPolicy(out_bound_nat=pb.OutboundNatPolicy(exceptions=["10.0.0.0/16"]))
        ],
    )


def _round_trips(client: HnsClient, network_id: str, n: int, third: int) -> list[float]:
    times = []
    for i in range(n):
        ip = f"10.{third}.{i // 250}.{i % 250 + 1}" if third else f"10.0.{i % 250}.{i // 250 + 1}"
        start = time.perf_counter()
        ep = client.create_endpoint(_endpoint(network_id, ip))
        client.delete_endpoint(ep.id)
        times.append(time.perf_counter() - start)
    return times


def run() -> list[str]:
    """Measure and return printable lines."""
    with (
        tempfile.TemporaryDirectory(prefix="ekswin-bench-hns-") as logs,
        ListeningServer.module("fake_hns", ["--port", "0", "--seed", "1"], Path(logs)) as server,
    ):
        target = server.url
        client = HnsClient(target, "bench-node")
        network_id = _network(client)
        _round_trips(client, network_id, WARMUP, 0)
        start = time.perf_counter()
        times = _round_trips(client, network_id, ROUNDS, 0)
        elapsed = time.perf_counter() - start
        times_ms = sorted(t * 1000 for t in times)
        p99 = times_ms[int(len(times_ms) * 0.99) - 1]

        # concurrent clients, each on its own node (one lock per node)
        clients = [HnsClient(target, f"bench-node-{t}") for t in range(THREADS)]
        nets = [_network(c) for c in clients]
        failures: list[BaseException] = []

        def worker(c: HnsClient, n: str) -> None:
            try:
                _round_trips(c, n, PER_THREAD, 0)
            except BaseException as err:  # surfaced below: a failed thread voids the figure
                failures.append(err)

        threads = [
            threading.Thread(target=worker, args=(c, n)) for c, n in zip(clients, nets, strict=True)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent = time.perf_counter() - start
        if failures:
            raise RuntimeError(f"concurrent round trips failed: {failures[0]!r}")

        # kube-proxy-like burst: DSR load balancers on one node
        ep = client.create_endpoint(_endpoint(network_id, "10.0.255.1"))
        start = time.perf_counter()
        for i in range(LBS):
            client.create_load_balancer(
                pb.LoadBalancer(
                    host_compute_endpoints=[ep.id],
                    frontend_vips=[f"172.20.{i // 250}.{i % 250 + 1}"],
                    port_mappings=[
                        pb.LoadBalancerPortMapping(protocol=6, internal_port=80, external_port=80)
                    ],
                    flags=1,
                )
            )
        lb_elapsed = time.perf_counter() - start
        for c in [client, *clients]:
            c.close()
    return [
        f"endpoint create+delete round trip ({ROUNDS} rounds, 1 client): "
        f"median {statistics.median(times_ms):.2f} ms, p99 {p99:.2f} ms",
        f"calls/s, 1 client:  {2 * ROUNDS / elapsed:,.0f}",
        f"calls/s, {THREADS} clients on {THREADS} nodes: "
        f"{2 * THREADS * PER_THREAD / concurrent:,.0f}",
        f"DSR load-balancer creates/s (1 client, up to {LBS} on one node): {LBS / lb_elapsed:,.0f}",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
