"""A minimal Kubernetes API reader for the CNI plugin: stdlib HTTPS only.

The plugin is exec'd once per pod, so it must not import the kubernetes client
(~230 ms, FACTS.md "Cost of exec"). It needs one thing: the pod's IP annotation,
read with a GET and, while absent, a watch on that one pod until a deadline.
Credentials come from the node's kubeconfig: client certificate (file or inline data)
or bearer token; the CA from ``certificate-authority(-data)``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class KubeApiError(Exception):
    """An API call failed; carries the HTTP status (0 for transport errors)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _load_kubeconfig(path: str) -> dict[str, Any]:
    text = Path(path).read_text()
    try:
        data = json.loads(text)  # JSON is YAML: skip the yaml import when we can
    except ValueError:
        import yaml  # only for YAML kubeconfigs

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a kubeconfig")
    return data


def _named(items: list[dict[str, Any]] | None, name: str, what: str, path: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise ValueError(f"{path}: {what} {name!r} not found")


@dataclass
class KubeClient:
    """Server URL plus an SSL context and headers built from a kubeconfig.

    With `keep_alive` (the agent's pooled clients), GETs reuse idle HTTPS connections
    instead of a TLS handshake per request; a standalone plugin makes one GET anyway.
    """

    server: str
    context: ssl.SSLContext
    headers: dict[str, str]
    keep_alive: bool = False
    _idle: list[http.client.HTTPSConnection] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_kubeconfig(cls, path: str, keep_alive: bool = False) -> KubeClient:
        """Build from the kubeconfig's current context."""
        cfg = _load_kubeconfig(path)
        ctx_name = cfg.get("current-context") or (cfg.get("contexts") or [{}])[0].get("name", "")
        ctx = _named(cfg.get("contexts"), ctx_name, "context", path)
        cluster = _named(cfg.get("clusters"), ctx["cluster"], "cluster", path)
        user = _named(cfg.get("users"), ctx["user"], "user", path)
        base = Path(path).parent
        # Trust only the cluster's CA when the kubeconfig names one: loading the system
        # store (create_default_context) costs milliseconds per exec'd plugin.
        has_ca = cluster.get("certificate-authority-data") or cluster.get("certificate-authority")
        sslctx = (
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if has_ca
            else ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        )
        if cluster.get("certificate-authority-data"):
            sslctx.load_verify_locations(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
            )
        elif cluster.get("certificate-authority"):
            sslctx.load_verify_locations(cafile=str(base / cluster["certificate-authority"]))
        headers = {"Accept": "application/json", "User-Agent": "ekswin-cni"}
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        if user.get("client-certificate-data") and user.get("client-key-data"):
            _load_inline_cert(
                sslctx,
                base64.b64decode(user["client-certificate-data"]),
                base64.b64decode(user["client-key-data"]),
            )
        elif user.get("client-certificate") and user.get("client-key"):
            sslctx.load_cert_chain(
                str(base / user["client-certificate"]), str(base / user["client-key"])
            )
        return cls(str(cluster["server"]).rstrip("/"), sslctx, headers, keep_alive)

    def close(self) -> None:
        """Close idle kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

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
                conn.request("GET", path, headers=self.headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                if fresh or attempt:
                    raise KubeApiError(0, f"{self.server}: {e}") from e
                continue
            if resp.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            if resp.status >= 300:
                text = body.decode(errors="replace")
                try:
                    message = json.loads(text).get("message", text)
                except ValueError:
                    message = text
                raise KubeApiError(resp.status, message)
            return json.loads(body)
        raise KubeApiError(0, f"{self.server}: no connection")  # pragma: no cover

    def _open(self, path: str, timeout: float) -> Any:
        req = urllib.request.Request(self.server + path, headers=self.headers)
        try:
            return urllib.request.urlopen(req, context=self.context, timeout=timeout)
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                message = json.loads(body).get("message", body)
            except ValueError:
                message = body
            raise KubeApiError(e.code, message) from e
        except (urllib.error.URLError, OSError) as e:
            raise KubeApiError(0, f"{self.server}: {e}") from e

    def get_pod(self, namespace: str, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """GET one pod."""
        ns, n = urllib.parse.quote(namespace), urllib.parse.quote(name)
        path = f"/api/v1/namespaces/{ns}/pods/{n}"
        if self.keep_alive:
            return dict(self._get_kept_alive(path, timeout))
        with self._open(path, timeout) as resp:
            return dict(json.load(resp))

    def wait_pod_annotation(
        self, namespace: str, name: str, key: str, timeout_s: float
    ) -> str | None:
        """The value of annotation `key` on the pod, waiting up to `timeout_s` (watch, not poll)."""
        deadline = time.monotonic() + timeout_s
        pod = self.get_pod(namespace, name)
        value = (pod.get("metadata", {}).get("annotations") or {}).get(key)
        rv = pod.get("metadata", {}).get("resourceVersion", "")
        while not value:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            query = urllib.parse.urlencode(
                {
                    "watch": "1",
                    "fieldSelector": f"metadata.name={name}",
                    "resourceVersion": rv,
                    "timeoutSeconds": str(max(1, int(remaining + 0.999))),
                    "allowWatchBookmarks": "false",
                }
            )
            ns = urllib.parse.quote(namespace)
            try:
                # The socket timeout bounds one read, so a quiet watch ends at the deadline.
                with self._open(f"/api/v1/namespaces/{ns}/pods?{query}", remaining) as resp:
                    for line in resp:
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            rv = ""  # expired resourceVersion: restart from a fresh GET
                            break
                        if event.get("type") == "DELETED":
                            raise KubeApiError(404, f'pods "{name}" not found')
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        value = (obj.get("metadata", {}).get("annotations") or {}).get(key)
                        if value:
                            return str(value)
                        if time.monotonic() >= deadline:
                            return None
            except TimeoutError:
                return None
            except KubeApiError as e:
                if e.status != 0 or "timed out" not in str(e):
                    raise
                return None
            if not rv:
                pod = self.get_pod(namespace, name)
                value = (pod.get("metadata", {}).get("annotations") or {}).get(key)
                rv = pod.get("metadata", {}).get("resourceVersion", "")
        return str(value)


def _load_inline_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads certificates from files: write a private temp file, load, remove.
    fd, name = tempfile.mkstemp(prefix="ekswin-cni-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert if cert.endswith(b"\n") else cert + b"\n")
            f.write(key)
        ctx.load_cert_chain(name)
    finally:
        os.unlink(name)
