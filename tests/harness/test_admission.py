"""Pods admitted without the webhook's mutation (failurePolicy Ignore) are named."""

from __future__ import annotations

from typing import Any

from harness.admission import missed_by_webhook, pods_missed_by_webhook

IP = "vpc.amazonaws.com/PrivateIPv4Address"


def pod(name: str, *, windows: bool = True, request: bool = False, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "i"}
    if request:
        container["resources"] = {"limits": {IP: "1"}, "requests": {IP: "1"}}
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [container], **spec},
        "status": {"phase": "Pending"},
    }
    if windows:
        body["spec"]["nodeSelector"] = {"kubernetes.io/os": "windows"}
    return body


def test_a_windows_pod_without_the_request_was_missed() -> None:
    assert missed_by_webhook(pod("a"), ipam_on=True)


def test_a_mutated_pod_was_not_missed() -> None:
    assert not missed_by_webhook(pod("a", request=True), ipam_on=True)


def test_linux_host_network_and_ipam_off_are_not_missed() -> None:
    assert not missed_by_webhook(pod("a", windows=False), ipam_on=True)
    assert not missed_by_webhook(pod("a", hostNetwork=True), ipam_on=True)
    assert not missed_by_webhook(pod("a"), ipam_on=False)


def test_finished_pods_are_not_named() -> None:
    done = pod("a")
    done["status"]["phase"] = "Succeeded"
    assert not missed_by_webhook(done, ipam_on=True)


def test_names_follow_the_configmap() -> None:
    pods = [pod("b"), pod("a"), pod("ok", request=True)]
    assert pods_missed_by_webhook(pods, {"enable-windows-ipam": "true"}) == [
        "default/a",
        "default/b",
    ]
    assert pods_missed_by_webhook(pods, {"enable-windows-ipam": "yes"}) == []
    assert pods_missed_by_webhook(pods, None) == []
