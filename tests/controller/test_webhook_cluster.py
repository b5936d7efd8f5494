"""The webhooks registered with the real kube-apiserver (ekswin_cluster), called over HTTPS."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient
from kubernetes.client.rest import ApiException

from controller import deploy
from controller.webhook.server import WebhookServer
from harness.manifests import apply
from harness.testing import WINDOWS_IMAGE, pod_manifest
from harness.waiting import wait_until

pytestmark = pytest.mark.cluster

KEY = "vpc.amazonaws.com/PrivateIPv4Address"


def windows_pod(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return pod_manifest(name, image=f"{WINDOWS_IMAGE}:ltsc2022", annotations=annotations)


def webhook_host(cluster: Any) -> str:
    """Where the API server reaches webhooks on this host (127.0.0.1 for `local`)."""
    host = getattr(cluster, "webhook_host", None) or cluster.info.webhook_host
    return str(host)


def json_patch_crash(api: Any) -> str:
    """Why this API server would crash on a mutating webhook's patch ("" if it would not).

    kube-apiserver < 1.23 vendors modern-go/reflect2 1.0.1, which faults under Go >= 1.18
    when the apiserver records a webhook's JSON Patch in its audit annotations ("fatal
    error: fault" in mapiterinit): a 1.20 built with Debian bookworm's Go 1.19 dies on the
    first mutated pod. A binary built with reflect2 1.0.2 carries its go_above_118.go.
    """
    v = kclient.VersionApi(api).get_code()
    minor = int(re.match(r"\d+", v.minor).group())  # type: ignore[union-attr]
    go = tuple(int(x) for x in re.findall(r"\d+", v.go_version)[:2])
    if minor >= 23 or go < (1, 18):
        return ""
    from harness.binaries import resolve

    found = resolve("kube-apiserver")
    if found is not None and b"reflect2/go_above_118.go" in found.path.read_bytes():
        return ""
    return (
        f"kube-apiserver {v.git_version} built with {v.go_version} vendors modern-go/reflect2 "
        "1.0.1 and crashes on any mutating webhook patch; rebuild it with reflect2 1.0.2 "
        "(Debian: golang-github-modern-go-reflect2-dev) in vendor/"
    )


class Registered:
    def __init__(
        self, server: WebhookServer, namespace: str, core: kclient.CoreV1Api, crash: str
    ) -> None:
        self.server = server
        self.namespace = namespace
        self.core = core
        self.crash = crash

    def require_mutation(self) -> None:
        """Skip a test that needs the API server to apply a patch, where it would crash."""
        if self.crash:
            pytest.skip(self.crash)


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
    crash = json_patch_crash(api)
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
    if crash:  # register only what this API server survives
        configs = configs[1:]
    apply(api, configs)
    try:
        reg = Registered(server, ns, core, crash)
        # Webhook configuration changes reach the API server through an informer: wait
        # until a probe pod is refused by the validating webhook (then mutated, if on).
        n = [0]

        def probe() -> bool:
            n[0] += 1
            try:
                core.create_namespaced_pod(
                    ns, windows_pod(f"probe-{n[0]}", annotations={KEY: "1.1.1.1/32"})
                )
            except ApiException as e:
                return e.status == 403
            core.delete_namespaced_pod(f"probe-{n[0]}", ns, grace_period_seconds=0)
            return False

        wait_until(probe, 30, "the API server to call the registered validating webhook")
        if not crash:

            def mutated() -> bool:
                n[0] += 1
                p = core.create_namespaced_pod(ns, windows_pod(f"probe-{n[0]}"))
                core.delete_namespaced_pod(f"probe-{n[0]}", ns, grace_period_seconds=0)
                return KEY in (p.spec.containers[0].resources.limits or {})

            wait_until(mutated, 30, "the API server to call the registered mutating webhook")
        yield reg
    finally:
        for cfg in configs:
            if cfg["kind"] == "MutatingWebhookConfiguration":
                adm.delete_mutating_webhook_configuration(cfg["metadata"]["name"])
            else:
                adm.delete_validating_webhook_configuration(cfg["metadata"]["name"])
        core.delete_namespace(ns)
        server.stop()


def test_windows_pod_is_mutated_through_the_api_server(registered: Registered) -> None:
    registered.require_mutation()
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
    registered.require_mutation()
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
    # failurePolicy Ignore: with the server gone, pods are admitted unchecked/unmutated
    # (even one carrying the annotation the validating webhook refuses).
    registered.server.stop()
    p = registered.core.create_namespaced_pod(
        registered.namespace, windows_pod("after-stop", annotations={KEY: "1.1.1.1/32"})
    )
    assert p.metadata.annotations[KEY] == "1.1.1.1/32"
    assert not (p.spec.containers[0].resources.limits or {})
