"""Give each component its own Kubernetes identity (never the admin kubeconfig).

Service accounts get bound tokens from the TokenRequest API; node agents get client
certificates signed by the cluster CA (see LocalCluster.issue_client_kubeconfig).

A bound token expires, so a ServiceAccount identity is a token *file* that a
:class:`TokenRefresher` rewrites before the token expires (what the kubelet does for a
projected service-account token: rotate once 80% of its lifetime has passed), plus a
kubeconfig whose ``exec`` credential plugin (``harness/kube/tokenexec.py``) hands the
file's current token and its expiry to the client. Clients re-run the plugin when the
token they hold nears its expiry, so a component kept up for days keeps working without
a restart and without knowing about the harness.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import kubeconfig as kc
from harness.kube.audit import HARNESS_USER_AGENT
from harness.privfiles import write_private

log = logging.getLogger(__name__)

TOKEN_TTL_S = 3600  # what a projected service-account token volume asks for by default
REFRESH_FRACTION = 0.8  # the kubelet rotates a projected token after 80% of its lifetime
RETRY_S = 5.0  # after a failed refresh
MAX_WAIT_S = 30.0  # wake at least this often: a suspended machine catches up on resume


@dataclass(frozen=True)
class IssuedToken:
    """A token and its validity as the API server stated it (unix times)."""

    token: str
    issued_at: float
    expires_at: float

    @property
    def refresh_at(self) -> float:
        """When to replace it: after REFRESH_FRACTION of its lifetime."""
        return self.issued_at + REFRESH_FRACTION * (self.expires_at - self.issued_at)


def ensure_service_account(api: Any, namespace: str, name: str) -> None:
    """Create namespace/name ServiceAccount unless it exists (namespace must exist)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
    except ApiException as e:
        if e.status != 409:
            raise


def request_token(api: Any, namespace: str, name: str, ttl_s: int = TOKEN_TTL_S) -> IssuedToken:
    """A bound token for the ServiceAccount from the TokenRequest API, with its expiry.

    The API server refuses lifetimes under 10 minutes (``expirationSeconds``)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=ttl_s)
    )
    issued = time.time()
    resp = core.create_namespaced_service_account_token(name, namespace, body)
    expires: dt.datetime | None = resp.status.expiration_timestamp
    expires_at = expires.timestamp() if expires is not None else issued + ttl_s
    return IssuedToken(str(resp.status.token), issued, expires_at)


def service_account_token(api: Any, namespace: str, name: str, ttl_s: int = TOKEN_TTL_S) -> str:
    """A bound token for the ServiceAccount from the TokenRequest API."""
    return request_token(api, namespace, name, ttl_s).token


Issuer = Callable[[str, str], IssuedToken]


@dataclass
class _Entry:
    namespace: str
    name: str
    path: Path
    current: IssuedToken
    due: float  # when to try next (refresh time, or a retry after a failure)


class TokenRefresher:
    """Keeps ServiceAccount token files fresh, in one background thread.

    `issue(namespace, name)` returns a new token (``request_token`` against the API
    server in production). Each file is rewritten atomically, owner-only, once
    REFRESH_FRACTION of its token's lifetime has passed; a failed refresh is retried
    every RETRY_S seconds while the old token still works.
    """

    def __init__(self, issue: Issuer, retry_s: float = RETRY_S) -> None:
        self.issue = issue
        self.retry_s = retry_s
        self.refreshes = 0  # tokens written by the background thread
        self._entries: dict[Path, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, namespace: str, name: str, path: Path) -> IssuedToken:
        """Issue a token for namespace/name now, write it to `path`, keep it fresh."""
        token = self.issue(namespace, name)
        write_private(path, token.token)
        with self._lock:
            self._entries[path] = _Entry(namespace, name, path, token, token.refresh_at)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="token-refresher", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return token

    def current(self, path: Path) -> IssuedToken:
        """The token last written to `path`."""
        with self._lock:
            return self._entries[path].current

    def refresh_now(self) -> None:
        """Make every file due now (the thread rewrites them at once)."""
        with self._lock:
            for entry in self._entries.values():
                entry.due = 0.0
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (the files stay; their tokens run out on their own)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = [e for e in self._entries.values() if e.due <= time.time()]
                nxt = min((e.due for e in self._entries.values()), default=time.time() + 60)
            for entry in due:
                if self._stop.is_set():
                    return
                self._refresh(entry)
            if not due:
                self._wake.wait(max(0.0, min(nxt - time.time(), MAX_WAIT_S)))
                self._wake.clear()

    def _refresh(self, entry: _Entry) -> None:
        try:
            token = self.issue(entry.namespace, entry.name)
            write_private(entry.path, token.token)
        except Exception as e:  # keep the old token (still valid) and retry soon
            log.warning(
                "refreshing the token of %s/%s (%s) failed: %s; retrying in %.0f s",
                entry.namespace, entry.name, entry.path, e, self.retry_s,
            )  # fmt: skip
            with self._lock:
                entry.due = time.time() + self.retry_s
            return
        with self._lock:
            entry.current = token
            entry.due = token.refresh_at
            self.refreshes += 1


def service_account_kubeconfig(
    api: Any,
    refresher: TokenRefresher,
    server: str,
    ca_pem: bytes,
    namespace: str,
    name: str,
    path: Path,
    cluster_name: str = "ekswin",
) -> Path:
    """Ensure the ServiceAccount exists; keep its token fresh in ``<path>.token``; write
    a kubeconfig at `path` whose exec credential plugin reads that file."""
    ensure_service_account(api, namespace, name)
    token_file = path.with_name(path.stem + ".token")
    refresher.add(namespace, name, token_file)
    return kc.write(path, kc.build(cluster_name, server, ca_pem, token_file=token_file))


def refresher_for(api: Callable[[], Any], ttl_s: Callable[[], int]) -> TokenRefresher:
    """A TokenRefresher issuing tokens through the admin client `api()`, each `ttl_s()`
    seconds long (both read at issue time: the client is created lazily)."""
    return TokenRefresher(lambda ns, name: request_token(api(), ns, name, ttl_s()))


def cluster_service_account_kubeconfig(cluster: Any, namespace: str, name: str, path: Path) -> Path:
    """`service_account_kubeconfig` for a backend with ``api``, ``tokens``, ``server``,
    ``ca_file`` and ``name`` (its tokens are refreshed while it runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return service_account_kubeconfig(
        cluster.api,
        cluster.tokens,
        cluster.server,
        cluster.ca_file.read_bytes(),
        namespace,
        name,
        path,
        cluster.name,
    )


def api_client(kubeconfig: Path) -> Any:
    """A kubernetes.client.ApiClient for a kubeconfig file."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    api = client.ApiClient(cfg)
    api.user_agent = HARNESS_USER_AGENT  # the audit log tells the harness from the user
    return api
