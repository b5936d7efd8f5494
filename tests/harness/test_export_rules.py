"""`scenario export`'s rules over plain data: audit events to steps, whose requests count,
and the merge with the step journal (waits for the gaps)."""

from __future__ import annotations

from typing import Any

from harness.kube.audit import HARNESS_USER_AGENT, policy
from harness.scenario.export import Timed, audit_step, audit_steps, clean_manifest, merge


def event(verb: str, resource: str, name: str, **kw: Any) -> dict[str, Any]:
    ref = {"resource": resource, "namespace": kw.pop("namespace", "default"), "name": name}
    if "subresource" in kw:
        ref["subresource"] = kw.pop("subresource")
    if resource == "deployments":
        ref.update(apiGroup="apps", apiVersion="v1")
    else:
        ref["apiVersion"] = "v1"
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "stage": "ResponseComplete",
        "verb": verb,
        "objectRef": ref,
        "user": {"username": kw.pop("user", "kubernetes-admin")},
        "userAgent": kw.pop("agent", "kubectl/v1.20.15 (linux/amd64)"),
        "responseStatus": {"code": kw.pop("code", 200)},
        "requestReceivedTimestamp": kw.pop("t", "2026-01-01T00:00:10.000000Z"),
        "stageTimestamp": kw.pop("t_end", "2026-01-01T00:00:10.100000Z"),
        **kw,
    }


CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
}


def test_policy_logs_writes_of_the_admin_user_on_the_four_kinds_only() -> None:
    p = policy()
    assert p["apiVersion"] == "audit.k8s.io/v1" and p["rules"][-1] == {"level": "None"}
    rule = p["rules"][0]
    assert rule["users"] == ["kubernetes-admin"] and "get" not in rule["verbs"]
    names = {r for g in rule["resources"] for r in g["resources"]}
    assert names == {"pods", "services", "configmaps", "deployments", "deployments/scale"}


def test_each_kind_of_change_becomes_its_step() -> None:
    create = event("create", "deployments", "web", requestObject=DEPLOY, responseObject={})
    assert audit_step(create, None) == {"apply": {"manifest": DEPLOY}}
    scale = event(
        "patch", "deployments", "web", subresource="scale", responseObject={"spec": {"replicas": 5}}
    )
    assert audit_step(scale, None) == {
        "scale": {"name": "web", "replicas": 5, "namespace": "default"}
    }
    gone = event("delete", "pods", "web-abc")
    assert audit_step(gone, None) == {"delete_pods": {"object": "web-abc", "namespace": "default"}}
    cm = event(
        "patch",
        "configmaps",
        "amazon-vpc-cni",
        namespace="kube-system",
        responseObject={"data": {"enable-windows-ipam": "true"}},
    )
    assert audit_step(cm, None) == {"set_configmap": {"enable-windows-ipam": "true"}}
    # a key removed: the whole data replaces the old
    assert audit_step(cm, {"enable-windows-ipam": "true", "warm": "3"}) == {
        "replace_configmap": {"enable-windows-ipam": "true"}
    }
    other_cm = event("create", "configmaps", "app-config", requestObject={"data": {}})
    assert audit_step(other_cm, None) is None


def test_a_patch_applies_the_object_after_it_without_server_fields() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "u",
            "resourceVersion": "9",
            "managedFields": [{}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.9",
            "clusterIPs": ["10.96.0.9"],
            "ports": [{"port": 80, "nodePort": 30080}],
        },
        "status": {"loadBalancer": {}},
    }
    step = audit_step(event("patch", "services", "web", responseObject=svc), None)
    assert step is not None
    m = step["apply"]["manifest"]
    assert m["metadata"] == {"name": "web", "namespace": "default"}
    assert m["spec"] == {"type": "NodePort", "ports": [{"port": 80}]}
    assert "status" not in m
    # a request's own manifest keeps what the user wrote
    assert clean_manifest(svc, from_response=False)["spec"]["clusterIP"] == "10.96.0.9"


def test_only_the_users_successful_requests_after_the_start_count() -> None:
    events = [
        event("create", "deployments", "web", requestObject=DEPLOY),
        event(
            "create", "pods", "x", user="system:serviceaccount:kube-system:replicaset-controller"
        ),
        event("create", "pods", "y", agent=f"{HARNESS_USER_AGENT}/1"),  # a step's own request
        event("create", "pods", "z", code=409),
        event("delete", "pods", "early", t="2026-01-01T00:00:01Z"),
        event("deletecollection", "pods", ""),
    ]
    since = 1767225605.0  # 2026-01-01T00:00:05Z
    timed, skipped = audit_steps(events, since)
    assert [list(t.step) for t in timed] == [["apply", "settle"]]
    assert timed[0].step["settle"] is False and timed[0].t_start == since + 5
    assert skipped == ["deletecollection pods default/"]


def test_merge_orders_and_waits_for_the_gaps() -> None:
    t0 = 1000.0
    items = [
        Timed(t0 + 10, t0 + 10.1, {"apply": {"manifest": DEPLOY}, "settle": False}),
        Timed(t0 + 2, t0 + 6, {"create_pods": {"count": 1}}),
        Timed(t0 + 6.2, t0 + 6.3, {"stop": "controller"}),
    ]
    assert merge(items) == [
        {"create_pods": {"count": 1}},
        {"stop": "controller"},  # 0.2 s after the last one ended: no wait
        {"wait": {"seconds": 3.7}},
        {"apply": {"manifest": DEPLOY}, "settle": False},
    ]
