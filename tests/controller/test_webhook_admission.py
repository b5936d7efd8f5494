"""Table tests of the webhook decisions (controller.webhook.admission / review), no server."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from controller.webhook.admission import (
    RESOURCE_IP,
    json_pointer_token,
    mutate_pod,
    validate_pod,
)
from controller.webhook.review import BadReview, handle_review, parse_review

SA = "system:serviceaccount:kube-system:vpc-resource-controller"
KEY = RESOURCE_IP


def pod(
    *,
    selector: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    host_network: bool = False,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    affinity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    default = [{"name": "c", "image": "i"}]
    spec: dict[str, Any] = {"containers": default if containers is None else containers}
    if selector is not None:
        spec["nodeSelector"] = selector
    if host_network:
        spec["hostNetwork"] = True
    if affinity is not None:
        spec["affinity"] = affinity
    meta: dict[str, Any] = {"name": "p", "namespace": "default"}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def apply_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Minimal RFC 6902 add/remove (what the webhook emits), with RFC 6901 unescaping."""
    out = copy.deepcopy(doc)
    for op in ops:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        parent: Any = out
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = tokens[-1]
        if op["op"] == "add":
            assert isinstance(parent, dict), op
            parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[last]
        else:
            raise AssertionError(op)
    return out


WIN = {"kubernetes.io/os": "windows"}
WIN_BETA = {"beta.kubernetes.io/os": "windows"}
WANT = {"limits": {KEY: "1"}, "requests": {KEY: "1"}}


@pytest.mark.parametrize("selector", [WIN, WIN_BETA, {**WIN, "x": "y"}])
def test_windows_pod_without_resources_gets_whole_resources_object(
    selector: dict[str, str],
) -> None:
    p = pod(selector=selector)
    ops = mutate_pod(p, ipam_enabled=True)
    assert ops == [{"op": "add", "path": "/spec/containers/0/resources", "value": WANT}]
    assert apply_patch(p, ops)["spec"]["containers"][0]["resources"] == WANT


def test_existing_limits_and_requests_keep_their_entries_and_key_is_escaped() -> None:
    c = {"name": "c", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}}
    p = pod(selector=WIN, containers=[c])
    ops = mutate_pod(p, ipam_enabled=True)
    paths = [o["path"] for o in ops]
    assert paths == [
        "/spec/containers/0/resources/limits/vpc.amazonaws.com~1PrivateIPv4Address",
        "/spec/containers/0/resources/requests/vpc.amazonaws.com~1PrivateIPv4Address",
    ]
    res = apply_patch(p, ops)["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "1", KEY: "1"}, "requests": {"memory": "1Gi", KEY: "1"}}


def test_resources_with_only_limits_gets_requests_map_created() -> None:
    p = pod(selector=WIN, containers=[{"name": "c", "resources": {"limits": {"cpu": "2"}}}])
    ops = mutate_pod(p, ipam_enabled=True)
    res = apply_patch(p, ops)["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "2", KEY: "1"}, "requests": {KEY: "1"}}
    assert {
        "op": "add",
        "path": "/spec/containers/0/resources/requests",
        "value": {KEY: "1"},
    } in ops


def test_user_set_count_is_overwritten_with_one_and_one_is_left_alone() -> None:
    c = {"name": "c", "resources": {"limits": {KEY: "3"}, "requests": {KEY: "1"}}}
    ops = mutate_pod(pod(selector=WIN, containers=[c]), ipam_enabled=True)
    assert len(ops) == 1 and ops[0]["path"].endswith(
        "/limits/vpc.amazonaws.com~1PrivateIPv4Address"
    )
    assert ops[0]["value"] == "1"


def test_only_first_of_several_containers_is_mutated() -> None:
    cs = [{"name": "a"}, {"name": "b"}, {"name": "c", "resources": {}}]
    p = pod(selector=WIN, containers=cs)
    out = apply_patch(p, mutate_pod(p, ipam_enabled=True))["spec"]["containers"]
    assert out[0]["resources"] == WANT
    assert "resources" not in out[1]
    assert out[2]["resources"] == {}


@pytest.mark.parametrize(
    ("p", "ipam"),
    [
        (pod(selector=WIN), False),  # IPAM off
        (pod(selector=WIN, host_network=True), True),  # hostNetwork skipped
        (pod(selector=WIN_BETA, host_network=True), True),
        (pod(), True),  # Linux (no selector)
        (pod(selector={"kubernetes.io/os": "linux"}), True),
        (pod(selector={"kubernetes.io/os": "Windows"}), True),  # exact value only
        # node affinity is not looked at by the real webhook
        (
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/os",
                                            "operator": "In",
                                            "values": ["windows"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            ),
            True,
        ),
        # Fargate classification comes before Windows in the real webhook
        (pod(selector=WIN, labels={"eks.amazonaws.com/fargate-profile": "fp"}), True),
        (pod(selector=WIN, containers=[]), True),  # no container: nothing to patch
    ],
)
def test_pods_left_alone(p: dict[str, Any], ipam: bool) -> None:
    assert mutate_pod(p, ipam_enabled=ipam) == []


def test_fargate_pod_sg_annotation_set_by_user_is_removed() -> None:
    p = pod(
        labels={"eks.amazonaws.com/fargate-profile": "fp"},
        annotations={"fargate.amazonaws.com/pod-sg": "sg-1", "keep": "me"},
    )
    ops = mutate_pod(p, ipam_enabled=True)
    assert ops == [{"op": "remove", "path": "/metadata/annotations/fargate.amazonaws.com~1pod-sg"}]
    assert apply_patch(p, ops)["metadata"]["annotations"] == {"keep": "me"}


def test_json_pointer_escaping() -> None:
    assert json_pointer_token("a/b~c") == "a~1b~0c"


# ---------------------------------------------------------------- validation


def test_create_with_ip_annotation_refused_with_real_message() -> None:
    ok, msg = validate_pod(
        "CREATE", pod(annotations={KEY: "10.0.0.5/24"}), None, "alice", controller_username=SA
    )
    assert not ok
    assert msg == "pod cannot be created with vpc.amazonaws.com/PrivateIPv4Address annotation"


def test_create_refused_even_for_the_controller_and_pod_eni_always_checked() -> None:
    ok, msg = validate_pod("CREATE", pod(annotations={KEY: "x"}), None, SA, controller_username=SA)
    assert not ok
    p = pod(annotations={"vpc.amazonaws.com/pod-eni": "[]"})
    ok, msg = validate_pod("CREATE", p, None, "alice", controller_username=SA, ipam_enabled=False)
    assert (ok, msg) == (False, "pod cannot be created with vpc.amazonaws.com/pod-eni annotation")


def test_ip_annotation_not_validated_while_ipam_is_off() -> None:
    p = pod(annotations={KEY: "x"})
    assert validate_pod("CREATE", p, None, "alice", controller_username=SA, ipam_enabled=False)[0]


def test_create_without_annotation_allowed() -> None:
    assert validate_pod("CREATE", pod(annotations={"a": "b"}), None, "u", controller_username=SA)[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({}, {KEY: "10.0.0.5/24"}),  # add
        ({KEY: "10.0.0.5/24"}, {KEY: "10.0.0.6/24"}),  # change
        ({KEY: "10.0.0.5/24"}, {}),  # remove
    ],
)
def test_update_of_ip_annotation_by_user_refused_by_controller_allowed(
    old: dict[str, str], new: dict[str, str]
) -> None:
    o, n = pod(annotations=old), pod(annotations=new)
    ok, msg = validate_pod("UPDATE", n, o, "alice", controller_username=SA)
    assert (ok, msg) == (False, "annotation is not set by vpc-resource-controller")
    assert validate_pod("UPDATE", n, o, SA, controller_username=SA) == (True, "")


@pytest.mark.parametrize(
    "user",
    [
        "system:serviceaccount:kube-system:eks-vpc-resource-controller",
        "eks:vpc-resource-controller",
        "system:serviceaccount:custom:controller",  # the configured one
    ],
)
def test_update_allowed_for_real_controller_identities_and_configured_one(user: str) -> None:
    o, n = pod(annotations={}), pod(annotations={KEY: "10.0.0.5/24"})
    assert validate_pod(
        "UPDATE", n, o, user, controller_username="system:serviceaccount:custom:controller"
    )[0]


def test_other_system_users_are_refused() -> None:
    o, n = pod(annotations={}), pod(annotations={KEY: "10.0.0.5/24"})
    for user in ("system:admin", "system:kube-controller-manager", "system:node:n1"):
        assert not validate_pod("UPDATE", n, o, user, controller_username=SA)[0]


def test_update_not_touching_annotation_allowed_for_anyone() -> None:
    o = pod(annotations={KEY: "10.0.0.5/24"})
    n = pod(annotations={KEY: "10.0.0.5/24", "other": "new"}, labels={"l": "v"})
    assert validate_pod("UPDATE", n, o, "alice", controller_username=SA) == (True, "")


def test_update_of_fargate_pod_sg_refused_even_for_controller() -> None:
    o = pod(annotations={})
    n = pod(annotations={"fargate.amazonaws.com/pod-sg": "sg-1"})
    assert validate_pod("UPDATE", n, o, SA, controller_username=SA) == (
        False,
        "annotation is not set by mutating webhook",
    )


def test_delete_and_connect_allowed() -> None:
    p = pod(annotations={KEY: "x"})
    assert validate_pod("DELETE", p, p, "alice", controller_username=SA)[0]


# ---------------------------------------------------------------- review envelope


def review(op: str, obj: Any, old: Any = None, user: str = "alice") -> dict[str, Any]:
    req: dict[str, Any] = {
        "uid": "u-1",
        "operation": op,
        "object": obj,
        "userInfo": {"username": user},
    }
    if old is not None:
        req["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def test_review_mutate_returns_base64_json_patch() -> None:
    out = handle_review(
        "/mutate-v1-pod",
        review("CREATE", pod(selector=WIN)),
        ipam_enabled=True,
        controller_username=SA,
    )
    resp = out["response"]
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert resp["uid"] == "u-1" and resp["allowed"] is True
    assert resp["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(resp["patch"]))[0]["value"] == WANT


def test_review_mutate_without_change_has_no_patch() -> None:
    out = handle_review(
        "/mutate-v1-pod", review("CREATE", pod()), ipam_enabled=True, controller_username=SA
    )
    assert out["response"]["allowed"] is True and "patch" not in out["response"]


def test_review_validate_denial_shape() -> None:
    out = handle_review(
        "/validate-v1-pod",
        review("CREATE", pod(annotations={KEY: "1.2.3.4/32"})),
        ipam_enabled=True,
        controller_username=SA,
    )
    resp = out["response"]
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 403 and resp["status"]["reason"] == "Forbidden"
    assert "PrivateIPv4Address annotation" in resp["status"]["message"]


def test_review_validate_update_uses_request_user() -> None:
    old, new = pod(annotations={}), pod(annotations={KEY: "1.2.3.4/32"})
    for user, allowed in (("alice", False), (SA, True)):
        out = handle_review(
            "/validate-v1-pod",
            review("UPDATE", new, old, user),
            ipam_enabled=True,
            controller_username=SA,
        )
        assert out["response"]["allowed"] is allowed


def test_review_non_pod_object_is_a_400_in_the_response() -> None:
    out = handle_review(
        "/mutate-v1-pod", review("CREATE", "junk"), ipam_enabled=True, controller_username=SA
    )
    assert out["response"]["allowed"] is False and out["response"]["status"]["code"] == 400


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}', "expected"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "request.uid"),
    ],
)
def test_parse_review_rejects_bad_bodies_naming_the_field(body: bytes, fragment: str) -> None:
    with pytest.raises(BadReview, match=fragment):
        parse_review(body)
