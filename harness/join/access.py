"""Who a joining host is in the cluster, and which certificates the first host grants it.

The join file carries a token of the ServiceAccount ``kube-system/ekswin-join``. That
identity may do little: create and read CertificateSigningRequests (and delete its
own once read) and read Nodes. Everything a shard runs with is a client certificate
obtained through those requests, signed by the cluster's controller-manager once
the first host approved it:

- a node's identity, ``CN=system:node:<name>, O=system:nodes`` with the kubelet's
  signer (what a kubelet's TLS bootstrap asks for), so the Node authorizer and
  NodeRestriction apply to the joined nodes as to any node;
- kube-proxy's, ``CN=ekswin:join:kube-proxy`` with the client signer, which this
  environment binds to the built-in ClusterRole ``system:node-proxier`` (the binding
  goes at `down`, and the certificate's rights with it).

:func:`decide` is the first host's rule (plain data in, a decision out), in the role
the aws-auth mapping plays on EKS, where a node's role may only become a node: a join
request for a node identity is approved unless the name is one of the environment's
own nodes or of a Node that did not join through this file (a real node of a real
cluster is never handed out); the kube-proxy user is approved as is; anything else —
other users, groups, usages or signers — is denied, with the reason in the condition.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.csr import CLIENT_SIGNER, KUBELET_SIGNER, USAGES

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "ekswin-join"
CLUSTER_ROLE = "ekswin:join"
KUBE_PROXY_USER = "ekswin:join:kube-proxy"
KUBE_PROXY_BINDING = "ekswin:join:kube-proxy"
ALLOWED_USAGES = frozenset(USAGES)
NODE_PREFIX = "system:node:"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def requester() -> str:
    """The username the API server records on a request made with the join token."""
    return f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"


def manifests() -> list[dict[str, Any]]:
    """The join identity, what it may do, and kube-proxy's binding (as manifests)."""
    rbac = "rbac.authorization.k8s.io"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE},
            "rules": [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["certificatesigningrequests"],
                    "verbs": ["create", "get", "list", "watch", "delete"],
                },
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": CLUSTER_ROLE},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [
                {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": KUBE_PROXY_BINDING},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:node-proxier"},
            "subjects": [{"apiGroup": rbac, "kind": "User", "name": KUBE_PROXY_USER}],
        },
    ]


@dataclass(frozen=True)
class Subject:
    """What a certificate request asks to become."""

    common_name: str
    organizations: tuple[str, ...]


def request_subject(request_b64: str) -> Subject:
    """The subject of a CSR's ``spec.request`` (base64 of a PEM request)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    csr = x509.load_pem_x509_csr(base64.b64decode(request_b64))
    cn = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return Subject(cn[0] if cn else "", tuple(orgs))


@dataclass(frozen=True)
class Decision:
    """Approve or deny one request; `node` is the node whose identity it grants."""

    approve: bool
    reason: str
    node: str = ""


def decide(
    spec: Mapping[str, Any],
    *,
    reserved: Collection[str],
    joined: Collection[str],
    node_exists: Callable[[str], bool],
) -> Decision | None:
    """The first host's answer to a CSR's `spec` (API JSON); None when the request is
    not the join identity's (left to whoever else approves requests)."""
    if spec.get("username") != requester():
        return None
    signer = str(spec.get("signerName") or "")
    usages = set(spec.get("usages") or ())
    if not usages <= ALLOWED_USAGES:
        extra = ", ".join(sorted(usages - ALLOWED_USAGES))
        return Decision(False, f"usages {extra} are not granted to joining hosts")
    try:
        subject = request_subject(str(spec.get("request") or ""))
    except Exception as e:
        return Decision(False, f"unreadable request: {e}")
    cn, orgs = subject.common_name, subject.organizations
    if signer == KUBELET_SIGNER and cn.startswith(NODE_PREFIX):
        node = cn.removeprefix(NODE_PREFIX)
        if orgs != ("system:nodes",):
            return Decision(False, f"node {node}: groups {list(orgs)}, expected ['system:nodes']")
        if not _DNS_SUBDOMAIN.match(node) or len(node) > 253:
            return Decision(False, f"node name {node!r} is not a DNS-1123 subdomain")
        if node in reserved:
            return Decision(False, f"node {node} is one of the environment's own nodes")
        if node not in joined and node_exists(node):
            return Decision(False, f"node {node} exists and did not join through this file")
        return Decision(True, f"node {node} joins", node)
    if signer == CLIENT_SIGNER and cn == KUBE_PROXY_USER:
        if orgs:
            return Decision(False, f"{cn}: groups {list(orgs)} are not granted")
        return Decision(True, f"kube-proxy of a joining host ({cn})")
    return Decision(False, f"{cn!r} with signer {signer!r} is not granted to joining hosts")
