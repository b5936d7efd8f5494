"""The `kind` backend: a real kind cluster, for machines with Docker (laptops, GitHub
Actions). Fake Windows nodes are API objects exactly as with `local`; the webhook is
reached at the Docker network's gateway (Linux) or host.docker.internal (Docker Desktop).

Config generation and argument building are plain functions, tested everywhere;
starting a cluster needs Docker and is skipped cleanly without it.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

KIND_CONFIG_API = "kind.x-k8s.io/v1alpha4"
DEFAULT_NODE_IMAGE = "kindest/node:v1.30.0"


def cluster_name(name: str) -> str:
    """The kind cluster name for an ekswin environment name."""
    return f"ekswin-{name}"


def kind_config(api_port: int = 0, service_cidr: str = "10.96.0.0/16") -> dict[str, Any]:
    """A kind Cluster config: one control-plane node, API server on loopback only."""
    return {
        "kind": "Cluster",
        "apiVersion": KIND_CONFIG_API,
        "networking": {
            "apiServerAddress": "127.0.0.1",
            "apiServerPort": api_port,
            "serviceSubnet": service_cidr,
        },
        "nodes": [{"role": "control-plane"}],
    }


def create_args(
    name: str,
    config_path: Path,
    kubeconfig: Path,
    image: str = DEFAULT_NODE_IMAGE,
    wait: str = "120s",
) -> list[str]:
    """`kind create cluster` argv."""
    return [
        "kind",
        "create",
        "cluster",
        "--name",
        cluster_name(name),
        "--config",
        str(config_path),
        "--kubeconfig",
        str(kubeconfig),
        "--image",
        image,
        "--wait",
        wait,
        "--retain",
    ]


def delete_args(name: str, kubeconfig: Path) -> list[str]:
    """`kind delete cluster` argv."""
    return [
        "kind",
        "delete",
        "cluster",
        "--name",
        cluster_name(name),
        "--kubeconfig",
        str(kubeconfig),
    ]


def webhook_host(network_inspect: list[dict[str, Any]] | None, system: str | None = None) -> str:
    """Where pods in kind reach a server on the host: the `kind` network's IPv4 gateway on
    Linux, host.docker.internal on Docker Desktop (macOS, Windows)."""
    system = system or platform.system()
    if system != "Linux":
        return "host.docker.internal"
    for net in network_inspect or []:
        for cfg in net.get("IPAM", {}).get("Config", []) or []:
            gw = cfg.get("Gateway", "")
            if gw and ":" not in gw:
                return str(gw)
    raise RuntimeError("no IPv4 gateway on the docker network 'kind'")


class KindCluster:
    """Create and delete a kind cluster for an environment (Docker required)."""

    backend = "kind"

    def __init__(self, run_dir: Path, name: str = "ekswin") -> None:
        self.run_dir = run_dir.resolve()
        self.name = name
        self.kubeconfig = self.run_dir / "kubeconfig"

    def start(self, progress: Any = None) -> None:
        """Write the config and run `kind create cluster`."""
        if shutil.which("kind") is None:
            raise RuntimeError("the kind CLI is not on PATH (https://kind.sigs.k8s.io)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.run_dir / "kind-config.yaml"
        cfg.write_text(yaml.safe_dump(kind_config()))
        log = self.run_dir / "logs"
        log.mkdir(exist_ok=True)
        with (log / "kind.log").open("ab") as out:
            subprocess.run(
                create_args(self.name, cfg, self.kubeconfig),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def webhook_host(self) -> str:
        """The address the kind API server uses to reach host webhooks."""
        out = subprocess.run(
            ["docker", "network", "inspect", "kind"], capture_output=True, text=True, check=True
        ).stdout
        return webhook_host(json.loads(out))

    def stop(self) -> None:
        """`kind delete cluster` (idempotent)."""
        subprocess.run(delete_args(self.name, self.kubeconfig), capture_output=True, check=False)
