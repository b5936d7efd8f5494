"""Cluster backends: something that gives a kubeconfig for a real API server.

``local`` runs etcd and the Kubernetes control plane as local processes;
``kind`` (Docker only) runs a kind cluster. ``auto`` picks local when its
binaries are present, else kind when Docker answers, else fails with a message
that says what to install.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.binaries import INSTALL_HINT, MissingBinaries, resolve_all

if TYPE_CHECKING:
    from harness.certs import CertificateAuthority
    from harness.process import Supervisor

BACKENDS = ("auto", "local", "kind")


class BackendUnavailable(Exception):
    """No backend can run here; the message says what to install (exit status 2)."""


def docker_available() -> bool:
    """True when a Docker engine answers (not just the client binary)."""
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                timeout=5,
                check=False,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose(backend: str) -> str:
    """Resolve `auto` and check prerequisites; raise BackendUnavailable or ValueError."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "local":
        try:
            resolve_all()
        except MissingBinaries as e:
            raise BackendUnavailable(str(e)) from e
        return "local"
    if backend == "kind":
        if not docker_available():
            raise BackendUnavailable(
                "the kind backend needs a running Docker engine and the kind CLI; "
                "no Docker engine answers here. Use --backend local instead."
            )
        return "kind"
    try:
        resolve_all()
        return "local"
    except MissingBinaries as e:
        if docker_available() and shutil.which("kind"):
            return "kind"
        raise BackendUnavailable(
            f"no backend available: {e.missing and ', '.join(e.missing)} missing for the local "
            f"backend, and no Docker engine for kind. {INSTALL_HINT}"
        ) from e


class ClusterAccess(Protocol):
    """What the pipeline needs from a running cluster backend (LocalCluster today)."""

    @property
    def api(self) -> Any:
        """An admin kubernetes.client.ApiClient."""

    @property
    def server(self) -> str:
        """The API server URL."""

    @property
    def ca_file(self) -> Path:
        """The cluster CA certificate (the webhooks' caBundle)."""

    @property
    def webhook_host(self) -> str:
        """The address at which the API server reaches webhooks served by this host."""

    @property
    def supervisor(self) -> Supervisor:
        """Where this environment's processes are supervised."""

    def certificate_authority(self) -> CertificateAuthority:
        """The CA that signs serving certificates the API server trusts."""

    def issue_client_kubeconfig(
        self, user: str, groups: list[str] | tuple[str, ...], path: Path
    ) -> Path:
        """A kubeconfig with a client certificate for `user` in `groups`."""

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig with a token of ServiceAccount namespace/name."""
