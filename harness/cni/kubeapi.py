"""A minimal Kubernetes API reader for the CNI plugin: stdlib HTTPS only.

The plugin is exec'd once per pod, so it must not import the kubernetes client
(~230 ms, FACTS.md "Cost of exec"). It needs one thing: the pod's IP annotation,
read with a GET and, while absent, a watch on that one pod until a deadline.
Credentials come from the node's kubeconfig: client certificate (file or inline data)
or bearer token; the CA from ``certificate-authority(-data)``.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
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
    """Server URL plus an SSL context and headers built from a kubeconfig."""

    server: str
    context: ssl.SSLContext
    headers: dict[str, str]

    @classmethod
    def from_kubeconfig(cls, path: str) -> KubeClient:
        """Build from the kubeconfig's current context."""
        cfg = _load_kubeconfig(path)
        ctx_name = cfg.get("current-context") or (cfg.get("contexts") or [{}])[0].get("name", "")
        ctx = _named(cfg.get("contexts"), ctx_name, "context", path)
        cluster = _named(cfg.get("clusters"), ctx["cluster"], "cluster", path)
        user = _named(cfg.get("users"), ctx["user"], "user", path)
        base = Path(path).parent
        sslctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
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
        return cls(str(cluster["server"]).rstrip("/"), sslctx, headers)

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
        with self._open(f"/api/v1/namespaces/{ns}/pods/{n}", timeout) as resp:
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
