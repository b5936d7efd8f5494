"""Cluster backends: a real API server for the pipeline, and what `down` must undo.

- ``local``: etcd and the Kubernetes control plane as processes on loopback (no Docker);
- ``existing``: a cluster you already have, by kubeconfig (and context); the pipeline
  installs only its own labelled objects and `down` deletes exactly those;
- ``kind``: creates (or reuses) a kind cluster, then does what ``existing`` does.

``auto`` picks local when its binaries are present, else kind when Docker answers
and the kind CLI is installed, else fails with a message that says what to install.
The choice comes from ``--backend``, else ``EKSWIN_BACKEND``, else the spec's
``backend`` (default auto).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.backends.owned import ObjectRef, Refused
from harness.binaries import INSTALL_HINT, MissingBinaries, resolve_all

if TYPE_CHECKING:
    from harness.backends.info import ClusterInfo
    from harness.certs import CertificateAuthority
    from harness.process import Supervisor

BACKENDS = ("auto", "local", "existing", "kind")
KIND_INSTALL = "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
DOCKER_INSTALL = "https://docs.docker.com/engine/install/"


class BackendUnavailable(Refused):
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


def kind_prerequisites(
    docker: Callable[[], bool] = docker_available,
    which: Callable[[str], str | None] = shutil.which,
) -> None:
    """Raise BackendUnavailable naming what the kind backend lacks here (Docker, kind)."""
    missing = []
    if not docker():
        missing.append(
            "a running Docker engine (no engine answers `docker info`; install Docker: "
            f"{DOCKER_INSTALL}, or start it)"
        )
    if which("kind") is None:
        missing.append(
            f"the kind CLI on PATH (install it: {KIND_INSTALL}, e.g. "
            "`go install sigs.k8s.io/kind@latest`)"
        )
    if missing:
        raise BackendUnavailable(
            "the kind backend needs " + " and ".join(missing) + ". `--backend local` needs "
            "neither Docker nor kind (only the control-plane binaries `make setup` provides)."
        )


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
        kind_prerequisites()
        return "kind"
    if backend == "existing":
        return "existing"
    try:
        resolve_all()
        return "local"
    except MissingBinaries as e:
        if docker_available() and shutil.which("kind"):
            return "kind"
        raise BackendUnavailable(
            f"no backend available: {', '.join(e.missing)} missing for the local backend, "
            f"and no Docker engine with the kind CLI for the kind backend. {INSTALL_HINT}"
        ) from e


def requested_backend(
    flag: str | None, spec_backend: str, env: Mapping[str, str] | None = None
) -> str:
    """`--backend`, else ``EKSWIN_BACKEND``, else the spec's backend."""
    env = os.environ if env is None else env
    return flag or env.get("EKSWIN_BACKEND") or spec_backend or "auto"


@dataclass(frozen=True)
class BackendOptions:
    """Options of the existing and kind backends (`ekswin up` flags or EKSWIN_* variables)."""

    kubeconfig: Path | None = None
    context: str | None = None
    webhook_host: str | None = None
    reuse: bool = False
    keep_cluster: bool = False
    node_image: str | None = None
    join_address: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackendOptions:
        """From EKSWIN_KUBECONFIG, EKSWIN_CONTEXT, EKSWIN_WEBHOOK_HOST, EKSWIN_KIND_REUSE,
        EKSWIN_KIND_KEEP, EKSWIN_KIND_IMAGE and EKSWIN_JOIN_ADDRESS. KUBECONFIG is not
        read on purpose: the existing backend installs into a cluster only when told which."""
        env = os.environ if env is None else env
        path = env.get("EKSWIN_KUBECONFIG", "")
        return cls(
            kubeconfig=Path(path) if path else None,
            context=env.get("EKSWIN_CONTEXT") or None,
            webhook_host=env.get("EKSWIN_WEBHOOK_HOST") or None,
            reuse=env.get("EKSWIN_KIND_REUSE", "") in ("1", "true"),
            keep_cluster=env.get("EKSWIN_KIND_KEEP", "") in ("1", "true"),
            node_image=env.get("EKSWIN_KIND_IMAGE") or None,
            join_address=env.get("EKSWIN_JOIN_ADDRESS") or None,
        )


class ClusterBackend(Protocol):
    """What the pipeline needs from a cluster, and what `down` must undo.

    Every backend writes ``<run_dir>/kubeconfig`` (admin credentials, one context) and
    ``<run_dir>/cluster.json`` (harness.backends.info.ClusterInfo) when it starts.
    """

    backend: str
    name: str
    # Control-plane processes this backend runs, by name (empty when it runs none).
    components: dict[str, Any]

    @property
    def api(self) -> Any:
        """An admin kubernetes.client.ApiClient."""

    @property
    def server(self) -> str:
        """The API server URL."""

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig in the run directory."""

    @property
    def ca_file(self) -> Path:
        """The cluster CA certificate (what clients trust)."""

    @property
    def webhook_host(self) -> str:
        """The address at which the API server reaches webhooks served by this host."""

    @property
    def supervisor(self) -> Supervisor:
        """Where this environment's processes are supervised."""

    def start(self, progress: Callable[[str], None] | None = None) -> ClusterInfo:
        """Create (or connect to) the cluster; raise Refused (exit 2) when it cannot be used."""

    def preflight(self, objects: Iterable[ObjectRef], progress: Any = None) -> None:
        """Before the pipeline installs `objects`: raise Refused when it must not."""

    def install(self, manifests: Iterable[dict[str, Any]]) -> list[str]:
        """Create or replace objects as this environment's; return 'Kind ns/name' of each."""

    def webhook_url(self, local_url: str) -> str:
        """The URL the API server calls for a webhook this host serves at `local_url`."""

    def certificate_authority(self) -> CertificateAuthority:
        """The CA that signs webhook serving certificates (their caBundle)."""

    def issue_client_kubeconfig(self, user: str, groups: Sequence[str], path: Path) -> Path:
        """A kubeconfig with a client certificate for `user` in `groups`."""

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig with a token of ServiceAccount namespace/name."""

    def stop(self) -> None:
        """Stop this environment's processes and remove what it created (down)."""


# The pipeline's older name for the same protocol.
ClusterAccess = ClusterBackend


def make_backend(
    backend: str, run_dir: Path, name: str, options: BackendOptions | None = None
) -> ClusterBackend:
    """The backend object for a resolved backend name (`choose` first)."""
    options = options or BackendOptions.from_env()
    if backend == "local":
        from harness.backends.local import LocalCluster

        return LocalCluster(run_dir, name=name)
    if backend == "existing":
        from harness.backends.existing import ExistingCluster

        return ExistingCluster(
            run_dir,
            name,
            kubeconfig=options.kubeconfig,
            context=options.context,
            webhook_host=options.webhook_host,
            join_address=options.join_address,
        )
    if backend == "kind":
        from harness.backends.kind import KindCluster

        return KindCluster(run_dir, name, options)
    raise ValueError(f"backend {backend!r}: expected local, existing or kind (choose() first)")


def api_ready(run_dir: Path, timeout_s: float = 2.0) -> bool:
    """True when the API server of the run's kubeconfig answers /readyz."""
    from harness.identity import api_client

    try:
        api = api_client(run_dir / "kubeconfig")
    except Exception:
        return False
    try:
        resp = api.call_api(
            "/readyz",
            "GET",
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=timeout_s,
        )
        return bool(resp.status == 200)
    except Exception:
        return False
    finally:
        api.close()


def cleanup_run_dir(run_dir: Path) -> list[str]:
    """What `down` must still remove after the environment's process is gone: objects a
    crashed `existing`/`kind` run recorded as created, and a kind cluster it created.
    Returns problems (empty when all is clean)."""
    from harness.backends.info import ClusterInfo

    try:
        info = ClusterInfo.load(run_dir)
    except (FileNotFoundError, ValueError, TypeError):
        return []
    if info.backend == "local":
        return []
    from harness.backends.owned import Ledger, delete_owned
    from harness.identity import api_client

    problems: list[str] = []
    ledger = Ledger(run_dir, info.name)
    if ledger.refs() and (run_dir / "kubeconfig").exists():
        api = api_client(run_dir / "kubeconfig")
        try:
            problems += delete_owned(api, ledger)
        except Exception as e:
            problems.append(f"{type(e).__name__}: {e}")
        finally:
            api.close()
    if info.backend == "kind":
        from harness.backends.kind import delete_created_cluster

        problems += delete_created_cluster(run_dir, info)
    return problems


__all__ = [
    "BACKENDS",
    "BackendOptions",
    "BackendUnavailable",
    "ClusterAccess",
    "ClusterBackend",
    "ObjectRef",
    "Refused",
    "api_ready",
    "choose",
    "cleanup_run_dir",
    "docker_available",
    "kind_prerequisites",
    "make_backend",
    "requested_backend",
]
