"""Client certificates on a cluster whose CA key we do not hold: the CSR API.

A node's identity is what the kubelet's TLS bootstrap obtains: a CertificateSigningRequest
for ``CN=system:node:<name>, O=system:nodes`` with the signer
``kubernetes.io/kube-apiserver-client-kubelet`` (usages digital signature, key
encipherment, client auth — exactly these three, which 1.20's signer requires). Any
other user gets ``kubernetes.io/kube-apiserver-client``. The harness approves the
request itself (it runs with the cluster's admin kubeconfig), the cluster's
controller-manager signs it, and the request object is deleted once the certificate
is read. The node then authenticates exactly as a real node: the Node authorizer and
NodeRestriction apply to it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.certs import KeyPair
from harness.waiting import wait_until

KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
USAGES = ["digital signature", "key encipherment", "client auth"]
SIGN_TIMEOUT_S = 60.0


class CsrDenied(RuntimeError):
    """The approver denied the request (the message has its reason)."""


def signer_for(user: str, groups: Sequence[str]) -> str:
    """The built-in signer a real cluster uses for this identity."""
    if user.startswith("system:node:") and list(groups) == ["system:nodes"]:
        return KUBELET_SIGNER
    return CLIENT_SIGNER


def csr_name(environment: str, user: str) -> str:
    """A DNS-1123 object name for the request of `user` in `environment`."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", user.lower()).strip("-.")
    return f"ekswin-{environment}-{slug}"[:253]


def _request_pem(user: str, groups: Sequence[str]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    pem = csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key_pem


def approve(certs: Any, name: str, user: str, attempts: int = 10) -> None:
    """Add the Approved condition to CSR `name` unless it has one; re-read and retry when
    the cluster's own controllers updated it in between (409 Conflict). The
    controller-manager's csrapproving controller approves a kubelet client request by
    itself ("AutoApproved") when the requester may create node client CSRs, as the
    admin may."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    for attempt in range(attempts):
        current = certs.read_certificate_signing_request(name)
        if any(c.type == "Approved" for c in current.status.conditions or []):
            return
        current.status.conditions = [
            *(current.status.conditions or []),
            client.V1CertificateSigningRequestCondition(
                type="Approved",
                status="True",
                reason="EkswinApproved",
                message=f"approved by ekswin for {user}",
            ),
        ]
        try:
            certs.replace_certificate_signing_request_approval(name, current)
            return
        except ApiException as e:
            if e.status != 409 or attempt == attempts - 1:
                raise


def issue(
    api: Any,
    name: str,
    user: str,
    groups: Sequence[str],
    labels: Mapping[str, str],
    timeout_s: float = SIGN_TIMEOUT_S,
    *,
    approver: str = "",
) -> KeyPair:
    """Create, approve and wait for a CSR `name`; return the signed certificate and its key.

    With `approver` (who approves it, for the messages) the request is not approved
    here: it waits for that approval, and a Denied condition is an error with its
    reason. The request object is deleted before returning (also on failure).
    """
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    certs = client.CertificatesV1Api(api)
    request_pem, key_pem = _request_pem(user, groups)
    signer = signer_for(user, groups)
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "request": base64.b64encode(request_pem).decode(),
            "signerName": signer,
            "usages": USAGES,
        },
    }
    try:
        certs.delete_certificate_signing_request(name)  # a leftover of a crashed run
    except ApiException as e:
        if e.status != 404:
            raise
    certs.create_certificate_signing_request(body)
    try:
        if not approver:
            approve(certs, name, user)
        signed: dict[str, bytes] = {}

        def issued() -> bool:
            st = certs.read_certificate_signing_request(name).status
            for c in st.conditions or []:
                if c.type == "Failed" and c.status == "True":
                    raise RuntimeError(f"CSR {name} ({signer}) failed: {c.reason}: {c.message}")
                if c.type == "Denied" and c.status == "True":
                    raise CsrDenied(f"CSR {name} for {user} denied by {approver}: {c.message}")
            if st.certificate:
                signed["pem"] = base64.b64decode(st.certificate)
            return bool(st.certificate)

        what = (
            f"{approver} approving CSR {name} and the cluster signing it"
            if approver
            else f"the cluster signing CSR {name} ({signer}); its kube-controller-manager must "
            "sign this signer's requests"
        )
        wait_until(issued, timeout_s, what)
    finally:
        try:
            certs.delete_certificate_signing_request(name)
        except ApiException as e:
            if e.status != 404:
                raise
    return KeyPair(signed["pem"], key_pem)
