"""Cluster backends: something that gives a kubeconfig for a real API server.

``local`` runs etcd and the Kubernetes control plane as local processes;
``kind`` (Docker only) runs a kind cluster. ``auto`` picks local when its
binaries are present, else kind when Docker answers, else fails with a message
that says what to install.
"""

from __future__ import annotations

import shutil
import subprocess

from harness.binaries import INSTALL_HINT, MissingBinaries, resolve_all

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
