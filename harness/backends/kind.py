"""The `kind` backend: a real kind cluster, for machines with Docker (laptops, GitHub
Actions), then exactly what the `existing` backend does against it.

Fake Windows nodes are API objects exactly as with `local`; the API server (in the
kind node container) reaches webhooks on this host at the Docker network's gateway
(Linux) or host.docker.internal (Docker Desktop); the webhook's serving certificate
carries that address (harness.backends.reach.serving_sans).

Config generation, argument building and the gateway choice are plain functions,
tested everywhere; creating a cluster needs Docker and the kind CLI (without them:
BackendUnavailable naming what is missing).
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.backends import BackendOptions, kind_prerequisites
from harness.backends.existing import ExistingCluster
from harness.backends.info import ClusterInfo
from harness.backends.owned import Refused

KIND_CONFIG_API = "kind.x-k8s.io/v1alpha4"
DEFAULT_NODE_IMAGE = "kindest/node:v1.30.0"


def cluster_name(name: str) -> str:
    """The kind cluster name for an ekswin environment name."""
    return f"ekswin-{name}"


def kind_config(
    api_port: int = 0,
    service_cidr: str = "10.96.0.0/16",
    name: str | None = None,
    image: str | None = None,
    api_address: str = "127.0.0.1",
) -> dict[str, Any]:
    """A kind Cluster config: one control-plane node, API server on `api_address`
    (loopback unless asked otherwise), optionally the cluster name and node image."""
    node: dict[str, Any] = {"role": "control-plane"}
    if image:
        node["image"] = image
    cfg: dict[str, Any] = {
        "kind": "Cluster",
        "apiVersion": KIND_CONFIG_API,
        "networking": {
            "apiServerAddress": api_address,
            "apiServerPort": api_port,
            "serviceSubnet": service_cidr,
        },
        "nodes": [node],
    }
    if name:
        cfg["name"] = cluster_name(name)
    return cfg


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


def export_args(name: str, kubeconfig: Path) -> list[str]:
    """`kind export kubeconfig` argv (for a reused cluster)."""
    return [
        "kind",
        "export",
        "kubeconfig",
        "--name",
        cluster_name(name),
        "--kubeconfig",
        str(kubeconfig),
    ]


def get_clusters_args() -> list[str]:
    """`kind get clusters` argv."""
    return ["kind", "get", "clusters"]


def kubeconfig_context(name: str) -> str:
    """The context kind writes for the environment's cluster."""
    return f"kind-{cluster_name(name)}"


def control_plane_container(name: str) -> str:
    """The Docker container of the cluster's control-plane node."""
    return f"{cluster_name(name)}-control-plane"


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


def docker_gateway(name: str) -> str:
    """The gateway of the kind node container's network, as Docker reports it: through
    testcontainers (the `docker` extra) when installed, else `docker network inspect`."""
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        out = subprocess.run(
            ["docker", "network", "inspect", "kind"], capture_output=True, text=True, check=True
        ).stdout
        return webhook_host(json.loads(out), "Linux")
    docker = DockerClient()
    container = docker.client.containers.get(control_plane_container(name))
    gateway = docker.gateway_ip(container.id)
    if not gateway:
        raise RuntimeError(f"no IPv4 gateway for container {control_plane_container(name)}")
    return gateway


def host_address(name: str, system: str | None = None) -> str:
    """Where the kind API server reaches this host (webhook_host's rule, Docker asked)."""
    if (system or platform.system()) != "Linux":
        return "host.docker.internal"
    return docker_gateway(name)


class KindCluster(ExistingCluster):
    """Create (or, with `reuse`, reuse) a kind cluster, then run as `existing` against it;
    `stop` also deletes the cluster when this environment created it, unless
    `keep_cluster`."""

    backend = "kind"

    def __init__(
        self, run_dir: Path, name: str = "ekswin", options: BackendOptions | None = None
    ) -> None:
        opts = options or BackendOptions()
        run_dir = run_dir.resolve()
        super().__init__(
            run_dir,
            name,
            kubeconfig=run_dir / "kind-kubeconfig",
            context=kubeconfig_context(name),
            webhook_host=opts.webhook_host,
            join_address=opts.join_address,
        )
        self.options = opts
        self.created = False

    def extra_info(self) -> dict[str, Any]:
        """The kind cluster's name and whether `down` deletes it."""
        return {
            "cluster": cluster_name(self.name),
            "created": self.created,
            "keep_cluster": self.options.keep_cluster,
        }

    def _kind(self, argv: list[str], log: Path) -> None:
        with log.open("ab") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            from harness.process import tail

            raise RuntimeError(f"{' '.join(argv[:3])} failed ({done.returncode}):\n{tail(log)}")

    def exists(self) -> bool:
        """True when kind already has this environment's cluster."""
        out = subprocess.run(get_clusters_args(), capture_output=True, text=True, check=False)
        return cluster_name(self.name) in out.stdout.split()

    def start(self, progress: Any = None) -> ClusterInfo:
        """Create or reuse the cluster, export its kubeconfig, find the host address its
        API server reaches, then connect as `existing`."""
        say = progress or (lambda msg: None)
        kind_prerequisites()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / "kind.log"
        kubeconfig = self._source()
        if self.exists():
            if not self.options.reuse:
                raise Refused(
                    f"a kind cluster {cluster_name(self.name)!r} already exists: pass --reuse "
                    f"to use it, or delete it (`kind delete cluster --name "
                    f"{cluster_name(self.name)}`)"
                )
            say(f"reusing kind cluster {cluster_name(self.name)}")
            self._kind(export_args(self.name, kubeconfig), log)
        else:
            image = self.options.node_image or DEFAULT_NODE_IMAGE
            cfg = self.run_dir / "kind-config.yaml"
            cfg.write_text(yaml.safe_dump(kind_config(name=self.name, image=image)))
            say(f"kind create cluster {cluster_name(self.name)} ({image})")
            self.created = True  # from here on `down` deletes it (kind cleans up a failure)
            self._kind(create_args(self.name, cfg, kubeconfig, image), log)
        if not self._webhook_host:
            self._webhook_host = host_address(self.name)
        return super().start(progress)

    def stop(self) -> None:
        """As `existing`, then delete the cluster when this environment created it."""
        try:
            super().stop()
        finally:
            if self.created and not self.options.keep_cluster:
                subprocess.run(
                    delete_args(self.name, self._source()), capture_output=True, check=False
                )
                self.created = False


def delete_created_cluster(run_dir: Path, info: ClusterInfo) -> list[str]:
    """For `down` after a crashed run: delete the kind cluster it created (unless kept)."""
    if not info.extra.get("created") or info.extra.get("keep_cluster"):
        return []
    import shutil

    if shutil.which("kind") is None:
        return [f"kind cluster {info.extra.get('cluster')} left: the kind CLI is not on PATH"]
    name = info.name
    done = subprocess.run(
        delete_args(name, run_dir / "kind-kubeconfig"), capture_output=True, text=True, check=False
    )
    return [] if done.returncode == 0 else [f"kind delete cluster: {done.stderr.strip()}"]
