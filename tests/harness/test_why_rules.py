"""`ekswin why` rules over plain evidence dicts (no servers)."""

from __future__ import annotations

import calendar
import copy
from typing import Any

import pytest

from harness.supervision import log_timestamp, outages
from harness.why.gather import event_facts, pod_facts
from harness.why.rules import (
    IP_RESOURCE,
    eni_slots,
    first_broken_link,
    is_stuck,
    mode_mismatch,
)

T0 = 1_800_000_000.0


def pod(**kw: Any) -> dict[str, Any]:
    base = {
        "namespace": "default", "name": "app-0", "uid": "u1", "node": "win-0",
        "phase": "Pending", "created": T0, "deleting": False, "host_network": False,
        "windows": True, "requests_ip": True, "annotation": None, "pod_ip": None,
        "waiting_reason": "ContainerCreating", "conditions": {},
    }  # fmt: skip
    base.update(kw)
    return base


def managed_node(**kw: Any) -> dict[str, Any]:
    base = {
        "name": "win-0", "managed": True, "ready": True, "mode": "secondary", "capacity": 9,
        "ips": {"used": 9, "warm": 0, "cooling": 0}, "pools": {}, "last_ec2_error": None,
        "waiting": None,
    }  # fmt: skip
    base.update(kw)
    return base


def evidence(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "now": T0 + 120,
        "pod": pod(),
        "supervisor": {"outages": [], "state": {"controller": "running"}},
        "events": [],
        "controller": {"ipam_enabled": True, "pd_enabled": False, "node": managed_node(),
                       "wait": None},
        "node": {"capacity": 9, "ready": True},
        "eni": {"limit": 10, "secondary": 9, "prefixes": 0},
        "cni": {"failure": None},
        "hns": {"endpoint": None, "pending_faults": {}},
    }  # fmt: skip
    base.update(kw)
    return base


def sources(d: dict[str, Any]) -> set[str]:
    return {e["source"] for e in d["evidence"]}


def test_webhook_down_at_creation_is_the_admission_link() -> None:
    ev = evidence(
        pod=pod(requests_ip=False),
        supervisor={
            "outages": [{"component": "controller", "unit": "controller", "start": T0 - 5,
                         "end": T0 + 3, "why": "Stopped: controller (controller) stopped"}],
            "state": {"controller": "running"},
        },
    )  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("admission", "webhook_down")
    assert {"pod spec", "supervisor log"} <= sources(d)
    assert any("webhook" in e["detail"] and "down from" in e["detail"] for e in d["evidence"])
    assert d["age_s"] == 120
    # Turning IPAM off later does not hide that the webhook missed it.
    ev["controller"] = {"ipam_enabled": False, "node": {"managed": False}}
    assert first_broken_link(ev)["reason"] == "webhook_down"


def test_missing_resource_without_outage_is_not_blamed_on_the_webhook() -> None:
    ev = evidence(pod=pod(requests_ip=False))
    ev["supervisor"]["outages"] = [
        {"component": "controller", "unit": "controller", "start": T0 + 60, "end": T0 + 70}
    ]
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("admission", "no_ip_resource")
    # An outage of another component at that time does not count either.
    ev["supervisor"]["outages"] = [{"component": "fake_hns", "unit": "fake-hns",
                                    "start": T0 - 1, "end": None}]  # fmt: skip
    assert first_broken_link(ev)["reason"] == "no_ip_resource"


def test_ipam_off_is_the_controller_link_not_admission() -> None:
    ev = evidence(pod=pod(requests_ip=False))
    ev["controller"] = {
        "ipam_enabled": False, "pd_enabled": False, "wait": None,
        "node": {"name": "win-0", "managed": False, "mode": "disabled",
                 "unmanaged_reason": "Windows IPAM is disabled"},
    }  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("controller", "node_not_managed")
    assert "Windows IPAM is disabled" in d["message"]
    assert "admission" not in [c["link"] for c in d["checked"]]


def test_unbound_pod_is_the_scheduling_link_with_the_scheduler_message() -> None:
    msg = f"0/1 nodes are available: 1 Insufficient {IP_RESOURCE}."
    ev = evidence(
        pod=pod(node=None, conditions={"PodScheduled": {"status": "False",
                                                         "reason": "Unschedulable",
                                                         "message": msg}}),
        events=[{"reason": "FailedScheduling", "type": "Warning", "message": msg,
                 "component": "default-scheduler", "count": 3, "last": T0 + 10}],
    )  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("scheduling", "unschedulable")
    assert msg in d["message"] and "scheduler events" in sources(d)
    assert d["state"] == "pending"
    assert any("(x3)" in e["detail"] for e in d["evidence"])


def test_full_eni_after_a_mode_switch_names_the_slots_and_the_ec2_request() -> None:
    node = managed_node(
        mode="prefix", capacity=144, ips={"used": 0, "warm": 0, "cooling": 0},
        pools={"secondary": {"state": "draining", "used": 9}, "prefix": {"state": "active"}},
        last_ec2_error={"action": "AssignPrivateIpAddresses",
                        "code": "PrivateIpAddressLimitExceeded",
                        "message": "Number of private addresses will exceed limit."},
        waiting={"reason": "resync_required", "message": "an EC2 call failed"},
    )  # fmt: skip
    ev = evidence(node={"capacity": 144})
    ev["controller"]["node"] = node
    ev["controller"]["wait"] = {"reason": "pool_empty", "message": "no IP", "attempts": 7}
    ev["ec2_error_request"] = {"seq": 412, "action": "AssignPrivateIpAddresses",
                               "code": "PrivateIpAddressLimitExceeded"}  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("controller", "eni_full")
    assert "primary + 9 secondary = 10 of 10, no /28 fits" in d["message"]
    assert "9 pod(s) still hold secondary IPs" in d["message"]
    details = " ".join(e["detail"] for e in d["evidence"])
    assert "request #412" in details and "PrivateIpAddressLimitExceeded" in details
    assert {"controller introspection", "EC2 DescribeNetworkInterfaces"} <= sources(d)
    # The controller cleared its last error meanwhile: the request log still names it.
    node["last_ec2_error"] = None
    again = first_broken_link(ev)
    assert again["reason"] == "eni_full"
    assert {
        "source": "fake_ec2 request log",
        "detail": "last refused request on the node's "
        "ENI: #412 AssignPrivateIpAddresses PrivateIpAddressLimitExceeded",
    } in again["evidence"]


def test_fragmented_subnet_is_no_cidr_with_room_on_the_eni() -> None:
    node = managed_node(
        mode="prefix", capacity=224, ips={"used": 0, "warm": 0, "cooling": 0},
        last_ec2_error={"action": "AssignPrivateIpAddresses", "code": "InsufficientCidrBlocks",
                        "message": "The specified subnet does not have enough free cidr blocks"},
    )  # fmt: skip
    ev = evidence(node={"capacity": 224}, eni={"limit": 15, "secondary": 0, "prefixes": 0})
    ev["controller"]["node"] = node
    ev["controller"]["wait"] = {"reason": "no_cidr", "message": "no cidr", "attempts": 2}
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("controller", "no_cidr")
    assert "InsufficientCidrBlocks" in d["message"]
    # As the real controller retries it (pool empty), and with a pod still on a secondary
    # IP after a mode switch: the EC2 error code still names the cause.
    ev["controller"]["wait"] = {"reason": "pool_empty", "message": "empty", "attempts": 9}
    node["pools"] = {"secondary": {"state": "draining", "used": 1}}
    d = first_broken_link(ev)
    assert d["reason"] == "no_cidr" and any(e["source"] == "node status" for e in d["evidence"])


def test_controller_not_answering() -> None:
    ev = evidence(controller=None)
    ev["supervisor"]["state"]["controller"] = "down"
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("controller", "controller_down")
    assert any(e["detail"] == "controller is down" for e in d["evidence"])


def test_hns_error_in_the_sandbox_failure_is_the_hns_link() -> None:
    hns_line = "hcnCreateEndpoint failed in Win32: The parameter is incorrect. (0x57)"
    msg = (f'Failed to create pod sandbox: ... plugin type="ekswin-cni" name="vpc" failed '
           f"(add): {hns_line}")  # fmt: skip
    ev = evidence(
        pod=pod(annotation="192.168.0.20/19"),
        events=[{"reason": "FailedCreatePodSandBox", "type": "Warning", "message": msg,
                 "component": "kubelet", "count": 2, "last": T0 + 5}],
        cni={"failure": {"command": "ADD", "code": 1, "message": hns_line, "failures": 2}},
        hns={"endpoint": None, "pending_faults": {"CreateEndpoint": 98}},
    )  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("hns", "hns_failed")
    assert hns_line in d["message"]
    assert {"kubelet events", "node agent CNI call log", "HNS DumpState"} <= sources(d)
    assert any("CreateEndpoint x98" in e["detail"] for e in d["evidence"])
    assert [c["link"] for c in d["checked"]] == ["admission", "scheduling", "controller"]


def test_other_cni_failures_are_the_cni_link() -> None:
    msg = "failed (add): invalid IPAddress nope from pod label"
    ev = evidence(
        pod=pod(annotation="nope"),
        events=[{"reason": "FailedCreatePodSandBox", "type": "Warning", "message": msg,
                 "component": "kubelet", "count": 1, "last": T0}],
    )  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("cni", "cni_failed")
    assert d["message"] == "CNI ADD fails: invalid IPAddress nope from pod label"


def test_running_pod_with_lb_failures_is_the_kube_proxy_link() -> None:
    ev = evidence(
        pod=pod(phase="Running", annotation="192.168.0.20/19", pod_ip="192.168.0.20"),
        hns={"endpoint": {"Id": "e1", "Name": "cid-x"}, "pending_faults": {}},
        kube_proxy={"lb_failures_last_sync": 2, "lb_failures": 7, "recent": [
            {"service": "default/svc-1:p0", "kind": "NodePort",
             "message": "Policy creation failed: hcnCreateLoadBalancer failed in Win32: "
                        "The specified port already exists. (0x803b0013)"}]},
    )  # fmt: skip
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("kube-proxy", "lb_failures")
    assert any("0x803b0013" in e["detail"] for e in d["evidence"])
    ev["kube_proxy"] = {"lb_failures_last_sync": 0, "lb_failures": 7, "recent": []}
    ok = first_broken_link(ev)
    assert ok["ok"] and ok["link"] is None and ok["reason"] == "running"
    ev["hns"] = {"endpoint": None, "pending_faults": {}}
    assert first_broken_link(ev)["reason"] == "endpoint_missing"


def test_linux_and_host_network_pods_are_outside_the_pipeline() -> None:
    assert first_broken_link(evidence(pod=pod(windows=False)))["reason"] == "not_windows"
    assert first_broken_link(evidence(pod=pod(host_network=True)))["reason"] == "host_network"


def test_eni_slots_and_mode_mismatch_texts() -> None:
    assert eni_slots({"limit": 10, "secondary": 9, "prefixes": 0}, "prefix") == (
        "primary + 9 secondary = 10 of 10, no /28 fits", True)  # fmt: skip
    assert eni_slots({"limit": 15, "secondary": 0, "prefixes": 2}, "prefix") == (
        "primary + 2 prefixes = 3 of 15", False)  # fmt: skip
    assert eni_slots({"limit": 10, "secondary": 9}, "secondary")[0].endswith("no secondary IP fits")
    assert mode_mismatch(managed_node(capacity=9), 9) is None
    text = mode_mismatch(managed_node(mode="prefix", capacity=144), 9)
    assert text is not None and "advertises 9" in text and "prefix pool holds 144" in text
    assert mode_mismatch({"managed": False}, 9) is None


def test_stuck_means_not_running_for_longer_than_the_wait() -> None:
    assert is_stuck(pod(), T0 + 11, 10)
    assert not is_stuck(pod(), T0 + 9, 10)
    assert not is_stuck(pod(phase="Running"), T0 + 100, 10)
    assert not is_stuck(pod(deleting=True), T0 + 100, 10)


def test_outages_from_supervisor_log_lines() -> None:
    lines = [
        (T0, "Died", "controller (controller, pid 7) killed by signal SIGKILL"),
        (T0 + 1, "BackOff", "Back-off 10s restarting failed controller (controller)"),
        (T0 + 11, "Restarted", "controller (controller) started again, pid 9, restart 1"),
        (T0 + 20, "Stopped", "fake_hns (fake-hns) stopped on request"),
    ]
    got = outages(lines)
    assert [(o["unit"], o["start"], o["end"]) for o in got] == [
        ("controller", T0, T0 + 11), ("fake-hns", T0 + 20, None)]  # fmt: skip
    assert got[0]["component"] == "controller"
    assert log_timestamp(T0 + 0.25).endswith(".250Z")


def test_pod_and_event_facts_from_api_json() -> None:
    body = {
        "metadata": {"name": "a", "namespace": "default", "uid": "u",
                     "creationTimestamp": "2027-01-15T08:00:00Z",
                     "annotations": {IP_RESOURCE: "10.0.0.5/32"}},
        "spec": {"nodeName": "win-0", "nodeSelector": {"kubernetes.io/os": "windows"},
                 "containers": [{"resources": {"limits": {IP_RESOURCE: "1"}}}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                   "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]},
    }  # fmt: skip
    f = pod_facts(body)
    assert f["windows"] and f["requests_ip"] and f["annotation"] == "10.0.0.5/32"
    assert f["created"] == calendar.timegm((2027, 1, 15, 8, 0, 0, 0, 0, 0))
    assert f["waiting_reason"] == "ContainerCreating"
    no_res = copy.deepcopy(body)
    no_res["spec"]["containers"] = [{}]
    assert not pod_facts(no_res)["requests_ip"]
    e = event_facts({"reason": "FailedScheduling", "type": "Warning", "message": "m",
                     "reportingComponent": "default-scheduler", "series": {"count": 4},
                     "eventTime": "2027-01-15T08:00:01.123456Z"})  # fmt: skip
    assert e["component"] == "default-scheduler" and e["count"] == 4 and e["last"]


@pytest.mark.parametrize("bad", [{}, {"pod": {}}])
def test_partial_evidence_never_raises(bad: dict[str, Any]) -> None:
    d = first_broken_link(bad)
    assert d["reason"] == "not_windows"


def test_mode_mismatch_alone_is_the_reason_when_the_eni_has_room() -> None:
    node = managed_node(mode="prefix", capacity=144, ips={"used": 0, "warm": 0, "cooling": 0})
    ev = evidence(node={"capacity": 9}, eni={"limit": 10, "secondary": 2, "prefixes": 0})
    ev["controller"]["node"] = node
    ev["controller"]["wait"] = {"reason": "queued", "message": "", "attempts": 1}
    d = first_broken_link(ev)
    assert (d["link"], d["reason"]) == ("controller", "mode_mismatch")
    assert "advertises 9" in d["message"] and "prefix pool holds 144" in d["message"]
