"""The Kubernetes objects the upstream controller needs: CRDs, RBAC, webhook registrations.

Written here from the fields the upstream types and manifests declare
(docs/upstream-controller.md lists them with their sources); none is copied.
The identity is the same ServiceAccount the Python controller uses
(kube-system/vpc-resource-controller), the only one the annotation webhook trusts.
"""

from __future__ import annotations

import base64
from typing import Any

from harness.upstream.plan import MUTATE_POD, VALIDATE_NODE, VALIDATE_POD

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "vpc-resource-controller"
CLUSTER_ROLE = "vpc-resource-controller-upstream-role"
ROLE = "vpc-resource-controller-upstream-role"
MUTATING = "vpc-resource-mutating-webhook"
VALIDATING = "vpc-resource-validating-webhook"
LEASE = "cp-vpc-resource-controller"
# Put on every CNINode by the binary (pkg/config/type.go@b8d4251:55).
CNINODE_FINALIZER = "networking.k8s.aws/resource-cleanup"

Manifest = dict[str, Any]


def _string_map() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def _selector() -> dict[str, Any]:
    """A metav1.LabelSelector (matchLabels, matchExpressions)."""
    return {
        "type": "object",
        "properties": {
            "matchLabels": _string_map(),
            "matchExpressions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": {"type": "string"},
                        "operator": {"type": "string"},
                        "values": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }


def _crd(
    group: str,
    kind: str,
    plural: str,
    version: str,
    scope: str,
    spec: dict[str, Any],
    short: list[str] | None = None,
    status: bool = False,
) -> Manifest:
    props: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status:
        props["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    if short:
        names["shortNames"] = short
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": names,
            "scope": scope,
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": props}},
                }
            ],
        },
    }


def crds() -> list[Manifest]:
    """CNINode (required: the node controller owns them), SecurityGroupPolicy and
    ENIConfig (in the controller's scheme; read by the pod webhook / custom networking)."""
    cninode = _crd(
        "vpcresources.k8s.aws",
        "CNINode",
        "cninodes",
        "v1alpha1",
        "Cluster",
        {
            "type": "object",
            "properties": {
                "features": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
                "tags": _string_map(),
            },
        },
        short=["cnd"],
        status=True,
    )
    cninode["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Features", "type": "string", "jsonPath": ".spec.features"}
    ]
    sgp = _crd(
        "vpcresources.k8s.aws",
        "SecurityGroupPolicy",
        "securitygrouppolicies",
        "v1beta1",
        "Namespaced",
        {
            "type": "object",
            "properties": {
                "podSelector": _selector(),
                "serviceAccountSelector": {
                    **_selector(),
                    "properties": {
                        **_selector()["properties"],
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "securityGroups": {
                    "type": "object",
                    "properties": {"groupIds": {"type": "array", "items": {"type": "string"}}},
                },
            },
        },
        short=["sgp"],
    )
    eniconfig = _crd(
        "crd.k8s.amazonaws.com",
        "ENIConfig",
        "eniconfigs",
        "v1alpha1",
        "Cluster",
        {
            "type": "object",
            "properties": {
                "subnet": {"type": "string"},
                "securityGroups": {"type": "array", "items": {"type": "string"}},
            },
        },
        status=True,
    )
    return [cninode, sgp, eniconfig]


def _rule(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> Manifest:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


def _binding(kind: str, name: str, namespace: str | None = None) -> Manifest:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
    }


def rbac() -> list[Manifest]:
    """The ServiceAccount and the upstream ClusterRole / kube-system Role with bindings.

    Apply order: account, roles, bindings. Without the Deployment read, the controller
    takes the failed read for an old controller being present and keeps IPAM off."""
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE},
        "rules": [
            _rule([""], ["events"], ["create", "patch", "update"]),
            _rule([""], ["nodes", "serviceaccounts"], ["get", "list", "watch"]),
            _rule([""], ["nodes/status"], ["get", "patch"]),
            _rule([""], ["pods"], ["get", "list", "patch", "watch"]),
            _rule(["crd.k8s.amazonaws.com"], ["eniconfigs"], ["get", "list", "watch"]),
            _rule(["vpcresources.k8s.aws"], ["securitygrouppolicies"], ["get", "list", "watch"]),
            _rule(
                ["vpcresources.k8s.aws"],
                ["cninodes"],
                ["create", "delete", "get", "list", "patch", "update", "watch"],
            ),
        ],
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": ROLE, "namespace": NAMESPACE},
        "rules": [
            _rule([""], ["configmaps"], ["get", "list", "watch"], resourceNames=["amazon-vpc-cni"]),
            _rule(
                ["apps"],
                ["deployments"],
                ["get", "list", "watch"],
                resourceNames=["vpc-resource-controller"],
            ),
            _rule(["apps"], ["daemonsets"], ["get", "list", "watch"], resourceNames=["aws-node"]),
            _rule(["coordination.k8s.io"], ["leases"], ["create"]),
            _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], resourceNames=[LEASE]),
        ],
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
    }
    return [
        account,
        cluster_role,
        role,
        _binding("ClusterRole", CLUSTER_ROLE),
        _binding("Role", ROLE, NAMESPACE),
    ]


def _hook(name: str, path: str, resource: str, operations: list[str], url: str, ca: str) -> Any:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"url": url + path, "caBundle": ca},
        "failurePolicy": "Ignore",
        "matchPolicy": "Equivalent",
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": operations,
                "resources": [resource],
            }
        ],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }


def webhook_configurations(url_base: str, ca_pem: bytes) -> list[Manifest]:
    """Mutating (pods CREATE) and validating (nodes UPDATE, pods CREATE+UPDATE)
    registrations calling the binary's webhook server at `url_base` (https://host:9443)."""
    if not url_base.startswith("https://"):
        raise ValueError(f"url_base {url_base!r}: expected an https:// URL (the API requires TLS)")
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ValueError("ca_pem: expected PEM certificate(s)")
    base = url_base.rstrip("/")
    ca = base64.b64encode(ca_pem).decode()
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": MUTATING},
            "webhooks": [
                {
                    **_hook("mpod.vpc.k8s.aws", MUTATE_POD, "pods", ["CREATE"], base, ca),
                    "reinvocationPolicy": "Never",
                }
            ],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": VALIDATING},
            "webhooks": [
                _hook("vnode.vpc.k8s.aws", VALIDATE_NODE, "nodes", ["UPDATE"], base, ca),
                _hook("vpod.vpc.k8s.aws", VALIDATE_POD, "pods", ["CREATE", "UPDATE"], base, ca),
            ],
        },
    ]
