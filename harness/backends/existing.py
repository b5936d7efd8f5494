"""The `existing` backend: a cluster you already have, reached through your kubeconfig.

The pipeline runs on this host (fake EC2, fake HNS, the controller, the node agent);
the cluster gets only what the pipeline installs, labelled and recorded as this
environment's (harness.backends.owned), and `down` deletes exactly that.

Identities, without the cluster CA's key:
- nodes (and any other client-certificate user) obtain certificates through the CSR
  API, approved by the harness and signed by the cluster (harness.backends.csr);
- ServiceAccounts (the controller, kube-proxy) get TokenRequest tokens;
- the webhook's serving certificate comes from a CA of this environment (its caBundle),
  created in the run directory.

Before anything is installed, :meth:`preflight` refuses (harness.backends.owned.Refused,
exit status 2) when an object the pipeline would install exists and is not this
environment's, and probes that the API server reaches webhooks at the webhook host.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness import identity
from harness import kubeconfig as kc
from harness.backends import csr
from harness.backends.info import ClusterInfo
from harness.backends.owned import (
    ForeignObjects,
    Ledger,
    ObjectRef,
    Refused,
    delete_owned,
    foreign,
    install,
    owner_labels,
)
from harness.backends.reach import TcpRelay, probe_webhook_host
from harness.certs import CertificateAuthority
from harness.netutil import LOOPBACK
from harness.process import Supervisor

NODE_LEASE_NAMESPACE = "kube-node-lease"
CONNECT_TIMEOUT_S = 10.0


class ClusterUnreachable(Refused):
    """The kubeconfig's API server does not answer (or refuses these credentials)."""


def default_webhook_host(server: str) -> str:
    """Where a cluster at `server` probably reaches this host: loopback for a loopback API
    server, else this host's source address toward it (a UDP connect sends nothing)."""
    host = urlparse(server).hostname or ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if host == "localhost" or (addr is not None and addr.is_loopback):
        return LOOPBACK
    try:
        family = socket.AF_INET6 if addr is not None and addr.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, urlparse(server).port or 443))
            return str(s.getsockname()[0])
    except OSError:
        return LOOPBACK


class ExistingCluster:
    """A cluster given by a kubeconfig (and context); the pipeline runs around it."""

    backend = "existing"

    def __init__(
        self,
        run_dir: Path,
        name: str = "ekswin",
        *,
        kubeconfig: Path | None = None,
        context: str | None = None,
        webhook_host: str | None = None,
        join_address: str | None = None,
    ) -> None:
        self.name = name
        self.run_dir = run_dir.resolve()
        self.source_kubeconfig = kubeconfig
        self.context = context
        self.requested_webhook_host = webhook_host
        self.pki = self.run_dir / "pki"
        self.supervisor = Supervisor(self.run_dir)
        self.ledger = Ledger(self.run_dir, name)
        # Component tokens are rewritten before they expire while the environment runs.
        self.tokens = identity.refresher_for(lambda: self.api, lambda: identity.TOKEN_TTL_S)
        self.info: ClusterInfo | None = None
        self.components: dict[str, Any] = {}  # the cluster's control plane is not ours
        self._api: Any = None
        self._ca: CertificateAuthority | None = None
        self._relay: TcpRelay | None = None
        self._webhook_host = webhook_host or ""
        self.requested_join_address = join_address

    # -- where things are --------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        """This run's copy of the admin kubeconfig (one context, self-contained)."""
        return self.run_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The cluster's CA certificate (from the kubeconfig)."""
        return self.pki / "ca.crt"

    @property
    def server(self) -> str:
        """The API server URL."""
        assert self.info is not None, "cluster not started"
        return self.info.server

    @property
    def webhook_host(self) -> str:
        """The address at which the API server reaches webhooks served by this host."""
        return self._webhook_host

    @property
    def join_address(self) -> str:
        """The address node-agent shards on other hosts reach this host's fake EC2 at
        (`--join-address`; default: loopback for an API server on loopback, which no
        other host reaches either, else this host's address toward the API server)."""
        return self.requested_join_address or default_webhook_host(self.server)

    @property
    def api(self) -> Any:
        """A kubernetes.client.ApiClient with the kubeconfig's credentials."""
        if self._api is None:
            self._api = identity.api_client(self.kubeconfig)
        return self._api

    def certificate_authority(self) -> CertificateAuthority:
        """This environment's webhook CA (the caBundle of its webhook configurations)."""
        if self._ca is None:
            cert, key = self.pki / "webhook-ca.crt", self.pki / "webhook-ca.key"
            if cert.exists() and key.exists():
                self._ca = CertificateAuthority.load(cert, key)
            else:
                self._ca = CertificateAuthority(f"ekswin-{self.name}-webhook-ca")
                self.pki.mkdir(parents=True, exist_ok=True)
                self._ca.pair().write(cert, key)
        return self._ca

    # -- lifecycle ----------------------------------------------------------------------
    def _source(self) -> Path:
        if self.source_kubeconfig is None:
            raise Refused("the existing backend needs --kubeconfig PATH (a cluster's kubeconfig)")
        return self.source_kubeconfig

    def start(self, progress: Callable[[str], None] | None = None) -> ClusterInfo:
        """Copy the kubeconfig's context, check the API server answers, and remove what a
        crashed earlier run of this environment left in the cluster."""
        say = progress or (lambda msg: None)
        source = self._source()
        try:
            config = kc.flatten(source, self.context)
        except kc.KubeconfigError as e:
            raise Refused(str(e)) from None
        server, ca = kc.server_and_ca(config)
        if ca is None:
            raise Refused(
                f"{source}: context {config['current-context']!r} gives no certificate-"
                "authority: the node and controller kubeconfigs need the cluster's CA"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pki.mkdir(parents=True, exist_ok=True)
        kc.write(self.kubeconfig, config)
        self.ca_file.write_bytes(ca)
        say(f"cluster {server} (context {config['current-context']!r} of {source})")
        self._check_reachable(server, source, config["current-context"])
        if not self._webhook_host:
            self._webhook_host = default_webhook_host(server)
        self.info = ClusterInfo(
            name=self.name,
            backend=self.backend,
            server=server,
            kubeconfig=str(self.kubeconfig),
            ca_file=str(self.ca_file),
            run_dir=str(self.run_dir),
            webhook_host=self._webhook_host,
            service_cidr="",
            etcd_data="",
            started_at=time.time(),
            extra=self.extra_info(),
        )
        self.info.save(self.run_dir)
        leftovers = self.ledger.refs()
        if leftovers:
            say(f"removing {len(leftovers)} object(s) a crashed earlier run left behind")
            self.delete_owned()
        return self.info

    def extra_info(self) -> dict[str, Any]:
        """Backend-specific facts for cluster.json (subclasses add theirs)."""
        return {"source_kubeconfig": str(self.source_kubeconfig), "context": self.context}

    def _check_reachable(self, server: str, source: Path, context: str) -> None:
        from kubernetes import client

        try:
            client.VersionApi(self.api).get_code(_request_timeout=CONNECT_TIMEOUT_S)
            client.CoreV1Api(self.api).list_namespace(limit=1, _request_timeout=CONNECT_TIMEOUT_S)
        except Exception as e:
            reason = getattr(e, "reason", None) or e
            raise ClusterUnreachable(
                f"cannot use the cluster at {server} (context {context!r} of {source}): "
                f"{type(e).__name__}: {reason}"
            ) from None

    def preflight(self, objects: Iterable[ObjectRef], progress: Any = None) -> None:
        """Refuse when any of `objects` is someone else's, or when the API server cannot
        call a webhook on the webhook host; then record `objects` as this environment's
        (before any is created, so `down` finds them whatever happens next)."""
        from kubernetes.dynamic import DynamicClient

        say = progress or (lambda msg: None)
        objects = list(objects)
        found = foreign(DynamicClient(self.api), objects, self.name, self.ledger)
        if found:
            raise ForeignObjects(self.name, found)
        url = probe_webhook_host(
            self.api, self._webhook_host, self.certificate_authority(), self.name, self.ledger
        )
        say(f"the API server reaches webhooks on this host ({url})")
        self.ledger.record(*objects)

    def install(self, manifests: Iterable[dict[str, Any]]) -> list[str]:
        """Create or replace objects as this environment's (refusing foreign ones)."""
        return install(self.api, manifests, self.name, self.ledger)

    def webhook_url(self, local_url: str) -> str:
        """The URL the API server calls for a webhook this host serves at `local_url`
        (loopback): the same URL, or a relay on the webhook host when that is elsewhere."""
        if self._webhook_host == LOOPBACK:
            return local_url
        parsed = urlparse(local_url)
        target = (parsed.hostname or LOOPBACK, int(parsed.port or 443))
        if self._relay is None:
            self._relay = TcpRelay(self._webhook_host, target)
        else:
            self._relay.target = target
        return self._relay.url

    def issue_client_kubeconfig(self, user: str, groups: Sequence[str], path: Path) -> Path:
        """A kubeconfig with a certificate for `user` in `groups`, signed by the cluster
        through an approved CSR. A node identity also records the Node and its Lease,
        which the node agent creates under it, as this environment's."""
        if user.startswith("system:node:"):
            node = user.removeprefix("system:node:")
            self.ledger.record(
                ObjectRef("v1", "Node", node),
                ObjectRef("coordination.k8s.io/v1", "Lease", node, NODE_LEASE_NAMESPACE),
            )
        name = csr.csr_name(self.name, user)
        ref = ObjectRef("certificates.k8s.io/v1", "CertificateSigningRequest", name)
        self.ledger.record(ref)
        pair = csr.issue(self.api, name, user, groups, owner_labels(self.name))
        self.ledger.forget(ref)
        config = kc.build(
            self.name,
            self.server,
            self.ca_file.read_bytes(),
            cert_pem=pair.cert_pem,
            key_pem=pair.key_pem,
        )
        return kc.write(path, config)

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """A kubeconfig with a TokenRequest token for ServiceAccount namespace/name (which
        the pipeline installed before)."""
        return identity.cluster_service_account_kubeconfig(self, namespace, name, path)

    def delete_owned(self) -> list[str]:
        """Delete everything this environment recorded as created; return problems."""
        return delete_owned(self.api, self.ledger)

    def stop(self) -> None:
        """Stop this host's processes first (so nothing re-creates Nodes), then delete what
        this environment installed. Raises RuntimeError listing objects left behind."""
        self.tokens.stop()
        self.supervisor.stop_all()
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        errors: list[str] = []
        if self.kubeconfig.exists() and self.ledger.refs():
            try:
                errors = self.delete_owned()
            except Exception as e:  # e.g. the cluster went away: say what is left
                errors = [f"{type(e).__name__}: {e}"]
        if self._api is not None:
            self._api.close()
            self._api = None
        if errors:
            raise RuntimeError("could not delete: " + "; ".join(errors))
