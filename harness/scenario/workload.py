"""The Kubernetes objects scenario steps create: pods and Services in groups (plain data)."""

from __future__ import annotations

from typing import Any

GROUP_LABEL = "scenario.ekswin.dev/group"
NAMESPACE = "default"
WINDOWS_IMAGE = "mcr.microsoft.com/windows/servercore/iis"
LINUX_IMAGE = "registry.k8s.io/pause:3.2"


def pod(
    group: str, index: int, *, node: str = "", os: str = "windows", host_network: bool = False
) -> dict[str, Any]:
    """Pod `<group>-<index>` selecting the OS's nodes (and `node` by hostname when pinned),
    through the scheduler as a Deployment's pods go."""
    selector = {"kubernetes.io/os": os}
    if node:
        selector["kubernetes.io/hostname"] = node
    spec: dict[str, Any] = {
        "nodeSelector": selector,
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "app", "image": WINDOWS_IMAGE if os == "windows" else LINUX_IMAGE}],
    }
    if host_network:
        spec["hostNetwork"] = True
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{group}-{index}",
            "namespace": NAMESPACE,
            "labels": {GROUP_LABEL: group},
        },
        "spec": spec,
    }


def service(
    group: str, index: int, *, type: str = "ClusterIP", ports: int = 1, selector: str = ""
) -> dict[str, Any]:
    """Service `<group>-<index>` with `ports` TCP ports, selecting pod group `selector`."""
    spec: dict[str, Any] = {
        "type": type,
        "ports": [
            {"name": f"p{j}", "port": 80 + j, "targetPort": 8080 + j, "protocol": "TCP"}
            for j in range(ports)
        ],
    }
    if selector:
        spec["selector"] = {GROUP_LABEL: selector}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{group}-{index}",
            "namespace": NAMESPACE,
            "labels": {GROUP_LABEL: group},
        },
        "spec": spec,
    }
