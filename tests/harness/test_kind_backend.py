"""kind backend: config and arguments everywhere; a real cluster only where Docker runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends import docker_available
from harness.backends.kind import (
    KindCluster,
    create_args,
    delete_args,
    kind_config,
    webhook_host,
)


def test_config_keeps_api_server_on_loopback() -> None:
    cfg = kind_config()
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cfg["kind"] == "Cluster"
    assert cfg["networking"]["apiServerAddress"] == "127.0.0.1"
    assert cfg["networking"]["apiServerPort"] == 0  # kind picks a free port
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane"]


def test_create_and_delete_args(tmp_path: Path) -> None:
    args = create_args("dev", tmp_path / "c.yaml", tmp_path / "kc")
    assert args[:3] == ["kind", "create", "cluster"]
    assert args[args.index("--name") + 1] == "ekswin-dev"
    assert args[args.index("--config") + 1] == str(tmp_path / "c.yaml")
    assert args[args.index("--kubeconfig") + 1] == str(tmp_path / "kc")
    assert "--wait" in args
    d = delete_args("dev", tmp_path / "kc")
    assert d[:3] == ["kind", "delete", "cluster"] and "ekswin-dev" in d


def test_webhook_host_linux_uses_ipv4_gateway() -> None:
    inspect = [
        {
            "IPAM": {
                "Config": [
                    {"Subnet": "fc00:f853::/64", "Gateway": "fc00:f853::1"},
                    {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"},
                ]
            }
        }
    ]
    assert webhook_host(inspect, system="Linux") == "172.18.0.1"
    assert webhook_host(inspect, system="Darwin") == "host.docker.internal"
    with pytest.raises(RuntimeError, match="no IPv4 gateway"):
        webhook_host([{"IPAM": {"Config": []}}], system="Linux")


@pytest.mark.docker
def test_real_kind_cluster(tmp_path: Path) -> None:
    if not docker_available() or shutil.which("kind") is None:
        pytest.skip("needs a Docker engine and the kind CLI (runs in GitHub Actions)")
    cluster = KindCluster(tmp_path / "run", name="pytest")
    try:
        cluster.start()
        assert cluster.kubeconfig.exists()
    finally:
        cluster.stop()
