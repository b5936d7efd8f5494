"""fake_ec2 vs stock moto: AssignPrivateIpAddresses + UnassignPrivateIpAddresses round trips
through boto3, each server in its own process. Target: our rules cost < 1.5x stock moto."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.servers import ListeningServer
from harness.testing import ec2_client

NAME = "fake_ec2: assign/unassign round trip vs stock moto"
ROUNDS = 300
WARMUP = 20

_STOCK_MOTO = (
    "import signal, threading, sys\n"
    "from moto.server import ThreadedMotoServer\n"
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "s.start()\n"
    "host, port = s.get_host_and_port()\n"
    "print(f'listening on http://127.0.0.1:{port}', flush=True)\n"
    "stop = threading.Event()\n"
    "signal.signal(signal.SIGTERM, lambda *_: stop.set())\n"
    "stop.wait()\n"
    "s.stop()\n"
)


def _measure(url: str) -> dict[str, float]:
    ec2: Any = ec2_client(url, single_attempt=True)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/16")["Subnet"]["SubnetId"]
    inst = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=subnet
    )["Instances"][0]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    samples: list[float] = []
    started = time.perf_counter()
    for i in range(WARMUP + ROUNDS):
        t0 = time.perf_counter()
        resp = ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1
        )
        ips = [a["PrivateIpAddress"] for a in resp["AssignedPrivateIpAddresses"]]
        # Stock moto lists every address of the ENI: unassign all secondaries either way.
        primary = inst["PrivateIpAddress"]
        ec2.unassign_private_ip_addresses(
            NetworkInterfaceId=eni, PrivateIpAddresses=[ip for ip in ips if ip != primary]
        )
        if i == WARMUP:
            started = time.perf_counter()
        if i >= WARMUP:
            samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "median_ms": statistics.median(samples) * 1000,
        "p99_ms": samples[int(len(samples) * 0.99) - 1] * 1000,
        "calls_per_s": 2 * len(samples) / elapsed,
    }


def run() -> list[str]:
    """Measure both servers in this run and print the ratio."""
    results: dict[str, dict[str, float]] = {}
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with tempfile.TemporaryDirectory(prefix="ekswin-bench-ec2-") as logs:
        for name, log, argv in (
            ("stock moto", "moto", [sys.executable, "-c", _STOCK_MOTO]),
            ("fake_ec2", "fake_ec2", [sys.executable, "-m", "fake_ec2", "--port", "0"]),
        ):
            with ListeningServer(argv, Path(logs), log, env=env).start() as server:
                results[name] = _measure(server.url)
    lines = [
        f"{name:10s}  median {r['median_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
        f"{r['calls_per_s']:7.1f} calls/s  ({ROUNDS} round trips on a /16)"
        for name, r in results.items()
    ]
    ratio = results["fake_ec2"]["median_ms"] / results["stock moto"]["median_ms"]
    verdict = "OK" if ratio < 1.5 else "OVER TARGET"
    lines.append(f"median ratio fake_ec2 / stock moto = {ratio:.2f}x (target < 1.5x: {verdict})")
    return lines
