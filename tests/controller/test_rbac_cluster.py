"""The RBAC manifests applied to the real kube-apiserver: what the controller's account may do."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient
from kubernetes.client.rest import ApiException

from controller import deploy
from controller.leader import LeaderElector
from harness.identity import api_client
from harness.manifests import apply

pytestmark = pytest.mark.cluster


@pytest.fixture
def sa_api(ekswin_cluster: Any, tmp_path: Path) -> Any:
    """An ApiClient authenticated as kube-system/vpc-resource-controller, RBAC applied."""
    applied = apply(ekswin_cluster.api, deploy.rbac_manifests())
    assert "ClusterRole/vpc-resource-controller-role" in applied
    # Applying twice is clean (replace on conflict).
    apply(ekswin_cluster.api, deploy.rbac_manifests())
    kubeconfig = ekswin_cluster.service_account_kubeconfig(
        deploy.NAMESPACE, deploy.SERVICE_ACCOUNT, tmp_path / "sa.kubeconfig"
    )
    return api_client(kubeconfig)


def can(
    api: Any,
    verb: str,
    resource: str,
    *,
    group: str = "",
    ns: str = "",
    name: str = "",
    sub: str = "",
) -> bool:
    attrs = kclient.V1ResourceAttributes(
        verb=verb,
        resource=resource,
        group=group,
        namespace=ns or None,
        name=name or None,
        subresource=sub or None,
    )
    review = kclient.V1SelfSubjectAccessReview(
        spec=kclient.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)
    )
    out = kclient.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(out.status.allowed)


ALLOWED = [
    ("list", "nodes", {}),
    ("watch", "nodes", {}),
    ("get", "nodes", {"name": "n1"}),
    ("patch", "nodes", {"name": "n1", "sub": "status"}),
    ("list", "pods", {}),
    ("watch", "pods", {}),
    ("patch", "pods", {"ns": "default", "name": "p"}),
    ("create", "events", {"ns": "default"}),
    ("patch", "events", {"ns": "default"}),
    ("get", "configmaps", {"ns": "kube-system", "name": "amazon-vpc-cni"}),
    ("watch", "configmaps", {"ns": "kube-system", "name": "amazon-vpc-cni"}),
    ("create", "leases", {"ns": "kube-system", "group": "coordination.k8s.io"}),
    (
        "update",
        "leases",
        {"ns": "kube-system", "group": "coordination.k8s.io", "name": deploy.LEASE_NAME},
    ),
]
DENIED = [
    ("delete", "nodes", {"name": "n1"}),
    ("patch", "nodes", {"name": "n1"}),  # only nodes/status
    ("update", "nodes", {"name": "n1", "sub": "status"}),
    ("create", "pods", {"ns": "default"}),
    ("delete", "pods", {"ns": "default", "name": "p"}),
    ("get", "secrets", {"ns": "kube-system", "name": "x"}),
    ("get", "configmaps", {"ns": "kube-system", "name": "kube-proxy"}),
    ("list", "configmaps", {"ns": "kube-system"}),
    ("get", "configmaps", {"ns": "default", "name": "amazon-vpc-cni"}),
    ("update", "leases", {"ns": "kube-system", "group": "coordination.k8s.io", "name": "other"}),
    ("create", "leases", {"ns": "default", "group": "coordination.k8s.io"}),
    ("create", "serviceaccounts", {"ns": "kube-system", "sub": "token", "name": "x"}),
    ("create", "mutatingwebhookconfigurations", {"group": "admissionregistration.k8s.io"}),
]


@pytest.mark.parametrize(("verb", "resource", "kw"), ALLOWED)
def test_controller_account_may(sa_api: Any, verb: str, resource: str, kw: dict[str, str]) -> None:
    assert can(sa_api, verb, resource, **kw)


@pytest.mark.parametrize(("verb", "resource", "kw"), DENIED)
def test_controller_account_may_not(
    sa_api: Any, verb: str, resource: str, kw: dict[str, str]
) -> None:
    assert not can(sa_api, verb, resource, **kw)


def test_configmap_watch_by_name_works_and_broad_list_is_forbidden(
    sa_api: Any, ekswin_cluster: Any
) -> None:
    core = kclient.CoreV1Api(sa_api)
    # What the controller's informer does: list (and watch) with a name field selector.
    out = core.list_namespaced_config_map(
        "kube-system", field_selector="metadata.name=amazon-vpc-cni"
    )
    assert all(cm.metadata.name == "amazon-vpc-cni" for cm in out.items)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("kube-system")
    assert err.value.status == 403


def test_deleting_a_node_is_forbidden(sa_api: Any, ekswin_cluster: Any) -> None:
    name = f"rbac-{uuid.uuid4().hex[:6]}"
    admin = kclient.CoreV1Api(ekswin_cluster.api)
    admin.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/os": "windows"}}})
    try:
        core = kclient.CoreV1Api(sa_api)
        assert core.read_node(name).metadata.name == name
        status = {"status": {"capacity": {"vpc.amazonaws.com/PrivateIPv4Address": "9"}}}
        core.patch_node_status(name, status)
        with pytest.raises(ApiException) as err:
            core.delete_node(name)
        assert err.value.status == 403
    finally:
        admin.delete_node(name)


def test_controller_account_can_run_leader_election_on_its_lease(
    sa_api: Any, ekswin_cluster: Any
) -> None:
    import threading

    coord = kclient.CoordinationV1Api(ekswin_cluster.api)
    with contextlib.suppress(ApiException):
        coord.delete_namespaced_lease(deploy.LEASE_NAME, deploy.NAMESPACE)
    started = threading.Event()
    e = LeaderElector(
        sa_api,
        namespace=deploy.NAMESPACE,
        name=deploy.LEASE_NAME,
        identity="rbac-test",
        lease_duration_s=2,
        renew_deadline_s=1.5,
        retry_period_s=0.25,
        on_started_leading=started.set,
        on_stopped_leading=lambda: None,
    )
    t = threading.Thread(target=e.run, daemon=True)
    t.start()
    try:
        assert started.wait(20), "the controller account could not take its lease"
        spec = coord.read_namespaced_lease(deploy.LEASE_NAME, deploy.NAMESPACE).spec
        assert spec.holder_identity == "rbac-test"
        e.stop()  # ReleaseOnCancel: the account may update its lease to give it up
        spec = coord.read_namespaced_lease(deploy.LEASE_NAME, deploy.NAMESPACE).spec
        assert not spec.holder_identity and spec.lease_duration_seconds == 1
    finally:
        e.stop()
        t.join(timeout=10)
        with contextlib.suppress(ApiException):
            coord.delete_namespaced_lease(deploy.LEASE_NAME, deploy.NAMESPACE)
