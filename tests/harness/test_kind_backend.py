"""kind backend: config and arguments everywhere; a real cluster only where Docker runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends import BackendUnavailable, docker_available
from harness.backends.info import ClusterInfo
from harness.backends.kind import (
    KindCluster,
    control_plane_container,
    create_args,
    delete_args,
    delete_created_cluster,
    export_args,
    host_address,
    kind_config,
    kubeconfig_context,
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


def test_config_with_name_image_and_address() -> None:
    cfg = kind_config(name="dev", image="kindest/node:v1.31.0", api_address="127.0.0.1")
    assert cfg["name"] == "ekswin-dev"
    assert cfg["nodes"] == [{"role": "control-plane", "image": "kindest/node:v1.31.0"}]
    assert kind_config()["nodes"] == [{"role": "control-plane"}] and "name" not in kind_config()


def test_reuse_and_naming(tmp_path: Path) -> None:
    kc = str(tmp_path / "kc")
    assert export_args("dev", tmp_path / "kc") == [
        "kind", "export", "kubeconfig", "--name", "ekswin-dev", "--kubeconfig", kc,
    ]  # fmt: skip
    assert kubeconfig_context("dev") == "kind-ekswin-dev"
    assert control_plane_container("dev") == "ekswin-dev-control-plane"
    args = create_args("dev", tmp_path / "c.yaml", tmp_path / "kc", image="kindest/node:v1.31.0")
    assert args[args.index("--image") + 1] == "kindest/node:v1.31.0"


def test_docker_desktop_reaches_the_host_by_name() -> None:
    assert host_address("dev", system="Darwin") == "host.docker.internal"
    assert host_address("dev", system="Windows") == "host.docker.internal"


def test_start_without_docker_or_kind_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cluster = KindCluster(tmp_path / "run", name="nodocker")
    with pytest.raises(BackendUnavailable) as e:
        cluster.start()
    assert "Docker engine" in str(e.value) and "kind CLI" in str(e.value)
    assert not (tmp_path / "run" / "kind-config.yaml").exists()  # nothing attempted


def test_down_deletes_only_a_cluster_it_created(tmp_path: Path) -> None:
    def info(**extra: object) -> ClusterInfo:
        return ClusterInfo("dev", "kind", "", "", "", "", "", "", "", 0.0, dict(extra))

    # Reused or kept clusters are left alone (no kind call is made at all).
    assert delete_created_cluster(tmp_path, info(created=False, cluster="ekswin-dev")) == []
    assert delete_created_cluster(tmp_path, info(created=True, keep_cluster=True)) == []


@pytest.mark.docker
def test_existing_pipeline_on_a_real_kind_cluster(tmp_path: Path) -> None:
    """Runs where Docker and kind are (GitHub Actions): up, a Windows pod Running, down."""
    import json
    import os
    import subprocess
    import sys

    if not docker_available() or shutil.which("kind") is None:
        pytest.skip("needs a Docker engine and the kind CLI (runs in GitHub Actions)")
    env = {**os.environ, "EKSWIN_STATE_DIR": str(tmp_path / "state")}
    cli = [sys.executable, "-m", "harness.cli"]
    up = subprocess.run(
        [*cli, "up", "--backend", "kind", "--name", "pytest-kind", "--windows-nodes", "1",
         "--timing", "fast", "--detach", "--no-merge"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        st = subprocess.run(
            [*cli, "status", "--name", "pytest-kind", "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        status = json.loads(st.stdout)
        assert status["running"] and [n["name"] for n in status["nodes"]] == ["win-0"]
    finally:
        down = subprocess.run(
            [*cli, "down", "--name", "pytest-kind"], env=env, capture_output=True, text=True
        )
    assert down.returncode == 0, down.stderr
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True)
    assert "ekswin-pytest-kind" not in clusters.stdout.split()
