"""Can the API server reach webhooks served by this host? Probe it before installing.

A short-lived HTTPS server on the webhook host (a certificate from the environment's
webhook CA) answers AdmissionReviews; a temporary ValidatingWebhookConfiguration with
``failurePolicy: Fail`` and an object selector matching only a one-off label sends it
the dry-run create of a ConfigMap carrying that label. The probe holds when the
server saw that request and the API server accepted the answer; it fails with the
API server's own words ("failed calling webhook ...") otherwise. A webhook
configuration takes effect in the API server a moment after it is created, so dry
runs that pass before the webhook is called are repeated until a deadline.

Also here: :class:`TcpRelay`, which makes a webhook served on loopback reachable on
the one other address a backend needs (TLS passes through, end to end).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.backends.owned import Ledger, ObjectRef, Refused, owner_labels
from harness.certs import CertificateAuthority

PROBE_WEBHOOK = "reachability.probe.ekswin.dev"
PROBE_LABEL = "ekswin.dev/reachability-probe"
PROBE_TIMEOUT_S = 30.0
WEBHOOK_HINT = (
    "pass the address at which the API server reaches this host with --webhook-host HOST "
    "(kind on Linux: the Docker network's gateway; Docker Desktop: host.docker.internal)"
)


class WebhookUnreachable(Refused):
    """The API server could not call a webhook served by this host at the address tried."""


def serving_sans(host: str) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a serving certificate for `host` needs, loopback included."""
    import ipaddress

    dns, ips = ["localhost"], ["127.0.0.1"]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        dns.append(host)
    else:
        if host not in ips:
            ips.append(host)
    return dns, ips


def _bind_error(host: str, e: OSError) -> WebhookUnreachable:
    return WebhookUnreachable(
        f"cannot listen on webhook host {host!r} ({e.strerror or e}): it must be an address "
        f"of this host; {WEBHOOK_HINT}"
    )


class _ProbeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, ctx: ssl.SSLContext) -> None:
        self.seen: set[str] = set()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.address_family = family
        super().__init__((host, 0), _ProbeHandler)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)


class _ProbeHandler(BaseHTTPRequestHandler):
    server: _ProbeServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            review = json.loads(body)
            request = review["request"]
            labels = (request.get("object") or {}).get("metadata", {}).get("labels") or {}
            self.server.seen.add(str(labels.get(PROBE_LABEL, "")))
            answer = {
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                "kind": "AdmissionReview",
                "response": {"uid": request["uid"], "allowed": True},
            }
            data, code = json.dumps(answer).encode(), 200
        except (ValueError, KeyError, TypeError):
            data, code = b"expected an AdmissionReview", 400
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _server_context(ca: CertificateAuthority, host: str) -> ssl.SSLContext:
    dns, ips = serving_sans(host)
    pair = ca.issue_server("ekswin-reachability-probe", dns=dns, ips=ips)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as d:
        cert, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        pair.write(cert, key)
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def probe_webhook_host(
    api: Any,
    host: str,
    ca: CertificateAuthority,
    environment: str,
    ledger: Ledger,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> str:
    """Check that the API server calls a webhook at `host`; return the URL that worked.

    Raises WebhookUnreachable naming the address tried and how to pass another.
    """
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        server = _ProbeServer(host, _server_context(ca, host))
    except OSError as e:
        raise _bind_error(host, e) from None
    url = _url(host, server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="webhook-probe", daemon=True)
    thread.start()
    nonce = secrets.token_hex(6)
    name = f"ekswin-{environment}-reachability-probe"
    ref = ObjectRef("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", name)
    adm = client.AdmissionregistrationV1Api(api)
    core = client.CoreV1Api(api)
    config = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "metadata": {"name": name, "labels": owner_labels(environment)},
        "webhooks": [
            {
                "name": PROBE_WEBHOOK,
                "admissionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {
                    "url": url + "/probe",
                    "caBundle": base64.b64encode(ca.cert_pem).decode(),
                },
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "timeoutSeconds": 5,
                "objectSelector": {"matchLabels": {PROBE_LABEL: nonce}},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
            }
        ],
    }
    probe = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            generate_name="ekswin-reachability-probe-", labels={PROBE_LABEL: nonce}
        )
    )
    ledger.record(ref)
    try:
        with contextlib.suppress(ApiException):
            adm.delete_validating_webhook_configuration(name)  # left by a crashed run
        adm.create_validating_webhook_configuration(config)
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            try:
                core.create_namespaced_config_map("default", probe, dry_run="All")
                if nonce in server.seen:
                    return url
                last = "the webhook configuration has not taken effect yet"
            except ApiException as e:
                message = _message(e)
                if PROBE_WEBHOOK in message:
                    raise WebhookUnreachable(
                        f"the API server cannot call a webhook served by this host at {url}: "
                        f"{message}; {WEBHOOK_HINT}"
                    ) from None
                raise
            if time.monotonic() > deadline:
                raise WebhookUnreachable(
                    f"probing webhook host {host!r} ({url}) timed out after {timeout_s:g} s: "
                    f"{last}; {WEBHOOK_HINT}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    finally:
        with contextlib.suppress(ApiException):
            adm.delete_validating_webhook_configuration(name)
        ledger.forget(ref)
        server.shutdown()
        server.server_close()


def _message(e: Any) -> str:
    try:
        return str(json.loads(e.body).get("message", e.reason))
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)


class TcpRelay:
    """Accept TCP on `host` (one address) and copy bytes to a loopback target.

    The target can change (a restarted webhook listens on a new port) while the
    relay's own address stays, so the registered webhook URL stays valid.
    """

    def __init__(self, host: str, target: tuple[str, int], port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as e:
            self._sock.close()
            raise _bind_error(host, e) from None
        self._sock.listen(128)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self.target = target
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="webhook-relay", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """https URL of the relay's address."""
        return _url(self.host, self.port)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        t = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        t.start()
        _pump(conn, upstream)
        t.join()
        for sock in (conn, upstream):
            sock.close()

    def close(self) -> None:
        """Stop accepting (open connections end with their peers)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until `src` ends, then half-close `dst` (the other direction goes on)."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
