"""Admission decisions of the VPC Resource Controller's pod webhooks, as plain data.

The mutating webhook (`/mutate-v1-pod`) gives pods that select Windows one
`vpc.amazonaws.com/PrivateIPv4Address` on their first container (limit and request), so
the scheduler places them only where an IP is free. The validating webhook
(`/validate-v1-pod`) keeps the IP annotations under the controller's control.

Behaviour follows aws/amazon-vpc-resource-controller-k8s (webhooks/core/pod_webhook.go and
annotation_validation_webhook.go); see docs/controller-webhook.md for the rules.
Nothing here knows about HTTP: dicts in, JSON Patch operations / verdicts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESOURCE_IP = "vpc.amazonaws.com/PrivateIPv4Address"
RESOURCE_POD_ENI = "vpc.amazonaws.com/pod-eni"
FARGATE_POD_SG_ANNOTATION = "fargate.amazonaws.com/pod-sg"
FARGATE_PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"
NODE_LABEL_OS = "kubernetes.io/os"
NODE_LABEL_OS_BETA = "beta.kubernetes.io/os"
OS_WINDOWS = "windows"
DEFAULT_RESOURCE_LIMIT = "1"

# The real validator accepts these three identities besides any configured one: the
# service account was renamed after the first release, and EKS runs it as a user.
CONTROLLER_USERNAMES = frozenset(
    {
        "system:serviceaccount:kube-system:vpc-resource-controller",
        "system:serviceaccount:kube-system:eks-vpc-resource-controller",
        "eks:vpc-resource-controller",
    }
)

MSG_CREATED_WITH_ANNOTATION = "pod cannot be created with {key} annotation"
MSG_NOT_SET_BY_CONTROLLER = "annotation is not set by vpc-resource-controller"
MSG_NOT_SET_BY_MUTATING_WEBHOOK = "annotation is not set by mutating webhook"

HOST_NETWORKING = "HostNetworking"
FARGATE = "Fargate"
WINDOWS = "Windows"
LINUX = "Linux"


def json_pointer_token(key: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901): `~` -> `~0`, `/` -> `~1`."""
    return key.replace("~", "~0").replace("/", "~1")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def selects_windows(pod: Mapping[str, Any]) -> bool:
    """True when the pod's nodeSelector asks for Windows by the GA or the beta os label.

    Only nodeSelector counts, exactly as in the real webhook: node affinity is ignored.
    """
    selector = _mapping(_mapping(pod.get("spec")).get("nodeSelector"))
    return OS_WINDOWS in (selector.get(NODE_LABEL_OS), selector.get(NODE_LABEL_OS_BETA))


def pod_type(pod: Mapping[str, Any]) -> str:
    """Classify a pod as the real webhook does: HostNetworking, Fargate, Windows or Linux."""
    if _mapping(pod.get("spec")).get("hostNetwork"):
        return HOST_NETWORKING
    if FARGATE_PROFILE_LABEL in _mapping(_mapping(pod.get("metadata")).get("labels")):
        return FARGATE
    if selects_windows(pod):
        return WINDOWS
    return LINUX


def _inject_resource(container: Mapping[str, Any], resource: str) -> list[dict[str, Any]]:
    """Patch ops setting `resource: "1"` as limit and request of containers[0].

    `add` on an existing member replaces it (RFC 6902), so a user-set count is overwritten
    with "1" like the real webhook does; missing parent objects are created whole.
    """
    base = "/spec/containers/0/resources"
    resources = container.get("resources")
    if not isinstance(resources, Mapping):
        whole = {
            "limits": {resource: DEFAULT_RESOURCE_LIMIT},
            "requests": {resource: DEFAULT_RESOURCE_LIMIT},
        }
        return [{"op": "add", "path": base, "value": whole}]
    ops: list[dict[str, Any]] = []
    for field in ("limits", "requests"):
        current = resources.get(field)
        if isinstance(current, Mapping):
            if current.get(resource) == DEFAULT_RESOURCE_LIMIT:
                continue  # already what we would set: no-op, like a JSON diff
            path = f"{base}/{field}/{json_pointer_token(resource)}"
            ops.append({"op": "add", "path": path, "value": DEFAULT_RESOURCE_LIMIT})
        else:
            ops.append(
                {
                    "op": "add",
                    "path": f"{base}/{field}",
                    "value": {resource: DEFAULT_RESOURCE_LIMIT},
                }
            )
    return ops


def mutate_pod(pod: Mapping[str, Any], *, ipam_enabled: bool) -> list[dict[str, Any]]:
    """JSON Patch operations the mutating webhook applies to a pod on CREATE.

    - hostNetwork pods: untouched.
    - Fargate pods (label `eks.amazonaws.com/fargate-profile`): no security-group policy
      exists in this emulation, so the only change is dropping a user-set
      `fargate.amazonaws.com/pod-sg` annotation, as the real webhook does when no policy
      matches.
    - Windows pods (nodeSelector `kubernetes.io/os` or `beta.kubernetes.io/os` =
      `windows`), when Windows IPAM is on: limit and request
      `vpc.amazonaws.com/PrivateIPv4Address: "1"` on containers[0] only.
    - Anything else: untouched (Linux pods would only get pod-eni from a matching
      SecurityGroupPolicy, which this emulation does not have).
    """
    kind = pod_type(pod)
    if kind == FARGATE:
        annotations = _mapping(_mapping(pod.get("metadata")).get("annotations"))
        if FARGATE_POD_SG_ANNOTATION in annotations:
            path = f"/metadata/annotations/{json_pointer_token(FARGATE_POD_SG_ANNOTATION)}"
            return [{"op": "remove", "path": path}]
        return []
    if kind != WINDOWS or not ipam_enabled:
        return []
    containers = _mapping(pod.get("spec")).get("containers")
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        return []  # the API server rejects such a pod anyway; nothing to patch
    return _inject_resource(containers[0], RESOURCE_IP)


def annotation_keys_to_validate(*, ipam_enabled: bool) -> list[str]:
    """Annotations only the controller may set: pod-eni always, the IPv4 one with IPAM on.

    The real controller skips the Windows key while IPAM is off so that an older controller
    running on the data plane is not blocked.
    """
    keys = [RESOURCE_POD_ENI]
    if ipam_enabled:
        keys.append(RESOURCE_IP)
    return keys


def validate_pod(
    operation: str,
    pod: Mapping[str, Any],
    old_pod: Mapping[str, Any] | None,
    username: str,
    *,
    controller_username: str,
    ipam_enabled: bool = True,
) -> tuple[bool, str]:
    """Verdict of the validating webhook: (allowed, message).

    CREATE: refused when the pod carries a controller-owned annotation
    ("pod cannot be created with <key> annotation").
    UPDATE: refused when the Fargate pod-sg annotation changes (anyone), or when a
    controller-owned annotation is added, changed or removed by a user other than the
    controller (`controller_username` or one of the real controller's identities).
    Other operations are allowed.
    """
    keys = annotation_keys_to_validate(ipam_enabled=ipam_enabled)
    new_ann = _mapping(_mapping(pod.get("metadata")).get("annotations"))
    if operation == "CREATE":
        for key in keys:
            if key in new_ann:
                return False, MSG_CREATED_WITH_ANNOTATION.format(key=key)
        return True, ""
    if operation == "UPDATE":
        old_ann = _mapping(_mapping((old_pod or {}).get("metadata")).get("annotations"))
        # A missing annotation compares as "", like a Go map lookup.
        if new_ann.get(FARGATE_POD_SG_ANNOTATION, "") != old_ann.get(FARGATE_POD_SG_ANNOTATION, ""):
            return False, MSG_NOT_SET_BY_MUTATING_WEBHOOK
        allowed_users = CONTROLLER_USERNAMES | {controller_username}
        for key in keys:
            if new_ann.get(key, "") != old_ann.get(key, "") and username not in allowed_users:
                return False, MSG_NOT_SET_BY_CONTROLLER
        return True, ""
    return True, ""
