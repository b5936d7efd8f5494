"""The shared Pod builder: what the tests and benchmarks rely on it to produce."""

from __future__ import annotations

from harness.testing import WINDOWS_IMAGE, pod_manifest

RES = "vpc.amazonaws.com/PrivateIPv4Address"


def test_bound_pod_skips_the_scheduler_and_requests_the_ip_resource() -> None:
    pod = pod_manifest("p-1", node="win-0", resources={RES: "1"})
    spec = pod["spec"]
    assert spec["nodeName"] == "win-0" and "nodeSelector" not in spec
    (c,) = spec["containers"]
    assert c["image"] == WINDOWS_IMAGE
    assert c["resources"] == {"limits": {RES: "1"}, "requests": {RES: "1"}}
    assert pod["metadata"] == {"name": "p-1"}


def test_unbound_pod_selects_windows_nodes_and_copies_its_inputs() -> None:
    labels = {"app": "win"}
    pod = pod_manifest(
        "w", namespace="default", labels=labels, annotations={}, ports=[80], grace_s=1
    )
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 1
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    assert pod["metadata"] == {
        "name": "w",
        "namespace": "default",
        "labels": labels,
        "annotations": {},
    }
    # A test that edits its manifest must not change the next one's.
    pod["spec"]["nodeSelector"]["beta.kubernetes.io/os"] = "windows"
    pod["metadata"]["labels"]["x"] = "y"
    assert pod_manifest("w")["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert labels == {"app": "win"}
