"""The webhooks registered with the real kube-apiserver (ekswin_cluster), called over HTTPS."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient
from kubernetes.client.rest import ApiException

from controller import deploy
from controller.webhook.server import WebhookServer
from harness.manifests import apply

pytestmark = pytest.mark.cluster

KEY = "vpc.amazonaws.com/PrivateIPv4Address"


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `cond` until truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def windows_pod(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **meta},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "containers": [{"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}],
        },
    }


def webhook_host(cluster: Any) -> str:
    """Where the API server reaches webhooks on this host (127.0.0.1 for `local`)."""
    host = getattr(cluster, "webhook_host", None) or cluster.info.webhook_host
    return str(host)


class Registered:
    def __init__(self, server: WebhookServer, namespace: str, core: kclient.CoreV1Api) -> None:
        self.server = server
        self.namespace = namespace
        self.core = core


@pytest.fixture
def registered(ekswin_cluster: Any, tmp_path: Path) -> Iterator[Registered]:
    """WebhookServer (IPAM on) registered for one labelled test namespace only."""
    api = ekswin_cluster.api
    core = kclient.CoreV1Api(api)
    adm = kclient.AdmissionregistrationV1Api(api)
    suffix = uuid.uuid4().hex[:8]
    ns = f"wh-{suffix}"
    core.create_namespace({"metadata": {"name": ns, "labels": {"ekswin-webhook-test": suffix}}})
    apply(api, deploy.rbac_manifests())
    server = WebhookServer(
        tmp_path / "certs",
        0,
        ipam_enabled=lambda: True,
        controller_username=deploy.USERNAME,
        host=webhook_host(ekswin_cluster),
    )
    server.start()
    assert server.ca_bundle is not None
    configs = deploy.webhook_configurations(server.url, server.ca_bundle)
    # Same webhooks as shipped, but scoped to this test's namespace and uniquely named so
    # that other tests in the session (and a harness environment) are not affected.
    for cfg in configs:
        cfg["metadata"]["name"] += f"-test-{suffix}"
        for hook in cfg["webhooks"]:
            hook["namespaceSelector"] = {"matchLabels": {"ekswin-webhook-test": suffix}}
    apply(api, configs)
    try:
        reg = Registered(server, ns, core)
        # Webhook configuration changes reach the API server through an informer: wait
        # until a probe pod comes back mutated.
        n = [0]

        def probe() -> bool:
            n[0] += 1
            name = f"probe-{n[0]}"
            p = core.create_namespaced_pod(ns, windows_pod(name))
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
            return KEY in (p.spec.containers[0].resources.limits or {})

        wait_for(probe, 30, "the API server to call the registered mutating webhook")
        yield reg
    finally:
        adm.delete_mutating_webhook_configuration(configs[0]["metadata"]["name"])
        adm.delete_validating_webhook_configuration(configs[1]["metadata"]["name"])
        core.delete_namespace(ns)
        server.stop()


def test_windows_pod_is_mutated_through_the_api_server(registered: Registered) -> None:
    core, ns = registered.core, registered.namespace
    p = core.create_namespaced_pod(ns, windows_pod("win-1"))
    res = p.spec.containers[0].resources
    assert res.limits == {KEY: "1"} and res.requests == {KEY: "1"}
    linux = core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": "lin-1"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    assert not (linux.spec.containers[0].resources.limits or {})


def test_beta_label_and_existing_resources_through_the_api_server(registered: Registered) -> None:
    core, ns = registered.core, registered.namespace
    body = windows_pod("win-beta")
    body["spec"]["nodeSelector"] = {"beta.kubernetes.io/os": "windows"}
    body["spec"]["containers"] = [
        {"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}},
        {"name": "b", "image": "x"},
    ]
    p = core.create_namespaced_pod(ns, body)
    assert p.spec.containers[0].resources.limits == {"cpu": "1", KEY: "1"}
    assert p.spec.containers[0].resources.requests == {"cpu": "1", KEY: "1"}
    assert not (p.spec.containers[1].resources.limits or {})


def test_pod_created_with_ip_annotation_is_refused(registered: Registered) -> None:
    core, ns = registered.core, registered.namespace
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(ns, windows_pod("sneaky", annotations={KEY: "10.0.0.9/19"}))
    assert err.value.status == 403
    assert "vpod.vpc.k8s.aws" in err.value.body
    assert (
        "pod cannot be created with vpc.amazonaws.com/PrivateIPv4Address annotation"
        in err.value.body
    )


def test_only_the_controller_service_account_may_set_the_annotation(
    registered: Registered, ekswin_cluster: Any, tmp_path: Path
) -> None:
    core, ns = registered.core, registered.namespace
    core.create_namespaced_pod(ns, windows_pod("annotated"))
    patch = {"metadata": {"annotations": {KEY: "10.0.0.9/19"}}}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("annotated", ns, patch)  # admin: still refused
    assert err.value.status == 403
    assert "annotation is not set by vpc-resource-controller" in err.value.body

    kubeconfig = ekswin_cluster.service_account_kubeconfig(
        deploy.NAMESPACE, deploy.SERVICE_ACCOUNT, tmp_path / "sa.kubeconfig"
    )
    from harness.identity import api_client

    sa_core = kclient.CoreV1Api(api_client(kubeconfig))
    got = sa_core.patch_namespaced_pod("annotated", ns, patch)
    assert got.metadata.annotations[KEY] == "10.0.0.9/19"
    # Other updates by anyone stay allowed.
    core.patch_namespaced_pod("annotated", ns, {"metadata": {"labels": {"x": "y"}}})
    # Removing it is refused for the admin too.
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("annotated", ns, {"metadata": {"annotations": {KEY: None}}})
    assert err.value.status == 403


def test_stopped_webhook_is_ignored(registered: Registered) -> None:
    # failurePolicy Ignore: with the server gone, pods are still admitted (unmutated).
    registered.server.stop()
    p = registered.core.create_namespaced_pod(registered.namespace, windows_pod("after-stop"))
    assert not (p.spec.containers[0].resources.limits or {})
