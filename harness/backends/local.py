"""The `local` backend: etcd + kube-apiserver + kube-controller-manager + kube-scheduler
as local processes on loopback, with generated certificates and RBAC on. No Docker.

Layout of a run directory::

    pki/          CA, serving and client certificates, service-account keys
    logs/         one log per component
    kubeconfig    the admin kubeconfig (system:masters)
    components/   per-component kubeconfigs (own identities, never admin) and the
                  ServiceAccount token files the harness keeps fresh
    cluster.json  what status/down and other processes need to find the cluster

The run directory and pki/ are owner-only (0700) and every key, token and kubeconfig
is created 0600. etcd serves TLS on loopback and accepts only clients with a
certificate from the cluster CA (the API server's ``apiserver-etcd-client``), so nothing
else on the machine reads the cluster's Secrets from it.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import identity
from harness import kubeconfig as kc
from harness.backends.info import ClusterInfo
from harness.binaries import Resolved, resolve_all
from harness.certs import CertificateAuthority, KeyPair, service_account_keys
from harness.components import Component, Probe
from harness.kube import audit
from harness.netutil import LOOPBACK, admin_ssl_context, free_port, https_ok, insecure_context
from harness.privfiles import private_dir
from harness.process import ComponentFailed, Supervisor

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_FIRST_IP = "10.96.0.1"
CLUSTER_CIDR = "10.244.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass
class NodeMonitor:
    """kube-controller-manager node lifecycle timings (real defaults; scalable for tests)."""

    grace_period_s: int = 40
    monitor_period_s: int = 5


def _etcd_data_dir(name: str) -> Path:
    """A fresh etcd data dir, on tmpfs when there is one.

    etcd 3.4 has no --unsafe-no-fsync: a tmpfs data dir keeps writes fast. The name
    carries the creating process's pid, so dirs left by a process that was killed
    before it could clean up (they hold memory) are removed by the next start.
    """
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and _writable(shm) else Path(tempfile.gettempdir())
    _remove_orphaned_etcd_dirs(base)
    return Path(tempfile.mkdtemp(prefix=f"ekswin-etcd-{name}-{os.getpid()}-", dir=base))


def _remove_orphaned_etcd_dirs(base: Path) -> None:
    for path in base.glob("ekswin-etcd-*-*-*"):
        pid = path.name.rsplit("-", 2)[-2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass


def _writable(path: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


class LocalCluster:
    """Start/stop a local control plane in `run_dir`. Use as a context manager."""

    backend = "local"

    def __init__(
        self,
        run_dir: Path,
        name: str = "ekswin",
        node_monitor: NodeMonitor | None = None,
        start_timeout_s: float = 60.0,
        apiserver_args: Sequence[str] = (),
    ) -> None:
        """`apiserver_args` are appended to kube-apiserver's flags."""
        self.name = name
        self.apiserver_args = tuple(apiserver_args)
        self.run_dir = run_dir.resolve()
        self.pki = self.run_dir / "pki"
        self.node_monitor = node_monitor or NodeMonitor()
        self.start_timeout_s = start_timeout_s
        self.supervisor = Supervisor(self.run_dir)
        self.info: ClusterInfo | None = None
        self.components: dict[str, Component] = {}  # by supervisor name, once started
        self.ca: CertificateAuthority | None = None
        self._etcd_data: Path | None = None
        self._api: Any = None
        self.token_ttl_s = identity.TOKEN_TTL_S
        self.tokens = identity.refresher_for(lambda: self.api, lambda: self.token_ttl_s)

    # -- public surface --------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig path."""
        return self.run_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The cluster CA certificate."""
        return self.pki / "ca.crt"

    @property
    def webhook_host(self) -> str:
        """The address at which the API server reaches webhooks served by this host."""
        return LOOPBACK

    @property
    def server(self) -> str:
        """The API server URL."""
        assert self.info is not None, "cluster not started"
        return self.info.server

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, progress: Any = None) -> ClusterInfo:
        """Generate certificates, start every component and wait until each is ready.

        On failure everything started so far is stopped and ComponentFailed names the
        component with the tail of its log.
        """
        step = progress or (lambda msg: None)
        bins = resolve_all()
        private_dir(self.run_dir)
        try:
            step("generating certificates")
            ports = {k: free_port() for k in ("etcd", "etcd_peer", "apiserver", "kcm", "sched")}
            server = f"https://{LOOPBACK}:{ports['apiserver']}"
            self._write_pki(server)
            self._etcd_data = _etcd_data_dir(self.name)
            self.info = ClusterInfo(
                name=self.name,
                backend="local",
                server=server,
                kubeconfig=str(self.kubeconfig),
                ca_file=str(self.ca_file),
                run_dir=str(self.run_dir),
                webhook_host=LOOPBACK,
                service_cidr=SERVICE_CIDR,
                etcd_data=str(self._etcd_data),
                started_at=time.time(),
                etcd_url=f"https://{LOOPBACK}:{ports['etcd']}",
            )
            self.info.save(self.run_dir)
            ctx = self.admin_ssl_context()
            insecure = insecure_context()
            step("starting etcd")
            etcd = self._etcd(bins["etcd"], ports).start(self.supervisor)
            step("starting kube-apiserver")
            audit.write_policy(self.run_dir)
            api = self._apiserver(bins["kube-apiserver"], ports, ctx).start(self.supervisor)
            self.components = {"etcd": etcd, "kube-apiserver": api}
            etcd.wait_ready(self.start_timeout_s)
            step("waiting for kube-apiserver /readyz")
            api.wait_ready(self.start_timeout_s)
            step("starting kube-controller-manager and kube-scheduler")
            kcm = self._kcm(bins["kube-controller-manager"], ports, insecure)
            sched = self._scheduler(bins["kube-scheduler"], ports, insecure)
            for comp in (kcm, sched):
                comp.start(self.supervisor)
                self.components[comp.name] = comp
            for comp in (kcm, sched):
                comp.wait_ready(self.start_timeout_s)
            step("waiting until pods can be created (default service account)")
            Probe(
                lambda: pods_admitted(server, ctx),
                "creating the default service account's token",
            ).wait(self.supervisor.get("kube-controller-manager"), self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.info

    def stop(self) -> None:
        """Stop every component (process groups, SIGKILL after a short grace)."""
        self.tokens.stop()
        if self._api is not None:
            self._api.close()
            self._api = None
        self.supervisor.stop_all()
        data = self._etcd_data or (Path(self.info.etcd_data) if self.info else None)
        if data is not None and data.exists():
            shutil.rmtree(data, ignore_errors=True)

    def admin_ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the cluster CA and presenting the admin certificate."""
        return admin_ssl_context(self.run_dir)

    def issue_client_kubeconfig(self, user: str, groups: Sequence[str], path: Path) -> Path:
        """A kubeconfig with a client certificate for `user` in `groups`, signed by the CA."""
        ca = self.certificate_authority()
        pair = ca.issue_client(user, tuple(groups))
        config = kc.build(
            self.name, self.server, ca.cert_pem, cert_pem=pair.cert_pem, key_pem=pair.key_pem
        )
        return kc.write(path, config)

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig for ServiceAccount namespace/name: a TokenRequest token in
        ``<path stem>.token``, rewritten before it expires while this cluster runs."""
        return identity.cluster_service_account_kubeconfig(self, namespace, name, path)

    @property
    def api(self) -> Any:
        """An admin kubernetes.client.ApiClient (created on first use)."""
        if self._api is None:
            self._api = identity.api_client(self.kubeconfig)
        return self._api

    def certificate_authority(self) -> CertificateAuthority:
        """The cluster CA (loaded from the run directory when this object did not make it)."""
        if self.ca is None:
            self.ca = CertificateAuthority.load(self.ca_file, self.pki / "ca.key")
        return self.ca

    def preflight(self, objects: Any, progress: Any = None) -> None:
        """Nothing to check: this environment created the cluster a moment ago."""

    def install(self, manifests: Any) -> list[str]:
        """Create or replace objects, labelled as this environment's like on any backend
        (`down` stops the whole cluster, so nothing is recorded for deletion)."""
        from harness.backends.owned import owner_labels
        from harness.manifests import apply

        labelled = []
        for m in manifests:
            meta = dict(m.get("metadata") or {})
            meta["labels"] = {**(meta.get("labels") or {}), **owner_labels(self.name)}
            labelled.append({**m, "metadata": meta})
        return apply(self.api, labelled)

    def webhook_url(self, local_url: str) -> str:
        """The API server runs on this host's loopback: it calls webhooks where they listen."""
        return local_url

    # -- internals -------------------------------------------------------------------
    def _write_pki(self, server: str) -> None:
        private_dir(self.pki)
        private_dir(self.run_dir / "components")
        ca = self.ca = CertificateAuthority(f"ekswin-{self.name}-ca")
        ca.pair().write(self.ca_file, self.pki / "ca.key")
        ca.issue_server(
            "kube-apiserver",
            dns=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=[LOOPBACK, SERVICE_FIRST_IP],
        ).write(self.pki / "apiserver.crt", self.pki / "apiserver.key")
        # etcd's serving certificate and the one client it accepts (the API server).
        ca.issue_server("etcd", dns=["localhost"], ips=[LOOPBACK], client_auth=True).write(
            self.pki / "etcd.crt", self.pki / "etcd.key"
        )
        ca.issue_client("kube-apiserver-etcd-client").write(
            self.pki / "apiserver-etcd-client.crt", self.pki / "apiserver-etcd-client.key"
        )
        sa = service_account_keys()
        sa.write(self.pki / "sa.pub", self.pki / "sa.key")
        identities = {
            "admin": ("kubernetes-admin", ["system:masters"]),
            "kube-controller-manager": ("system:kube-controller-manager", []),
            "kube-scheduler": ("system:kube-scheduler", []),
        }
        for file, (user, groups) in identities.items():
            pair = ca.issue_client(user, groups)
            pair.write(self.pki / f"{file}.crt", self.pki / f"{file}.key")
            target = self.kubeconfig if file == "admin" else self._component_kubeconfig(file)
            kc.write(
                target,
                kc.build(
                    self.name, server, ca.cert_pem, cert_pem=pair.cert_pem, key_pem=pair.key_pem
                ),
            )

    def _component_kubeconfig(self, name: str) -> Path:
        return self.run_dir / "components" / f"{name}.kubeconfig"

    def etcd_client_context(self) -> ssl.SSLContext:
        """TLS context for etcd's client URL: the cluster CA and the API server's etcd
        client certificate (etcd refuses a client without one)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(
            str(self.pki / "apiserver-etcd-client.crt"), str(self.pki / "apiserver-etcd-client.key")
        )
        return ctx

    def _etcd(self, binary: Resolved, ports: dict[str, int]) -> Component:
        client = f"https://{LOOPBACK}:{ports['etcd']}"
        peer = f"https://{LOOPBACK}:{ports['etcd_peer']}"
        p = self.pki
        tls = [
            # Clients and the (single-member) peer listener both need a CA-signed cert.
            f"--cert-file={p / 'etcd.crt'}",
            f"--key-file={p / 'etcd.key'}",
            "--client-cert-auth",
            f"--trusted-ca-file={self.ca_file}",
            f"--peer-cert-file={p / 'etcd.crt'}",
            f"--peer-key-file={p / 'etcd.key'}",
            "--peer-client-cert-auth",
            f"--peer-trusted-ca-file={self.ca_file}",
        ]
        ctx = self.etcd_client_context()
        return Component(
            "etcd",
            [
                str(binary.path),
                "--name",
                "default",
                "--data-dir",
                str(self._etcd_data),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"default={peer}",
                "--log-level",
                "warn",
                "--snapshot-count",
                "100000",
                *tls,
            ],
            Probe(lambda: https_ok(f"{client}/health", ctx), "healthy", client),
        )

    def _apiserver(self, binary: Resolved, ports: dict[str, int], ctx: ssl.SSLContext) -> Component:
        p = self.pki
        server = f"https://{LOOPBACK}:{ports['apiserver']}"
        return Component(
            "kube-apiserver",
            _flags(
                "kube-apiserver",
                binary,
                [
                    str(binary.path),
                    f"--etcd-servers=https://{LOOPBACK}:{ports['etcd']}",
                    f"--etcd-cafile={self.ca_file}",
                    f"--etcd-certfile={p / 'apiserver-etcd-client.crt'}",
                    f"--etcd-keyfile={p / 'apiserver-etcd-client.key'}",
                    f"--bind-address={LOOPBACK}",
                    f"--advertise-address={LOOPBACK}",
                    f"--secure-port={ports['apiserver']}",
                    "--insecure-port=0",
                    f"--tls-cert-file={p / 'apiserver.crt'}",
                    f"--tls-private-key-file={p / 'apiserver.key'}",
                    f"--client-ca-file={p / 'ca.crt'}",
                    f"--service-account-key-file={p / 'sa.pub'}",
                    f"--service-account-signing-key-file={p / 'sa.key'}",
                    f"--service-account-issuer={SA_ISSUER}",
                    "--authorization-mode=Node,RBAC",
                    "--enable-admission-plugins=NodeRestriction",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--allow-privileged=true",
                    "--profiling=false",
                    # One local client drives hundreds of objects a second: lift the in-flight caps.
                    "--max-requests-inflight=1000",
                    "--max-mutating-requests-inflight=500",
                    "--enable-priority-and-fairness=false",
                    "--event-ttl=1h",
                    "--v=1",
                    *audit.apiserver_flags(self.run_dir),  # what the user changes
                    *self.apiserver_args,
                ],
            ),
            Probe(lambda: https_ok(f"{server}/readyz", ctx), "ready (/readyz)", server),
            stop_grace_s=1.0,
        )  # kube-apiserver ignores SIGTERM for a long time (FACTS.md)

    def _kcm(self, binary: Resolved, ports: dict[str, int], insecure: ssl.SSLContext) -> Component:
        cfg = self._component_kubeconfig("kube-controller-manager")
        nm = self.node_monitor
        health = f"https://{LOOPBACK}:{ports['kcm']}/healthz"
        return Component(
            "kube-controller-manager",
            _flags(
                "kube-controller-manager",
                binary,
                [
                    str(binary.path),
                    f"--kubeconfig={cfg}",
                    f"--authentication-kubeconfig={cfg}",
                    f"--authorization-kubeconfig={cfg}",
                    f"--bind-address={LOOPBACK}",
                    f"--secure-port={ports['kcm']}",
                    "--port=0",
                    "--controllers=*,-nodeipam",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={self.pki / 'sa.key'}",
                    f"--root-ca-file={self.ca_file}",
                    "--use-service-account-credentials=true",
                    f"--cluster-signing-cert-file={self.ca_file}",
                    f"--cluster-signing-key-file={self.pki / 'ca.key'}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--node-monitor-grace-period={nm.grace_period_s}s",
                    f"--node-monitor-period={nm.monitor_period_s}s",
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                    "--v=1",
                ],
            ),
            Probe(lambda: https_ok(health, insecure), "healthy"),
            stop_grace_s=1.0,
        )

    def _scheduler(
        self, binary: Resolved, ports: dict[str, int], insecure: ssl.SSLContext
    ) -> Component:
        cfg = self._component_kubeconfig("kube-scheduler")
        health = f"https://{LOOPBACK}:{ports['sched']}/healthz"
        return Component(
            "kube-scheduler",
            _flags(
                "kube-scheduler",
                binary,
                [
                    str(binary.path),
                    f"--kubeconfig={cfg}",
                    f"--authentication-kubeconfig={cfg}",
                    f"--authorization-kubeconfig={cfg}",
                    f"--bind-address={LOOPBACK}",
                    f"--secure-port={ports['sched']}",
                    "--port=0",
                    "--leader-elect=false",
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                    "--v=1",
                ],
            ),
            Probe(lambda: https_ok(health, insecure), "healthy"),
            stop_grace_s=1.0,
        )


def _flags(component: str, binary: Resolved, flags: list[str]) -> list[str]:
    """The binary's path and those of `flags` its version still has (harness.backends.versions)."""
    from harness.backends.versions import binary_version, supported

    try:
        version = binary_version(binary.path)
    except (ValueError, OSError, subprocess.TimeoutExpired):
        # No version to read: pass no removed flag and let the binary speak for itself.
        version = (1, 10**6)
    return [str(binary.path), *supported(component, flags[1:], version)]


_PROBE_POD = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ekswin-readiness-probe"},
        "spec": {"containers": [{"name": "c", "image": "probe"}]},
    }
).encode()


def pods_admitted(server: str, ctx: ssl.SSLContext) -> bool:
    """True once a pod in `default` passes admission (a dry run): on 1.20 that needs the
    token controller to have created the default service account's token first."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{server}/api/v1/namespaces/default/pods?dryRun=All",
        data=_PROBE_POD,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return bool(200 <= resp.status < 300)
    except urllib.error.HTTPError:
        return False


__all__ = ["ClusterInfo", "ComponentFailed", "KeyPair", "LocalCluster", "NodeMonitor"]
