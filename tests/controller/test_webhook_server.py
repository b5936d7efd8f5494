"""WebhookServer over real HTTPS: TLS verified against its CA, AdmissionReview round trips."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.webhook import certs
from controller.webhook.server import WebhookServer
from harness.testing import pod_manifest
from harness.waiting import wait_until

SA = "system:serviceaccount:kube-system:vpc-resource-controller"
KEY = "vpc.amazonaws.com/PrivateIPv4Address"


class Flag:
    def __init__(self, value: bool) -> None:
        self.value = value

    def __call__(self) -> bool:
        return self.value


@pytest.fixture
def ipam() -> Flag:
    return Flag(True)


@pytest.fixture
def server(tmp_path: Path, ipam: Flag) -> Iterator[WebhookServer]:
    srv = WebhookServer(
        tmp_path / "certs",
        0,
        ipam_enabled=ipam,
        controller_username=SA,
        registry=CollectorRegistry(),
    )
    srv.start()
    yield srv
    srv.stop()


def client(srv: WebhookServer) -> http.client.HTTPSConnection:
    assert srv.ca_bundle is not None
    ctx = ssl.create_default_context(cadata=srv.ca_bundle.decode())
    return http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)


def windows_review(
    uid: str = "abc-123", op: str = "CREATE", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    pod = pod_manifest("w", namespace="default", annotations=annotations)
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": op,
            "userInfo": {"username": "alice"},
            "object": pod,
        },
    }


def post(conn: http.client.HTTPSConnection, path: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    ctype = resp.getheader("Content-Type") or ""
    return resp.status, json.loads(raw) if ctype.startswith("application/json") else raw


def test_generated_ca_verifies_and_mutation_round_trip(server: WebhookServer) -> None:
    conn = client(server)
    status, out = post(conn, "/mutate-v1-pod?timeout=10s", windows_review())
    assert status == 200
    resp = out["response"]
    assert out["kind"] == "AdmissionReview" and out["apiVersion"] == "admission.k8s.io/v1"
    assert resp["uid"] == "abc-123" and resp["allowed"] is True
    assert resp["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(resp["patch"]))
    assert patch == [
        {
            "op": "add",
            "path": "/spec/containers/0/resources",
            "value": {"limits": {KEY: "1"}, "requests": {KEY: "1"}},
        }
    ]
    # Same connection again (HTTP/1.1 keep-alive), uid echoed per request.
    status, out = post(conn, "/mutate-v1-pod", windows_review(uid="second"))
    assert status == 200 and out["response"]["uid"] == "second"
    conn.close()


def test_ipam_flag_is_read_per_request(server: WebhookServer, ipam: Flag) -> None:
    conn = client(server)
    ipam.value = False
    _, out = post(conn, "/mutate-v1-pod", windows_review())
    assert out["response"]["allowed"] is True and "patch" not in out["response"]
    ipam.value = True
    _, out = post(conn, "/mutate-v1-pod", windows_review())
    assert "patch" in out["response"]


def test_validate_denies_annotation_on_create(server: WebhookServer) -> None:
    conn = client(server)
    body = windows_review(annotations={KEY: "10.0.0.9/19"})
    status, out = post(conn, "/validate-v1-pod", body)
    assert status == 200
    assert out["response"]["allowed"] is False
    assert out["response"]["status"]["message"] == (
        "pod cannot be created with vpc.amazonaws.com/PrivateIPv4Address annotation"
    )


def test_untrusted_client_fails_tls(server: WebhookServer) -> None:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=ssl.create_default_context(), timeout=10
    )
    with pytest.raises(ssl.SSLError):
        conn.request("GET", "/healthz")
    # The server survives a failed handshake.
    c2 = client(server)
    c2.request("GET", "/healthz")
    assert c2.getresponse().status == 200


def test_bad_bodies_and_paths(server: WebhookServer) -> None:
    conn = client(server)
    status, body = post(conn, "/mutate-v1-pod", b"not json")
    assert status == 400 and b"not JSON" in body
    conn = client(server)
    status, _ = post(conn, "/mutate-v1-node", windows_review())
    assert status == 404


def test_stop_closes_kept_alive_connections(server: WebhookServer) -> None:
    conn = client(server)
    assert post(conn, "/mutate-v1-pod", windows_review())[0] == 200
    server.stop()
    with pytest.raises((ConnectionError, ssl.SSLError, http.client.HTTPException, OSError)):
        post(conn, "/mutate-v1-pod", windows_review())


def test_existing_cert_dir_is_used(tmp_path: Path, ipam: Flag) -> None:
    ca = certs.generate_self_signed(tmp_path / "given", ["127.0.0.1"])
    cert_before = (tmp_path / "given" / "tls.crt").read_bytes()
    with WebhookServer(tmp_path / "given", 0, ipam_enabled=ipam, controller_username=SA) as srv:
        assert srv.ca_bundle == ca
        assert (tmp_path / "given" / "tls.crt").read_bytes() == cert_before
        conn = client(srv)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200


def test_empty_cert_dir_uses_temporary_certs(ipam: Flag) -> None:
    srv = WebhookServer("", 0, ipam_enabled=ipam, controller_username=SA)
    srv.start()
    try:
        cert_dir = srv.cert_dir
        assert (cert_dir / "tls.crt").exists()
        assert post(client(srv), "/validate-v1-pod", windows_review())[1]["response"]["allowed"]
    finally:
        srv.stop()
    assert not cert_dir.exists()


def test_webhook_metrics_count_requests(tmp_path: Path, ipam: Flag) -> None:
    reg = CollectorRegistry()
    with WebhookServer(tmp_path, 0, ipam_enabled=ipam, controller_username=SA, registry=reg) as srv:
        conn = client(srv)
        for _ in range(3):
            post(conn, "/mutate-v1-pod", windows_review())
        post(conn, "/validate-v1-pod", b"{")
    labels = {"webhook": "/mutate-v1-pod", "code": "200"}
    assert reg.get_sample_value("controller_runtime_webhook_requests_total", labels) == 3
    bad = {"webhook": "/validate-v1-pod", "code": "400"}
    assert reg.get_sample_value("controller_runtime_webhook_requests_total", bad) == 1
    assert (
        reg.get_sample_value(
            "controller_runtime_webhook_latency_seconds_count", {"webhook": "/mutate-v1-pod"}
        )
        == 3
    )


# -- bounded concurrency and client timeouts ----------------------------------------------
def _limited(tmp_path: Path, ipam: Flag, **limits: Any) -> WebhookServer:
    from controller.webhook.server import Limits

    srv = WebhookServer(
        tmp_path / "certs", 0, ipam_enabled=ipam, controller_username=SA, limits=Limits(**limits)
    )
    srv.start()
    return srv


def _closed_by_server(sock: socket.socket, timeout_s: float) -> bool:
    """True once the server closed `sock` (EOF or reset), False while it stays open."""
    sock.settimeout(timeout_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_over_the_limit_are_closed_and_threads_stay_bounded(
    tmp_path: Path, ipam: Flag
) -> None:
    srv = _limited(tmp_path, ipam, max_connections=4, first_request_timeout_s=60)
    threads_before = threading.active_count()
    stalled = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
    try:
        wait_until(lambda: srv.connection_stats()["open"] == 4, 10, "4 connections admitted")
        extra = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(20)]
        for sock in extra:
            assert _closed_by_server(sock, 10), "a connection over the limit was kept open"
            sock.close()
        assert srv.connection_stats()["rejected"] == 20
        assert threading.active_count() <= threads_before + 4
        # The admitted ones are still served: none of them was cut.
        assert not _closed_by_server(stalled[0], 0.2)
    finally:
        for sock in stalled:
            sock.close()
        srv.stop()


def test_stalled_and_slow_clients_are_cut_and_the_slot_is_freed(tmp_path: Path, ipam: Flag) -> None:
    srv = _limited(
        tmp_path,
        ipam,
        max_connections=2,
        handshake_timeout_s=1.0,
        first_request_timeout_s=1.0,
        request_timeout_s=1.5,
    )
    try:
        # No TLS handshake at all.
        silent = socket.create_connection(("127.0.0.1", srv.port))
        # Handshake done, then a request whose bytes trickle in, never complete.
        assert srv.ca_bundle is not None
        ctx = ssl.create_default_context(cadata=srv.ca_bundle.decode())
        slow = ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", srv.port)), server_hostname="127.0.0.1"
        )
        slow.sendall(b"POST /mutate-v1-pod HTTP/1.1\r\n")

        def trickle_until_cut() -> bool:
            try:
                slow.sendall(b"X")
                slow.settimeout(0.1)
                return slow.recv(1) == b""
            except TimeoutError:
                return False
            except (OSError, ssl.SSLError):
                return True

        wait_until(trickle_until_cut, 15, "the trickling client to be cut at its deadline")
        assert _closed_by_server(silent, 15)
        wait_until(lambda: srv.connection_stats()["open"] == 0, 10, "both slots freed")
        # The trickler never idles long enough for a read timeout: the watchdog cut it.
        assert srv.connection_stats()["timed_out"] >= 1
        # A well-behaved client is served afterwards.
        status, out = post(client(srv), "/mutate-v1-pod", windows_review(uid="after"))
        assert status == 200 and out["response"]["uid"] == "after"
    finally:
        srv.stop()


def test_limits_reject_nonsense() -> None:
    from controller.webhook.server import Limits

    with pytest.raises(ValueError, match="max_connections: expected >= 1, got 0"):
        Limits(max_connections=0)
    with pytest.raises(ValueError, match="request_timeout_s: expected > 0"):
        Limits(request_timeout_s=0)
