"""Fuzz the admission webhook over real HTTPS with hypothesis: every body gets an HTTP
answer (an AdmissionReview for a well-formed review, a 400 naming the fault otherwise),
never a 500, a dropped connection or a traceback, and the server keeps serving."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from controller.webhook.server import WebhookServer
from harness.testing import pod_manifest

SA = "system:serviceaccount:kube-system:vpc-resource-controller"
PATHS = ["/mutate-v1-pod", "/validate-v1-pod"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    srv = WebhookServer(
        tmp_path_factory.mktemp("webhook-fuzz") / "certs",
        0,
        ipam_enabled=lambda: True,
        controller_username=SA,
        registry=CollectorRegistry(),
    )
    srv.start()
    yield srv
    srv.stop()


def _context(srv: WebhookServer) -> ssl.SSLContext:
    assert srv.ca_bundle is not None
    return ssl.create_default_context(cadata=srv.ca_bundle.decode())


def post(srv: WebhookServer, path: str, body: bytes) -> tuple[int, str, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=_context(srv), timeout=20)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def healthy(srv: WebhookServer) -> bool:
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=_context(srv), timeout=10)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_POD = pod_manifest("w", namespace="default")


def _pods() -> st.SearchStrategy[Any]:
    """Pods bent out of shape: fields replaced by arbitrary JSON, or arbitrary JSON."""
    containers = st.one_of(
        JSON,
        st.lists(
            st.one_of(
                JSON,
                st.fixed_dictionaries(
                    {"name": JSON, "resources": st.one_of(JSON, st.just({"limits": {}}))}
                ),
            ),
            max_size=3,
        ),
    )
    spec = st.one_of(
        JSON,
        st.fixed_dictionaries(
            {
                "containers": containers,
                "nodeSelector": st.one_of(JSON, st.just({"kubernetes.io/os": "windows"})),
                "hostNetwork": JSON,
            }
        ),
    )
    metadata = st.one_of(
        JSON,
        st.fixed_dictionaries(
            {
                "name": JSON,
                "annotations": st.one_of(
                    JSON, st.just({"vpc.amazonaws.com/PrivateIPv4Address": "10.0.0.1/19"})
                ),
            }
        ),
    )
    return st.one_of(
        st.just(_POD), JSON, st.fixed_dictionaries({"metadata": metadata, "spec": spec})
    )


REVIEWS = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]),
        "kind": st.sampled_from(["AdmissionReview", "Pod"]),
        "request": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {
                    "uid": st.one_of(st.text(max_size=10), JSON),
                    "operation": st.one_of(
                        st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]), JSON
                    ),
                    "userInfo": st.one_of(JSON, st.just({"username": SA})),
                    "object": _pods(),
                    "oldObject": _pods(),
                }
            ),
        ),
    }
)
BODIES = st.one_of(
    REVIEWS.map(lambda r: json.dumps(r).encode()),
    JSON.map(lambda j: json.dumps(j).encode()),
    st.binary(min_size=1, max_size=200),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), body=BODIES)
def test_fuzzed_admission_reviews(server: WebhookServer, path: str, body: bytes) -> None:
    status, ctype, raw = post(server, path, body)
    assert status in (200, 400), (status, raw[:300])
    assert b"Traceback" not in raw
    if status == 400:
        assert ctype.startswith("text/plain") and raw  # says what is wrong
        return
    review = json.loads(body)
    out = json.loads(raw)
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    resp = out["response"]
    assert resp["uid"] == review["request"]["uid"]
    assert isinstance(resp["allowed"], bool)
    if "patch" in resp:
        assert resp["patchType"] == "JSONPatch"
        assert isinstance(json.loads(base64.b64decode(resp["patch"])), list)
    assert healthy(server)


def _raw(server: WebhookServer, head: bytes) -> bytes:
    """Send raw HTTP over TLS; the answer's status line (b"" if the server hung up)."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock,
        _context(server).wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    "length", [b"abc", b"-5", b"0", b"99999999999999999999", str(32 * 1024 * 1024).encode()]
)
def test_bad_content_lengths_get_400(server: WebhookServer, length: bytes) -> None:
    head = (
        b"POST /mutate-v1-pod HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\n\r\n"
    )
    assert _raw(server, head).startswith(b"HTTP/1.1 400"), length
    assert healthy(server)


def test_server_still_serves_after_fuzzing(server: WebhookServer, tmp_path: Path) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u1", "operation": "CREATE", "object": _POD},
    }
    status, _, raw = post(server, "/mutate-v1-pod", json.dumps(review).encode())
    assert status == 200 and json.loads(raw)["response"]["uid"] == "u1"
