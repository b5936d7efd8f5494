"""The harness's wiring for `controller.implementation: upstream`, checked with a
STAND-IN executable (tests/harness/upstream_standin.py), NOT the upstream controller:
flags and environment reach the process, IMDS and EC2 answer at the addresses it is
given, its ServiceAccount can read what the binary reads, the webhook certificate is
where controller-runtime looks, and the API server calls its port 9443 paths. The real
binary runs in CI (.github/workflows/upstream.yml)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.testing import pod_manifest
from harness.upstream import host
from harness.upstream.plan import BINARY_ENV
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster]

STANDIN = Path(__file__).with_name("upstream_standin.py")


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if host.busy_ports():
        pytest.skip(f"ports {host.busy_ports()} are in use on this host")
    exe = tmp_path_factory.mktemp("standin") / "not-the-upstream-controller"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    mp = pytest.MonkeyPatch()
    mp.setenv(BINARY_ENV, str(exe))
    try:
        yield ekswin_env_factory(
            "upstream-wiring",
            controller={"implementation": "upstream"},
            configmap={"enable-windows-ipam": "true"},
        )
    finally:
        mp.undo()


def _record(env: Any) -> dict[str, Any]:
    path = env.run_dir / "components" / "upstream-tmp" / "standin-record.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_flags_env_imds_ec2_and_rbac_reach_the_process(env: Any) -> None:
    pipe = env.pipeline
    rec = _record(env)
    assert f"--vpc-id={pipe.vpc_id}" in rec["argv"]
    assert "--enable-windows-prefix-delegation=true" in rec["argv"]
    assert rec["env"]["AWS_ENDPOINT_URL_EC2"] == pipe.ec2_url
    assert rec["env"]["AWS_EC2_METADATA_SERVICE_ENDPOINT"] == pipe.ec2_url
    assert rec["imds"] == {"ttl": "21600", "region": "us-west-2", "account": "123456789012"}
    assert rec["ec2_available_enis"] == 0
    # The CRD exists and the ServiceAccount may list it; the old-controller Deployment is
    # readable and absent (a 403 there would keep the real controller's IPAM off).
    assert rec["kube"] == {"cninodes": 200, "old_deployment": 404}
    admin = pipe.admin()
    calls = [r for r in admin.requests(action="DescribeNetworkInterfaces") if r["status"] == 200]
    assert any(r["params"].get("Filter.2.Value.1") == pipe.vpc_id for r in calls)


def test_the_api_server_calls_the_webhook_on_9443(env: Any) -> None:
    from kubernetes import client

    core = client.CoreV1Api(env.cluster.api)
    core.create_namespaced_pod("default", pod_manifest("wired"))
    wait_until(
        lambda: {"/mutate-v1-pod", "/validate-v1-pod"} <= set(_record(env)["webhook_paths"]),
        60,
        "the API server to call /mutate-v1-pod and /validate-v1-pod",
    )
    assert env.endpoints["webhook"] == "https://127.0.0.1:9443"


def test_a_second_upstream_environment_is_refused_while_this_one_runs(env: Any) -> None:
    from harness.upstream.plan import UpstreamUnavailable

    with pytest.raises(UpstreamUnavailable, match="another environment"):
        host.check_free()


def test_teardown_releases_the_cninode_finalizer(env: Any) -> None:
    """Last: it stops the stand-in, as teardown does before nodes and CRDs go."""
    from kubernetes import client

    from harness.upstream.manifests import CNINODE_FINALIZER

    api = client.CustomObjectsApi(env.cluster.api)
    args = ("vpcresources.k8s.aws", "v1alpha1", "cninodes")
    body = {
        "apiVersion": "vpcresources.k8s.aws/v1alpha1",
        "kind": "CNINode",
        "metadata": {"name": "wired-node", "finalizers": [CNINODE_FINALIZER]},
        "spec": {"tags": {"node.k8s.amazonaws.com/instance_id": "i-0123456789abcdef0"}},
    }
    api.create_cluster_custom_object(*args, body)
    api.delete_cluster_custom_object(*args, "wired-node")
    assert api.get_cluster_custom_object(*args, "wired-node")["metadata"]["deletionTimestamp"]
    assert env.pipeline.release_cninodes({"wired-node", "other"}) == ["wired-node"]
    assert not env.pipeline.controllers[0].alive()

    def gone() -> bool:
        try:
            api.get_cluster_custom_object(*args, "wired-node")
        except client.ApiException as e:
            return e.status == 404
        return False

    wait_until(gone, 30, "the CNINode to be deleted once its finalizer is released")
