"""Read a kubeconfig's current context into what a client needs: server, TLS, headers.

Client certificate (file or inline data), bearer token, ``tokenFile`` (re-read when
the file changes) or an ``exec`` credential plugin (run again when its token nears its
``expirationTimestamp``, as client-go does); the CA from
``certificate-authority(-data)``. Standard library only (the exec'd CNI plugin loads
its node's kubeconfig per call); yaml only for a kubeconfig that is not JSON.
``harness.kubeconfig`` writes the files this reads.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXEC_SKEW_S = 60.0  # run the plugin again this long before its token expires


class TokenFile:
    """A bearer token read from a file, re-read whenever the file changes (thread-safe)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def token(self) -> str:
        """The file's current token (one stat per call; a read when it changed)."""
        st = os.stat(self.path)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                self._token = Path(self.path).read_text().strip()
                self._seen = key
            return self._token


class ExecToken:
    """A bearer token from an ``exec`` credential plugin, cached until it nears expiry."""

    def __init__(self, spec: dict[str, Any], kubeconfig: str) -> None:
        if not spec.get("command"):
            raise ValueError(f"{kubeconfig}: user exec: command is required")
        self.argv = [str(spec["command"]), *[str(a) for a in spec.get("args") or []]]
        self.api_version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1beta1")
        self.env = {str(e["name"]): str(e["value"]) for e in spec.get("env") or []}
        self.kubeconfig = kubeconfig
        self.runs = 0
        self._lock = threading.Lock()
        self._token = ""
        self._valid_until = 0.0

    def token(self) -> str:
        """The cached token, or the plugin's new one once the cached one nears expiry."""
        with self._lock:
            if not self._token or time.time() >= self._valid_until:
                self._token, self._valid_until = self._run()
            return self._token

    def _run(self) -> tuple[str, float]:
        info = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": {}}
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
        proc = subprocess.run(
            self.argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        self.runs += 1
        if proc.returncode != 0:
            raise ValueError(
                f"{self.kubeconfig}: exec plugin {self.argv[0]} exited {proc.returncode}: "
                f"{proc.stderr.strip()}"
            )
        status = json.loads(proc.stdout).get("status") or {}
        if not status.get("token"):
            raise ValueError(f"{self.kubeconfig}: exec plugin {self.argv[0]} gave no token")
        expiry = status.get("expirationTimestamp")
        until = float("inf")
        if expiry:
            from datetime import datetime

            when = datetime.fromisoformat(str(expiry).replace("Z", "+00:00")).timestamp()
            until = when - EXEC_SKEW_S
        return str(status["token"]), until


@dataclass(frozen=True)
class ClientConfig:
    """Where and as whom to call: the server URL, the TLS context (cluster CA, client
    certificate) and the headers (``Accept``, ``Authorization`` for a static token);
    `token_source` supplies a token that changes (``tokenFile``, ``exec``): use
    :meth:`request_headers` for each request."""

    server: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]
    token_source: TokenFile | ExecToken | None = field(default=None, compare=False)

    def request_headers(self) -> dict[str, str]:
        """The headers for one request, with the current token."""
        if self.token_source is None:
            return dict(self.headers)
        return {**self.headers, "Authorization": f"Bearer {self.token_source.token()}"}


def _read(path: str) -> dict[str, Any]:
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


def load(path: str) -> ClientConfig:
    """The current context of kubeconfig `path` (else its first context)."""
    cfg = _read(path)
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
    headers = {"Accept": "application/json"}
    source: TokenFile | ExecToken | None = None
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    elif user.get("tokenFile"):
        source = TokenFile(str(base / user["tokenFile"]))
    elif user.get("exec"):
        source = ExecToken(dict(user["exec"]), path)
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
    return ClientConfig(str(cluster["server"]).rstrip("/"), sslctx, headers, source)


def _load_inline_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads certificates from files: write a private temp file, load, remove.
    fd, name = tempfile.mkstemp(prefix="ekswin-kube-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert if cert.endswith(b"\n") else cert + b"\n")
            f.write(key)
        ctx.load_cert_chain(name)
    finally:
        os.unlink(name)
