"""Pods the mutating webhook missed: admitted while it was down, they never get an IP.

The real webhook configurations (aws/amazon-vpc-resource-controller-k8s
config/webhook/manifests.yaml @ b8d425119bdba371202882b808f202c6073a46cc: `mpod` and
`vpod`, both `failurePolicy: Ignore`) let the API server admit a pod unchanged when the
webhook cannot be reached. A Windows pod admitted that way lacks the
`vpc.amazonaws.com/PrivateIPv4Address` request the webhook would have added; the
controller only allocates to pods that request it, and the webhook acts on CREATE only,
so the pod waits in ContainerCreating until it is deleted and created again. These
rules name such pods (plain data in, no server needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.allocator import pod_requests_ip
from controller.webhook.admission import mutate_pod
from harness.invariants import ipam_enabled


def missed_by_webhook(pod: Mapping[str, Any], *, ipam_on: bool) -> bool:
    """True when the webhook would give `pod` the IP request (a Windows pod, not
    hostNetwork, IPAM on) but it carries none: it was admitted without the webhook."""
    if not ipam_on or pod_requests_ip(dict(pod)):
        return False
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return False
    return bool(mutate_pod(pod, ipam_enabled=True))


def pods_missed_by_webhook(
    pods: Iterable[Mapping[str, Any]], configmap: Mapping[str, str] | None
) -> list[str]:
    """`namespace/name` of every pod (API dicts) admitted without the webhook's IP
    request, given the amazon-vpc-cni ConfigMap's data now."""
    on = ipam_enabled(configmap)
    out = []
    for p in pods:
        if missed_by_webhook(p, ipam_on=on):
            md = p.get("metadata") or {}
            out.append(f"{md.get('namespace')}/{md.get('name')}")
    return sorted(out)
