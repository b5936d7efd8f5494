"""Read a kubeconfig's current context into what a client needs: server, TLS, headers.

Client certificate (file or inline data) or bearer token; the CA from
``certificate-authority(-data)``. Standard library only (the exec'd CNI plugin loads
its node's kubeconfig per call); yaml only for a kubeconfig that is not JSON.
``harness.kubeconfig`` writes the files this reads.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ClientConfig:
    """Where and as whom to call: the server URL, the TLS context (cluster CA, client
    certificate) and the headers (``Accept``, ``Authorization`` for a token)."""

    server: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]


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
    return ClientConfig(str(cluster["server"]).rstrip("/"), sslctx, headers)


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
