"""The standalone server's conventions and the human CLI, as subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from fake_hns.client import HnsClient, UnknownHostError
from harness.servers import ListeningServer

Spawn = Callable[..., ListeningServer]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fake_hns.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


def test_sigterm_stops_the_server_cleanly(spawn_hns: Spawn) -> None:
    server = spawn_hns("--seed", "1")
    proc, target = server.popen, server.url
    assert target.startswith("grpc://127.0.0.1:") and int(target.rsplit(":", 1)[1]) > 0
    client = HnsClient(target, "n1")
    client.create_host()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    client.close()


def test_seed_makes_ids_reproducible_across_processes(spawn_hns: Spawn, build: Any) -> None:
    ids = []
    for seed in ("5", "5", "6"):
        target = spawn_hns("--seed", seed).url
        with HnsClient(target, "node-x") as client:
            client.create_host()
            ids.append(client.create_network(build.network()).id)
    assert ids[0] == ids[1] != ids[2]


def test_cli_lists_a_host_for_a_human(spawn_hns: Spawn, build: Any) -> None:
    target = spawn_hns().url
    with HnsClient(target, "win-node-1") as hns:
        hns.create_host()
        network = hns.create_network(build.network("vpcbr0a"))
        ep = hns.create_endpoint(build.endpoint(network.id, "10.0.0.42", "cid-abc"))
        hns.create_load_balancer(build.lb([ep.id], "172.20.0.10"))
        shown = cli("--target", target, "--host", "win-node-1")
        assert shown.returncode == 0, shown.stderr
        for text in ("win-node-1", "vpcbr0a", "L2BRIDGE", "cid-abc", "10.0.0.42/24",
                     "172.20.0.10", "49152-49215", "1/256 blocks used"):  # fmt: skip
            assert text in shown.stdout, text
        hosts = cli("--target", target, "--list-hosts")
        assert hosts.returncode == 0 and "win-node-1" in hosts.stdout
        dumped = cli("--target", target, "--host", "win-node-1", "--json")
        assert json.loads(dumped.stdout)["hosts"]["win-node-1"]["endpoints"][0]["Name"] == "cid-abc"


def test_cli_unknown_host_fails_clearly(spawn_hns: Spawn) -> None:
    target = spawn_hns().url
    shown = cli("--target", target, "--host", "ghost")
    assert shown.returncode == 1
    assert "unknown host 'ghost'" in shown.stderr
    with HnsClient(target, "ghost") as client, pytest.raises(UnknownHostError):
        client.get_host()
