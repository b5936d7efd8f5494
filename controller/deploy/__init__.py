"""Kubernetes manifests for the controller: identity, RBAC and webhook registrations.

The YAML files beside this module are the source; these functions load them as plain
dicts ready for any client (e.g. harness.manifests.apply or `kubectl apply -f -`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from controller.webhook.review import MUTATE_PATH, VALIDATE_PATH

HERE = Path(__file__).parent
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "vpc-resource-controller"
USERNAME = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
LEASE_NAME = "cp-vpc-resource-controller"
MUTATING_WEBHOOK_CONFIGURATION = "vpc-resource-mutating-webhook"
VALIDATING_WEBHOOK_CONFIGURATION = "vpc-resource-validating-webhook"


def _load(name: str) -> list[dict[str, Any]]:
    with open(HERE / name, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def rbac_manifests() -> list[dict[str, Any]]:
    """ServiceAccount kube-system/vpc-resource-controller, its ClusterRole, Roles and bindings.

    Order is apply order: the account first, then roles before their bindings.
    """
    return _load("serviceaccount.yaml") + _load("rbac.yaml")


def webhook_configurations(
    url_base: str, ca_bundle_pem: bytes, *, timeout_seconds: int | None = None
) -> list[dict[str, Any]]:
    """Mutating + validating webhook configurations calling `url_base` (https://host:port).

    Each webhook's clientConfig becomes `url_base` + its path and the caBundle the
    base64 of `ca_bundle_pem` (the CA that signed the webhook's serving certificate).
    `timeout_seconds` overrides the 10 s default (1..30, the API's bounds).
    """
    if not url_base.startswith("https://"):
        raise ValueError(f"url_base {url_base!r}: expected an https:// URL (the API requires TLS)")
    if b"-----BEGIN CERTIFICATE-----" not in ca_bundle_pem:
        raise ValueError("ca_bundle_pem: expected PEM certificate(s)")
    if timeout_seconds is not None and not 1 <= timeout_seconds <= 30:
        raise ValueError(f"timeout_seconds {timeout_seconds}: expected 1..30")
    base = url_base.rstrip("/")
    ca = base64.b64encode(ca_bundle_pem).decode()
    out = _load("webhooks.yaml")
    for config in out:
        for hook in config["webhooks"]:
            path = hook["clientConfig"]["path"]
            assert path in (MUTATE_PATH, VALIDATE_PATH), path
            hook["clientConfig"] = {"url": base + path, "caBundle": ca}
            if timeout_seconds is not None:
                hook["timeoutSeconds"] = timeout_seconds
    return out
