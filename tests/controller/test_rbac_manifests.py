"""controller.deploy: manifest shape (least privilege, webhook registrations)."""

from __future__ import annotations

import base64

import pytest

from controller import deploy

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def rules_of(kind: str, name: str) -> list[dict]:
    (obj,) = [
        m for m in deploy.rbac_manifests() if m["kind"] == kind and m["metadata"]["name"] == name
    ]
    return obj["rules"]


def test_manifest_set_and_order() -> None:
    ms = deploy.rbac_manifests()
    kinds = [(m["kind"], m["metadata"]["name"]) for m in ms]
    assert kinds[0] == ("ServiceAccount", "vpc-resource-controller")
    assert ("ClusterRole", "vpc-resource-controller-role") in kinds
    assert ("Role", "vpc-resource-leader-election-role") in kinds
    for m in ms:
        if m["kind"].endswith("Binding"):
            assert m["subjects"] == [
                {
                    "kind": "ServiceAccount",
                    "name": "vpc-resource-controller",
                    "namespace": "kube-system",
                }
            ]
            ref = m["roleRef"]
            assert any(
                r["kind"] == ref["kind"] and r["metadata"]["name"] == ref["name"] for r in ms
            )


def test_least_privilege_no_wildcards_no_deletes_no_secrets() -> None:
    for m in deploy.rbac_manifests():
        for rule in m.get("rules", []):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
            assert "delete" not in rule["verbs"] and "deletecollection" not in rule["verbs"]
            assert "secrets" not in rule["resources"]
            assert "serviceaccounts/token" not in rule["resources"]


def test_cluster_role_grants_exactly_what_the_controller_uses() -> None:
    got = {
        (res, verb)
        for rule in rules_of("ClusterRole", "vpc-resource-controller-role")
        for res in rule["resources"]
        for verb in rule["verbs"]
    }
    assert got == {
        ("events", "create"),
        ("events", "patch"),
        ("nodes", "get"),
        ("nodes", "list"),
        ("nodes", "watch"),
        ("nodes/status", "get"),
        ("nodes/status", "patch"),
        ("pods", "get"),
        ("pods", "list"),
        ("pods", "watch"),
        ("pods", "patch"),
    }


def test_configmap_deployment_and_lease_access_is_limited_by_name() -> None:
    cm, deployment = rules_of("Role", "vpc-resource-controller-role")
    assert cm["resourceNames"] == ["amazon-vpc-cni"]
    # The old in-cluster controller's Deployment, read-only, by name (conditions.go).
    assert deployment == {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "resourceNames": ["vpc-resource-controller"],
        "verbs": ["get", "list", "watch"],
    }
    lease_rules = rules_of("Role", "vpc-resource-leader-election-role")
    named = [r for r in lease_rules if "resourceNames" in r]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [deploy.LEASE_NAME],
            "verbs": ["get", "update"],
        }
    ]


def test_webhook_configurations_fill_url_and_ca() -> None:
    mut, val = deploy.webhook_configurations("https://127.0.0.1:9443/", CA)
    assert mut["kind"] == "MutatingWebhookConfiguration"
    assert mut["metadata"]["name"] == "vpc-resource-mutating-webhook"
    assert val["metadata"]["name"] == "vpc-resource-validating-webhook"
    (m,) = mut["webhooks"]
    (v,) = val["webhooks"]
    assert m["name"] == "mpod.vpc.k8s.aws" and v["name"] == "vpod.vpc.k8s.aws"
    assert m["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate-v1-pod",
        "caBundle": base64.b64encode(CA).decode(),
    }
    assert v["clientConfig"]["url"] == "https://127.0.0.1:9443/validate-v1-pod"
    assert m["rules"][0]["operations"] == ["CREATE"]
    assert v["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    for hook in (m, v):
        assert hook["failurePolicy"] == "Ignore"
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["timeoutSeconds"] == 10
        assert hook["rules"][0]["resources"] == ["pods"]
        # 1.20 has no matchConditions; the real manifests have no selectors.
        assert "matchConditions" not in hook
        assert "namespaceSelector" not in hook and "objectSelector" not in hook


def test_webhook_configuration_input_errors() -> None:
    with pytest.raises(ValueError, match="https://"):
        deploy.webhook_configurations("http://127.0.0.1:1", CA)
    with pytest.raises(ValueError, match="PEM"):
        deploy.webhook_configurations("https://127.0.0.1:1", b"nope")
    with pytest.raises(ValueError, match=r"1\.\.30"):
        deploy.webhook_configurations("https://127.0.0.1:1", CA, timeout_seconds=31)
    (m, _) = deploy.webhook_configurations("https://127.0.0.1:1", CA, timeout_seconds=3)
    assert m["webhooks"][0]["timeoutSeconds"] == 3
