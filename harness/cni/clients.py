"""Where the plugin gets its API server and HNS connections from.

An exec'd plugin (``FreshClients``) builds them per call, as a standalone binary must:
parse the kubeconfig, load the client certificate, a TLS handshake per request and a
new gRPC channel. The node agent, running the same plugin code in-process for many
calls, uses ``PooledClients``: one ``KubeClient`` per kubeconfig with keep-alive
connections, one gRPC channel per HNS target shared by the nodes, and optionally a
shared pod watch to wait on instead of one watch request per waiting ADD.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import grpc

    from harness.hns import NodeHns
    from harness.kube.client import KubeClient

# (namespace, name, key, timeout_s) -> value or None; may raise ApiError (404).
AnnotationWaiter = Callable[[str, str, str, float], "str | None"]


class Clients(Protocol):
    """The plugin's connections."""

    def pod_annotation(
        self, kubeconfig: str, namespace: str, name: str, key: str, timeout_s: float
    ) -> str | None:
        """The pod's annotation `key`, waiting up to `timeout_s` for it to appear."""
        ...

    def hns(self, target: str, host: str) -> contextlib.AbstractContextManager[NodeHns]:
        """The HNS of `host` on the fake_hns server at `target`."""
        ...


class FreshClients:
    """New connections per call (what a standalone exec'd plugin does)."""

    def pod_annotation(
        self, kubeconfig: str, namespace: str, name: str, key: str, timeout_s: float
    ) -> str | None:
        """GET the pod, then watch it until the annotation appears or the time is up."""
        from harness.cni.annotation import wait_pod_annotation
        from harness.kube.client import KubeClient

        client = KubeClient.from_kubeconfig(kubeconfig)
        return wait_pod_annotation(client, namespace, name, key, timeout_s)

    def hns(self, target: str, host: str) -> contextlib.AbstractContextManager[NodeHns]:
        """A NodeHns with its own channel, closed after use."""
        from harness.hns import NodeHns

        return NodeHns(target, host)


class PooledClients:
    """Connections kept across calls; thread-safe (the agent calls from many threads).

    `waiter`, when given, replaces the per-call watch: after the GET finds no annotation
    the call waits on the agent's shared pod watch (same deadline, same outcome).
    """

    def __init__(self, waiter: AnnotationWaiter | None = None) -> None:
        self.waiter = waiter
        self._lock = threading.Lock()
        self._kube: dict[str, KubeClient] = {}
        self._channels: dict[str, grpc.Channel] = {}
        self._hns: dict[tuple[str, str], NodeHns] = {}

    def kube(self, kubeconfig: str) -> KubeClient:
        """The cached client for a kubeconfig (built once: TLS context, certificate)."""
        client = self._kube.get(kubeconfig)
        if client is None:
            # Built under the lock: the first burst of ADDs must not each parse the
            # kubeconfig and load the certificates.
            with self._lock:
                client = self._kube.get(kubeconfig)
                if client is None:
                    from harness.kube.client import KubeClient

                    client = KubeClient.from_kubeconfig(kubeconfig, keep_alive=True)
                    self._kube[kubeconfig] = client
        return client

    def pod_annotation(
        self, kubeconfig: str, namespace: str, name: str, key: str, timeout_s: float
    ) -> str | None:
        """GET over a kept-alive connection; then the shared watch (or a watch request)."""
        from harness.cni.annotation import pod_annotation, wait_pod_annotation

        client = self.kube(kubeconfig)
        if self.waiter is None:
            return wait_pod_annotation(client, namespace, name, key, timeout_s)
        value = pod_annotation(client.get_pod(namespace, name), key)
        return value or self.waiter(namespace, name, key, timeout_s)

    @contextlib.contextmanager
    def hns(self, target: str, host: str) -> Iterator[NodeHns]:
        """A NodeHns on the target's shared channel (not closed after use)."""
        with self._lock:
            node = self._hns.get((target, host))
            if node is None:
                import grpc

                from harness.hns import NodeHns

                bare = target.removeprefix("grpc://")
                channel = self._channels.get(bare)
                if channel is None:
                    channel = self._channels[bare] = grpc.insecure_channel(bare)
                node = self._hns[(target, host)] = NodeHns(target, host, channel=channel)
        yield node

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for client in self._kube.values():
                client.close()
            for channel in self._channels.values():
                channel.close()
            self._kube.clear()
            self._channels.clear()
            self._hns.clear()
