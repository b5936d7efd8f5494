"""CNI conformance of the exec'd ``ekswin-cni`` against a real fake_hns and API server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.testing import pod_manifest

pytestmark = pytest.mark.cluster

NODE = "cni-node"
ANNOTATION = "vpc.amazonaws.com/PrivateIPv4Address"


@pytest.fixture(scope="module")
def hns(node_hns: Callable[[str], Any]) -> Any:
    return node_hns(NODE)


@pytest.fixture(scope="module")
def node_kubeconfig(ekswin_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cni") / f"{NODE}.kubeconfig"
    return Path(
        ekswin_cluster.issue_client_kubeconfig(f"system:node:{NODE}", ["system:nodes"], path)
    )


@pytest.fixture(scope="module")
def core(ekswin_cluster: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(ekswin_cluster.api)


def make_pod(core: Any, annotation: str | None) -> str:
    name = f"cni-{uuid.uuid4().hex[:8]}"
    annotations = {ANNOTATION: annotation} if annotation else None
    pod = pod_manifest(name, node=NODE, image="mcr.microsoft.com/pause", annotations=annotations)
    core.create_namespaced_pod("default", pod)
    return name


def netconf(kubeconfig: Path, target: str, **extra: Any) -> dict[str, Any]:
    conf = {
        "cniVersion": "1.0.0",
        "name": "vpc",
        "type": "ekswin-cni",
        "eniMACAddress": "0A:1B:2C:3D:4E:5F",
        "eniIPAddresses": ["192.168.0.10/19"],
        "vpcCIDRs": ["192.168.0.0/16"],
        "serviceCIDR": "10.96.0.0/16",
        "gatewayIPAddress": "192.168.0.1",
        "dns": {"nameservers": ["10.96.0.10"], "search": ["{%namespace%}.svc.cluster.local"]},
        "kubeconfig": str(kubeconfig),
        "hnsEndpoint": target,
        "hnsHost": NODE,
        "annotationTimeoutSeconds": 5,
    }
    conf.update(extra)
    return conf


def env(command: str, sandbox: str, netns: str, pod: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": sandbox,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};"
        f"K8S_POD_INFRA_CONTAINER_ID={sandbox}",
    }


def test_add_check_del_lifecycle(
    cni: Any, hns: Any, node_kubeconfig: Path, fake_hns_target: str, core: Any
) -> None:
    pod = make_pod(core, "192.168.1.23/19")
    sandbox = uuid.uuid4().hex * 2
    netns = hns.create_namespace()
    conf = netconf(node_kubeconfig, fake_hns_target)

    code, result = cni(env("ADD", sandbox, netns, pod), conf)
    assert code == 0, result
    assert result["cniVersion"] == "1.0.0"
    assert result["ips"][0]["address"] == "192.168.1.23/19"
    assert result["ips"][0]["gateway"] == "192.168.0.1"
    assert result["interfaces"][0]["sandbox"] == netns
    assert result["dns"]["search"] == ["default.svc.cluster.local"]
    mac = result["interfaces"][0]["mac"]
    assert mac

    network = hns.get_network("vpcbr0a1b2c3d4e5f")
    assert network is not None and network.type.lower() == "l2bridge"
    assert network.subnet == "192.168.0.0/19" and network.gateway == "192.168.0.1"
    ep = hns.get_endpoint(f"cid-{sandbox}")
    assert ep is not None and ep.ip == "192.168.1.23" and ep.mac == mac
    assert ep.snat_exceptions == ["192.168.0.0/16", "10.96.0.0/16"]
    assert sorted(ep.routes) == sorted(["10.96.0.0/16", "192.168.0.10/32"])
    assert ep.id in hns.namespace_endpoints(netns)

    # A repeated ADD for the same sandbox succeeds with the same endpoint.
    code, again = cni(env("ADD", sandbox, netns, pod), conf)
    assert code == 0 and again["interfaces"][0]["mac"] == mac

    code, out = cni(env("CHECK", sandbox, netns, pod), {**conf, "prevResult": result})
    assert code == 0, out
    code, out = cni(
        env("CHECK", sandbox, netns, pod),
        {**conf, "prevResult": {**result, "ips": [{"address": "192.168.1.99/19"}]}},
    )
    assert code != 0 and out["code"] == 999

    for _ in range(2):  # DEL is idempotent
        code, out = cni(env("DEL", sandbox, netns, pod), conf)
        assert code == 0 and out == {}
    assert hns.get_endpoint(f"cid-{sandbox}") is None
    assert hns.get_network("vpcbr0a1b2c3d4e5f") is not None  # DEL never deletes the network

    code, out = cni(env("CHECK", sandbox, netns, pod), {**conf, "prevResult": result})
    assert code != 0 and "cid-" in out["msg"]


def test_del_without_api_server_access(
    cni: Any, hns: Any, fake_hns_target: str, tmp_path: Path
) -> None:
    # DEL must not read the API server: a kubeconfig pointing nowhere still succeeds.
    conf = netconf(tmp_path / "missing.kubeconfig", fake_hns_target)
    code, out = cni(env("DEL", "f" * 64, "", "gone"), conf)
    assert code == 0 and out == {}


def test_version(cni: Any) -> None:
    code, out = cni({"CNI_COMMAND": "VERSION"}, {"cniVersion": "1.0.0"})
    assert code == 0
    assert out["cniVersion"] == "1.0.0" and "1.0.0" in out["supportedVersions"]
    assert "0.3.1" in out["supportedVersions"]


@pytest.mark.parametrize(
    ("stdin", "code", "fragment"),
    [
        (b"{not json", 6, "decoding version from network config"),
        (
            b'{"cniVersion": "1.0.0", "name": "vpc", "type": "ekswin-cni"}',
            999,
            "missing required parameter ENIName or ENIMACAddress",
        ),
        (b'{"cniVersion": "7.0.0", "name": "vpc"}', 1, "incompatible CNI versions"),
    ],
)
def test_malformed_netconf(cni: Any, stdin: bytes, code: int, fragment: str) -> None:
    rc, out = cni(env("ADD", "a" * 64, "ns", "p"), stdin)
    assert rc != 0
    assert out["code"] == code and fragment in out["msg"]
    assert "cniVersion" in out


def test_missing_env_is_code_4(cni: Any) -> None:
    rc, out = cni({"CNI_COMMAND": "ADD"}, b"{}")
    assert rc != 0 and out["code"] == 4 and "CNI_CONTAINERID" in out["msg"]


def test_annotation_never_arrives(
    cni: Any, hns: Any, node_kubeconfig: Path, fake_hns_target: str, core: Any
) -> None:
    pod = make_pod(core, None)
    conf = netconf(node_kubeconfig, fake_hns_target, annotationTimeoutSeconds=1)
    rc, out = cni(env("ADD", "b" * 64, hns.create_namespace(), pod), conf)
    assert rc != 0 and out["code"] == 999
    assert out["msg"] == (
        f"failed to parse Kubernetes args: failed to get pod IP address {pod}: "
        f"pod {pod} does not have label {ANNOTATION}"
    )
    assert hns.get_endpoint("cid-" + "b" * 64) is None


def test_annotation_arriving_during_the_wait(
    cni: Any, hns: Any, node_kubeconfig: Path, fake_hns_target: str, core: Any
) -> None:
    pod = make_pod(core, None)
    sandbox = "c" * 64

    started = threading.Event()

    def annotate_later() -> None:
        # Annotate once the plugin has had time to block in its watch (not a sync point:
        # the plugin succeeds whether the annotation lands before or during its wait).
        started.wait(10)
        time.sleep(0.5)
        core.patch_namespaced_pod(
            pod, "default", {"metadata": {"annotations": {ANNOTATION: "192.168.1.77/19"}}}
        )

    t = threading.Thread(target=annotate_later)
    t.start()
    started.set()
    conf = netconf(node_kubeconfig, fake_hns_target, annotationTimeoutSeconds=20)
    rc, out = cni(env("ADD", sandbox, hns.create_namespace(), pod), conf)
    t.join()
    assert rc == 0, out
    assert out["ips"][0]["address"] == "192.168.1.77/19"
    cni(env("DEL", sandbox, "", pod), conf)
