"""kube-proxy's own Kubernetes identity, as EKS sets it up.

EKS runs kube-proxy with the ServiceAccount ``kube-system/kube-proxy`` bound to the
built-in ClusterRole ``system:node-proxier`` (list/watch Services, Endpoints,
EndpointSlices and Nodes; create/patch Events). The Node authorizer does not let a
node's own certificate list Endpoints, so the emulation needs this identity too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NAMESPACE = "kube-system"
NAME = "kube-proxy"
BINDING = "eks:kube-proxy"


def ensure_binding(api: Any) -> None:
    """Create the ServiceAccount and its ClusterRoleBinding unless they exist (admin api)."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(api)
    for m in binding_manifests():
        res = dyn.resources.get(api_version=m["apiVersion"], kind=m["kind"])
        try:
            res.create(body=m, namespace=m["metadata"].get("namespace"))
        except ApiException as e:
            if e.status != 409:
                raise


def binding_manifests() -> list[dict[str, Any]]:
    """The ServiceAccount and its ClusterRoleBinding to system:node-proxier, as manifests."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": BINDING},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node-proxier",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
    ]


def kube_proxy_kubeconfig(cluster: Any, path: Path) -> Path:
    """Install the identity through the cluster backend (labelled as the environment's)
    and write its kubeconfig via the cluster's ServiceAccount helper."""
    cluster.install(binding_manifests())
    return Path(cluster.service_account_kubeconfig(NAMESPACE, NAME, path))
