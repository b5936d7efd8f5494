"""Loopback networking helpers: free ports and quick probes."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def https_ok(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    """True when GET `url` (http or https, with `ctx` for TLS) answers 200."""
    with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
        return bool(resp.status == 200)


def insecure_context() -> ssl.SSLContext:
    """A TLS context that skips verification (health probes of self-signed components)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def admin_ssl_context(run_dir: Path) -> ssl.SSLContext:
    """TLS context trusting a run's cluster CA and presenting its admin certificate."""
    pki = run_dir / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx
