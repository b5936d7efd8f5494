"""Pod status and Event bodies shaped like a real kubelet's (pure builders)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

PLUGIN_TYPE = "ekswin-cni"


def sandbox_id(pod_uid: str, attempt: int) -> str:
    """A 64-hex sandbox id (containerd style), stable per pod and attempt."""
    return hashlib.sha256(f"sandbox/{pod_uid}/{attempt}".encode()).hexdigest()


def container_id(pod_uid: str, name: str) -> str:
    """A 64-hex container id."""
    return hashlib.sha256(f"container/{pod_uid}/{name}".encode()).hexdigest()


def _conditions(now: str, ready: bool, initialized: bool) -> list[dict[str, Any]]:
    def cond(t: str, ok: bool, reason: str | None = None, msg: str | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "type": t,
            "status": "True" if ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        if not ok and reason:
            c["reason"], c["message"] = reason, msg
        return c

    return [
        cond("Initialized", initialized),
        cond("Ready", ready, "ContainersNotReady", "containers with unready status: [{names}]"),
        cond(
            "ContainersReady",
            ready,
            "ContainersNotReady",
            "containers with unready status: [{names}]",
        ),
        cond("PodScheduled", True),
    ]


def _fill_names(conds: list[dict[str, Any]], names: str) -> list[dict[str, Any]]:
    for c in conds:
        if c.get("message"):
            c["message"] = c["message"].replace("{names}", names)
    return conds


def container_creating(pod: Mapping[str, Any], host_ip: str, start_time: str) -> dict[str, Any]:
    """Status while the sandbox is not up: Pending, containers waiting ContainerCreating."""
    containers = (pod.get("spec") or {}).get("containers") or []
    names = " ".join(c["name"] for c in containers)
    return {
        "phase": "Pending",
        "hostIP": host_ip,
        "startTime": start_time,
        "qosClass": qos_class(pod),
        "conditions": _fill_names(_conditions(start_time, False, True), names),
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
            for c in containers
        ],
    }


def running(
    pod: Mapping[str, Any], host_ip: str, pod_ip: str, start_time: str, now: str
) -> dict[str, Any]:
    """Status once CNI ADD succeeded and containers started: Running and Ready."""
    meta = pod.get("metadata") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    uid = str(meta.get("uid", ""))
    return {
        "phase": "Running",
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "qosClass": qos_class(pod),
        "conditions": _conditions(now, True, True),
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": image_id(c.get("image", "")),
                "containerID": "containerd://" + container_id(uid, c["name"]),
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
                "lastState": {},
            }
            for c in containers
        ],
    }


def image_id(image: str) -> str:
    """A repo digest like containerd reports (deterministic per image reference)."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def qos_class(pod: Mapping[str, Any]) -> str:
    """Kubernetes QoS class from the containers' cpu/memory requests and limits."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for r in ("cpu", "memory"):
            if r in req or r in lim:
                any_set = True
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def sandbox_failure_message(sandbox: str, netconf_name: str, cni_msg: str) -> str:
    """The FailedCreatePodSandBox message containerd + kubelet produce for a CNI ADD error."""
    return (
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network "
        f'for sandbox "{sandbox}": plugin type="{PLUGIN_TYPE}" name="{netconf_name}" failed '
        f"(add): {cni_msg}"
    )


def event_body(
    *,
    name: str,
    namespace: str,
    involved: Mapping[str, Any],
    reason: str,
    message: str,
    event_type: str,
    component: str,
    host: str,
    now: str,
    count: int = 1,
) -> dict[str, Any]:
    """A core/v1 Event as the kubelet's recorder writes it."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component, "host": host},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": count,
        "reportingComponent": "",
        "reportingInstance": "",
    }
