"""GETs and watches on the API server over the standard library: the CNI plugin's client.

The plugin is exec'd once per pod sandbox, so it must not import the kubernetes client
(~230 ms) nor urllib3 (FACTS.md "Cost of exec"): it reads one pod and, while its IP
annotation is absent, watches that pod. With ``keep_alive`` (the node agent running the
plugin for many calls) GETs reuse idle HTTPS connections instead of a TLS handshake
per request; a standalone plugin makes one GET anyway.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from harness.kube import config as kubeconfig
from harness.kube.api import ApiError, pod_path, status_error


class KubeClient:
    """One API server, one identity (thread-safe)."""

    def __init__(
        self,
        config: kubeconfig.ClientConfig,
        *,
        keep_alive: bool = False,
        user_agent: str = "ekswin-cni",
    ) -> None:
        self.server = config.server
        self.context = config.ssl_context
        self.config = config
        self.user_agent = user_agent
        self.keep_alive = keep_alive
        self._idle: list[http.client.HTTPSConnection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, path: str, keep_alive: bool = False) -> KubeClient:
        """A client for the kubeconfig's current context."""
        return cls(kubeconfig.load(path), keep_alive=keep_alive)

    def headers(self) -> dict[str, str]:
        """The headers of one request (the current token, when it is refreshed)."""
        return {**self.config.request_headers(), "User-Agent": self.user_agent}

    def close(self) -> None:
        """Close idle kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def get(self, path: str, timeout: float = 10.0) -> dict[str, Any]:
        """GET `path`: the decoded JSON object, or ApiError (status 0: no answer)."""
        if self.keep_alive:
            return dict(self._get_kept_alive(path, timeout))
        with self._open(path, timeout) as resp:
            return dict(json.load(resp))

    def get_pod(self, namespace: str, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """GET one pod."""
        return self.get(pod_path(namespace, name), timeout)

    def watch(
        self, path: str, query: Mapping[str, str], timeout: float
    ) -> Iterator[dict[str, Any]]:
        """The events (``{"type", "object"}``) of watch request `path?query` until the
        server ends it; `timeout` bounds each read (TimeoutError on a quiet watch)."""
        with self._open(f"{path}?{urllib.parse.urlencode(query)}", timeout) as resp:
            for line in resp:
                if line.strip():
                    yield json.loads(line)

    def _get_kept_alive(self, path: str, timeout: float) -> Any:
        """GET on an idle connection (one retry on a fresh one if the server closed it)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        for attempt in (0, 1):
            fresh = conn is None
            if conn is None:
                url = urllib.parse.urlsplit(self.server)
                conn = http.client.HTTPSConnection(
                    url.hostname or "", url.port or 443, context=self.context, timeout=timeout
                )
            try:
                conn.request("GET", path, headers=self.headers())
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                if fresh or attempt:
                    raise ApiError(0, f"{self.server}: {e}") from e
                continue
            if resp.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            if resp.status >= 300:
                raise status_error(resp.status, body)
            return json.loads(body)
        raise ApiError(0, f"{self.server}: no connection")  # pragma: no cover

    def _open(self, path: str, timeout: float) -> Any:
        req = urllib.request.Request(self.server + path, headers=self.headers())
        try:
            return urllib.request.urlopen(req, context=self.context, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise status_error(e.code, e.read()) from e
        except (urllib.error.URLError, OSError) as e:
            raise ApiError(0, f"{self.server}: {e}") from e
