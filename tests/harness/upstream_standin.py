"""A STAND-IN for the upstream controller binary, used ONLY to test the harness's wiring
(tests/harness/test_upstream_wiring_cluster.py). It is not the upstream controller and
models none of its behaviour: it makes the first requests the real binary makes with
the flags and environment it is given (IMDS token and identity document, a SigV4 EC2
call, Kubernetes reads as its ServiceAccount), serves the health port and the webhook
port with the certificate from $TMPDIR, and records what it saw in
$TMPDIR/standin-record.json.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TMP = Path(os.environ["TMPDIR"])
RECORD = TMP / "standin-record.json"
record: dict[str, Any] = {"argv": sys.argv[1:], "webhook_paths": []}
lock = threading.Lock()


def save() -> None:
    with lock:
        RECORD.write_text(json.dumps(record, indent=1))


def imds() -> dict[str, Any]:
    base = os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
    req = urllib.request.Request(
        f"{base}/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        token = resp.read().decode()
        ttl = resp.headers["X-aws-ec2-metadata-token-ttl-seconds"]
    req = urllib.request.Request(
        f"{base}/latest/dynamic/instance-identity/document",
        headers={"x-aws-ec2-metadata-token": token},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return {"ttl": ttl, "region": doc["region"], "account": doc["accountId"]}


def ec2(region: str, vpc_id: str) -> int:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "ec2", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL_EC2"]
    )
    out = client.describe_network_interfaces(
        Filters=[
            {"Name": "status", "Values": ["available"]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ],
        MaxResults=1000,
    )
    return len(out["NetworkInterfaces"])


def kube() -> dict[str, int]:
    from kubernetes import client, config

    api = config.new_client_from_config(os.environ["KUBECONFIG"])
    status = {}
    try:
        client.CustomObjectsApi(api).list_cluster_custom_object(
            "vpcresources.k8s.aws", "v1alpha1", "cninodes"
        )
        status["cninodes"] = 200
    except client.ApiException as e:
        status["cninodes"] = e.status
    try:
        client.AppsV1Api(api).read_namespaced_deployment("vpc-resource-controller", "kube-system")
        status["old_deployment"] = 200
    except client.ApiException as e:
        status["old_deployment"] = e.status  # 404 = readable and absent; 403 = no RBAC
    return status


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path.startswith("/healthz") else b"not found"
        self.send_response(200 if self.path.startswith("/healthz") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with lock:
            record["webhook_paths"].append(self.path.split("?", 1)[0])
        save()
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": review["request"]["uid"], "allowed": True},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    flags = dict(a.removeprefix("--").split("=", 1) for a in sys.argv[1:])
    record["env"] = {
        k: os.environ.get(k)
        for k in ("AWS_ENDPOINT_URL_EC2", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "KUBECONFIG")
    }
    record["imds"] = imds()
    record["ec2_available_enis"] = ec2(record["imds"]["region"], flags["vpc-id"])
    record["kube"] = kube()
    save()
    certs = TMP / "k8s-webhook-server" / "serving-certs"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "tls.crt", certs / "tls.key")
    hook = ThreadingHTTPServer(("127.0.0.1", 9443), Webhook)
    hook.socket = ctx.wrap_socket(hook.socket, server_side=True)
    health = ThreadingHTTPServer(("127.0.0.1", 61779), Health)
    for server in (hook, health):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
