"""WebhookServer over real HTTPS: TLS verified against its CA, AdmissionReview round trips."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.webhook import certs
from controller.webhook.server import WebhookServer
from harness.testing import pod_manifest

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
