"""kube-proxy's own Kubernetes identity, as EKS sets it up.

EKS runs kube-proxy with the ServiceAccount ``kube-system/kube-proxy`` bound to the
built-in ClusterRole ``system:node-proxier`` (list/watch Services, Endpoints,
EndpointSlices and Nodes; create/patch Events). The Node authorizer does not let a
node's own certificate list Endpoints, so the emulation needs this identity too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.identity import ensure_service_account

NAMESPACE = "kube-system"
NAME = "kube-proxy"
BINDING = "eks:kube-proxy"


def ensure_binding(api: Any) -> None:
    """Create the ServiceAccount and its ClusterRoleBinding unless they exist (admin api)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ensure_service_account(api, NAMESPACE, NAME)
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": BINDING},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:node-proxier",
        },
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }
    try:
        client.RbacAuthorizationV1Api(api).create_cluster_role_binding(body)
    except ApiException as e:
        if e.status != 409:
            raise


def kube_proxy_kubeconfig(cluster: Any, path: Path) -> Path:
    """Bind the identity and write its kubeconfig via the cluster's ServiceAccount helper."""
    ensure_binding(cluster.api)
    return Path(cluster.service_account_kubeconfig(NAMESPACE, NAME, path))
