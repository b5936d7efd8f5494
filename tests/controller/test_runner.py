"""The whole controller in-process (`ControllerRunner`) against FakeKube and FakeEC2.

The runner's real health/introspection server is queried over HTTP on a free loopback
port; EC2 follows fake_ec2's address rules in-process.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from controller.exposition import sample_value
from controller.provider import CidrExhaustion
from controller.runner import ControllerRunner, RunnerOptions
from harness.waiting import WaitTimeout, wait_until

from .fakes import FakeEC2, FakeKube  # type: ignore[import-not-found]

IPAM = {"enable-windows-ipam": "true"}
PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
PREFIX_RES = "vpc.amazonaws.com/PrivateIPv4AddressFromPrefix"
SECONDARY_RES = "vpc.amazonaws.com/PrivateIPv4Address"


def get(runner: ControllerRunner, path: str) -> tuple[int, Any]:
    """GET `path` on the runner's health server: (status, parsed JSON or text)."""
    try:
        with urllib.request.urlopen(runner.health_url + path, timeout=5) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read().decode(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def summary(runner: ControllerRunner) -> dict[str, Any]:
    status, body = get(runner, "/introspect/summary")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def row(runner: ControllerRunner, node: str) -> dict[str, Any] | None:
    return next((r for r in summary(runner)["nodes"] if r["name"] == node), None)


def node_view(runner: ControllerRunner, node: str) -> dict[str, Any]:
    status, body = get(runner, f"/introspect/node?name={node}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def settled(runner: ControllerRunner) -> bool:
    s = summary(runner)
    return not s["pending"] and all(r["ready"] for r in s["nodes"] if r["managed"])


class Env:
    """FakeKube + FakeEC2 + one subnet, and runners stopped at teardown."""

    def __init__(self, stack: ExitStack) -> None:
        self.kube = FakeKube()
        self.ec2 = FakeEC2()
        self.subnet = self.ec2.add_subnet("10.0.0.0/19")
        self._stack = stack

    def node(self, name: str, itype: str = "m5.large") -> tuple[str, str]:
        """A Windows node on a new `itype` instance: (instance id, ENI id)."""
        iid, eni = self.ec2.run_instance(itype, self.subnet)
        self.kube.add_node(name, iid)
        return iid, eni

    def start(self, **overrides: Any) -> ControllerRunner:
        opts = RunnerOptions(
            components=frozenset({"controller"}),
            leader_elect=False,
            cooldown_seconds=0.3,
            retry_scale=0.05,
            resync_period_seconds=0,
            identity="test-controller",
        )
        for k, v in overrides.items():
            setattr(opts, k, v)
        runner = ControllerRunner(opts, kube=self.kube, ec2=self.ec2)
        self._stack.enter_context(runner)
        return runner


@pytest.fixture
def env() -> Iterator[Env]:
    with ExitStack() as stack:
        yield Env(stack)


def annotations(kube: FakeKube, pods: list[str]) -> list[str]:
    return [wait_until(lambda p=p: kube.annotation(p), what=f"annotation of {p}") for p in pods]


# ------------------------------------------------------------------ allocation + views
@pytest.mark.parametrize(
    ("cm", "capacity", "mode", "plen"),
    [(IPAM, "9", "secondary", "19"), (PD, "144", "prefix", "32")],
)
def test_allocates_and_reports_per_node(
    env: Env, cm: dict[str, str], capacity: str, mode: str, plen: str
) -> None:
    env.kube.set_configmap(cm)
    iid, eni = env.node("win-a")
    runner = env.start()
    wait_until(lambda: env.kube.capacity("win-a") == capacity, what=f"capacity {capacity}")
    pods = [env.kube.add_pod("win-a") for _ in range(3)]
    anns = annotations(env.kube, pods)
    assert len(set(anns)) == 3 and all(a.endswith(f"/{plen}") for a in anns)
    ips, prefixes = env.ec2.held(eni)
    for a in anns:
        ip = ipaddress.ip_address(a.split("/")[0])
        if mode == "prefix":
            assert any(ip in ipaddress.ip_network(p) for p in prefixes), (a, prefixes)
        else:
            assert str(ip) in ips
    wait_until(lambda: settled(runner), what="no EC2 work in flight")

    r = row(runner, "win-a")
    assert r is not None
    assert (r["managed"], r["mode"], r["capacity"], r["used"]) == (True, mode, int(capacity), 3)
    assert r["waiting"] is None and r["last_ec2_error"] is None
    s = summary(runner)
    assert s["ipam_enabled"] is True and s["waiting_pods"] == 0
    assert s["prefix_delegation_enabled"] is (mode == "prefix")

    v = node_view(runner, "win-a")
    assert (v["instance_id"], v["instance_type"], v["nitro"]) == (iid, "m5.large", True)
    assert v["subnet_cidr"] == "10.0.0.0/19"
    assert v["ips"]["used"] == 3
    assert v["pending"] == {"create": 0, "delete": 0, "jobs": 0}
    assert v["enis"][0]["eni_id"] == eni
    if mode == "prefix":
        # PD defaults after normalisation: warm 1, minimum 3 -> one /28 serves 3 pods + 1.
        assert v["targets"]["warm_ip_target"] == 1
        assert v["targets"]["minimum_ip_target"] == 3
        assert v["prefixes"] == {"total": len(prefixes), "free": 0}
        assert v["ips"]["used"] + v["ips"]["warm"] == 16 * len(prefixes)
        assert v["pools"]["secondary"]["state"] == "draining"
        assert v["pools"]["prefix"]["state"] == "active"
    else:
        assert (v["targets"]["warm_ip_target"], v["targets"]["minimum_ip_target"]) == (3, 3)
        assert v["prefixes"] is None
        # used 3 + warm 3 = 6 secondary IPs, all on the ENI.
        assert v["ips"]["warm"] == 3 and len(ips) == 6
        assert set(v["pools"]) == {"secondary", "prefix"}
        assert v["pools"]["prefix"]["state"] == "draining"

    # Upstream's shapes: keyed by resource name, then node.
    status, upstream = get(runner, "/resources/summary")
    res = PREFIX_RES if mode == "prefix" else SECONDARY_RES
    assert status == 200
    assert upstream[res]["win-a"]["UsedResourcesCount"] == 3
    status, one = get(runner, "/node/win-a")
    assert status == 200
    used = one[res]["UsedResources"]
    assert sorted(r["ResourceID"] for r in used.values()) == sorted(anns)
    status, everything = get(runner, "/resources/all")
    assert status == 200 and set(everything[res]) == {"win-a"}


def test_unknown_node_and_bad_queries(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    runner = env.start()
    assert get(runner, "/introspect/node?name=nope")[0] == 404
    assert get(runner, "/introspect/node")[0] == 400
    assert get(runner, "/introspect/nope")[0] == 404
    # Upstream answers {} per resource for a node it does not know.
    assert get(runner, "/node/nope") == (200, {SECONDARY_RES: {}, PREFIX_RES: {}})


# ------------------------------------------------------------------ ConfigMap switch
def test_configmap_switch_secondary_to_pd_and_back_with_pods_running(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    _, eni = env.node("win-a")
    runner = env.start()
    old = [env.kube.add_pod("win-a") for _ in range(3)]
    old_ips = annotations(env.kube, old)
    assert all(a.endswith("/19") for a in old_ips)

    # -> PD: capacity 144, new pods from a /28, the secondary pool drains to the pods' IPs.
    env.kube.set_configmap(PD)
    wait_until(lambda: env.kube.capacity("win-a") == "144", what="capacity 144")
    new = [env.kube.add_pod("win-a") for _ in range(2)]
    new_ips = annotations(env.kube, new)
    assert all(a.endswith("/32") for a in new_ips)
    wait_until(lambda: len(env.ec2.held(eni)[0]) == 3, what="secondary IPs drained to 3")
    secondaries, prefixes = env.ec2.held(eni)
    assert {f"{ip}/19" for ip in secondaries} == set(old_ips)
    assert prefixes
    wait_until(lambda: settled(runner), what="settled after the switch")
    v = node_view(runner, "win-a")
    assert (v["mode"], v["capacity"]) == ("prefix", 144)
    assert v["pools"]["secondary"]["state"] == "draining"
    assert v["pools"]["secondary"]["used"] == 3  # the old pods keep their IPs
    assert v["pools"]["prefix"]["used"] == 2

    # The old pods go: their IPs cool down, then EC2 gets them back.
    for p in old:
        env.kube.delete_pod(p)
    wait_until(lambda: env.ec2.held(eni)[0] == [], what="secondary IPs released")

    # -> secondary again: the prefixes drain once their pods are gone.
    env.kube.set_configmap(IPAM)
    wait_until(lambda: env.kube.capacity("win-a") == "9", what="capacity 9")
    back = annotations(env.kube, [env.kube.add_pod("win-a")])
    assert back[0].endswith("/19")
    for p in new:
        env.kube.delete_pod(p)
    wait_until(lambda: env.ec2.held(eni)[1] == [], what="prefixes released")
    wait_until(lambda: settled(runner), what="settled")
    v = node_view(runner, "win-a")
    assert (v["mode"], v["pools"]["prefix"]["state"]) == ("secondary", "draining")
    assert v["ips"]["used"] == 1


# ------------------------------------------------------------------ non-Nitro
def test_node_replaced_by_non_nitro_instance(env: Env) -> None:
    env.kube.set_configmap(PD)
    env.node("win-a", "m5.large")
    runner = env.start()
    wait_until(lambda: env.kube.capacity("win-a") == "144", what="capacity 144")
    pod = env.kube.add_pod("win-a")
    assert annotations(env.kube, [pod])[0].endswith("/32")

    # The node is re-registered under the same name on a t2.medium (Xen, no prefixes).
    env.kube.delete_pod(pod)
    env.kube.delete_node("win-a")
    wait_until(lambda: row(runner, "win-a") is None, what="node dropped")
    _, eni = env.node("win-a", "t2.medium")
    wait_until(lambda: env.kube.capacity("win-a") == "5", what="capacity 5 (6 per ENI - 1)")
    ann = annotations(env.kube, [env.kube.add_pod("win-a")])[0]
    assert ann.endswith("/19") and ann.split("/")[0] in env.ec2.held(eni)[0]
    unsupported = wait_until(
        lambda: env.kube.events_about("Node", "win-a", "Unsupported"), what="Unsupported event"
    )
    assert unsupported[0]["message"] == (
        "The instance type t2.medium is not supported for Windows prefix delegation"
    )
    v = node_view(runner, "win-a")
    assert (v["mode"], v["nitro"], v["capacity"]) == ("secondary", False, 5)
    assert set(v["pools"]) == {"secondary"}
    assert summary(runner)["prefix_delegation_enabled"] is True
    assert env.ec2.held(eni)[1] == []


# ------------------------------------------------------------------ restart
def test_restart_rebuilds_state_from_ec2_and_annotations(env: Env) -> None:
    env.kube.set_configmap(PD)
    _, eni = env.node("win-a")
    first = env.start()
    pods = [env.kube.add_pod("win-a") for _ in range(4)]
    before = set(annotations(env.kube, pods))
    wait_until(lambda: settled(first), what="first controller settled")
    held = env.ec2.held(eni)
    first.stop()
    assigns = env.ec2.count("AssignPrivateIpAddresses")

    second = env.start()
    wait_until(lambda: (row(second, "win-a") or {}).get("used") == 4, what="4 IPs used again")
    wait_until(lambda: settled(second), what="second controller settled")
    # Nothing was re-created: what EC2 holds covers the pods and the warm target.
    assert env.ec2.held(eni) == held
    assert env.ec2.count("AssignPrivateIpAddresses") == assigns
    v = node_view(second, "win-a")
    assert v["ips"]["used"] == 4 and v["ips"]["used"] + v["ips"]["warm"] == 16 * len(held[1])
    more = [env.kube.add_pod("win-a") for _ in range(4)]
    after = set(annotations(env.kube, more))
    assert not before & after and len(after) == 4


def test_pause_stops_ec2_work_and_rebuild_relearns_an_emptied_eni(env: Env) -> None:
    """The harness's reset: paused, the controller makes no EC2 call (pods added then
    wait); the ENI is emptied behind its back; rebuilt, it learns the empty ENI from EC2
    (nothing of the old pool survives), fills the warm pool again and serves the pods."""
    env.kube.set_configmap(PD)
    _, eni = env.node("win-a")
    runner = env.start()
    first = [env.kube.add_pod("win-a") for _ in range(2)]
    annotations(env.kube, first)
    wait_until(lambda: settled(runner), what="settled")
    for pod in first:
        env.kube.delete_pod(pod)
    runner.pause_ipam()
    calls = len(env.ec2.calls)
    waiting = env.kube.add_pod("win-a")
    _, prefixes = env.ec2.held(eni)
    env.ec2.unassign(eni, prefixes, prefixes=True)  # the reset empties the ENI
    assert env.kube.annotation(waiting) is None and len(env.ec2.calls) == calls + 1

    runner.rebuild_ipam()
    ann = wait_until(lambda: env.kube.annotation(waiting), what="the waiting pod annotated")
    wait_until(lambda: settled(runner), what="settled after the rebuild")
    _, now = env.ec2.held(eni)
    assert len(now) == 1 and ipaddress.ip_address(ann.split("/")[0]) in ipaddress.ip_network(now[0])
    v = node_view(runner, "win-a")
    assert v["ips"]["used"] == 1


# ------------------------------------------------------------------ why pods wait
def _pods(runner: ControllerRunner, node: str | None = None) -> list[dict[str, Any]]:
    status, body = get(runner, "/introspect/pods" + (f"?node={node}" if node else ""))
    assert status == 200
    assert body["count"] == len(body["pods"])
    return body["pods"]  # type: ignore[no-any-return]


def _reason(runner: ControllerRunner, pod: str) -> str | None:
    return next((p["reason"] for p in _pods(runner) if p["name"] == pod), None)


def test_waiting_pods_at_capacity_then_cooling(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    env.node("win-a", "t2.medium")  # capacity 5
    runner = env.start(cooldown_seconds=600.0)
    pods = [env.kube.add_pod("win-a") for _ in range(5)]
    annotations(env.kube, pods)
    extra = env.kube.add_pod("win-a")
    wait_until(lambda: _reason(runner, extra) == "at_capacity", what="at_capacity")
    w = next(p for p in _pods(runner, "win-a") if p["name"] == extra)
    assert w["node"] == "win-a" and w["attempts"] >= 1
    # Rate-limited (exponential from 5 ms x retry-scale), not a fixed interval.
    assert w["retry_in_seconds"] is not None and w["retry_in_seconds"] <= 1000 * 0.05
    assert (row(runner, "win-a") or {})["waiting"] == "at_capacity"

    env.kube.delete_pod(pods[0])  # its IP cools down for 600 s
    wait_until(lambda: _reason(runner, extra) == "cooling", what="cooling")
    w = next(p for p in _pods(runner) if p["name"] == extra)
    assert "are being cooled down, will retry in 1s" in w["message"]
    assert node_view(runner, "win-a")["waiting"]["reason"] == "cooling"
    assert summary(runner)["waiting_pods"] == 1
    assert _pods(runner, "other") == []


def test_waiting_pod_no_cidr_and_node_error(env: Env) -> None:
    env.kube.set_configmap(PD)
    env.ec2.fail("AssignPrivateIpAddresses", "InsufficientCidrBlocks", times=1000)
    env.node("win-a")
    runner = env.start(cidr_exhaustion=CidrExhaustion.INTENDED)
    pod = env.kube.add_pod("win-a")
    wait_until(lambda: _reason(runner, pod) == "no_cidr", what="no_cidr")
    wait_until(
        lambda: env.kube.events_about("Node", "win-a", "InsufficientCidrBlocks"),
        what="node event InsufficientCidrBlocks",
    )
    v = node_view(runner, "win-a")
    assert v["last_ec2_error"]["code"] == "InsufficientCidrBlocks"
    assert v["last_ec2_error"]["action"] == "AssignPrivateIpAddresses"
    wait_until(
        lambda: (
            node_view(runner, "win-a")["waiting"]
            == {
                "reason": "no_cidr",
                "message": "injected InsufficientCidrBlocks",
            }
        ),
        what="node waiting no_cidr",
    )
    assert (row(runner, "win-a") or {})["last_ec2_error"] == "InsufficientCidrBlocks"


def test_no_cidr_real_mode_retries_at_600ms_without_node_event(env: Env) -> None:
    """The released binary's prefix test misses the SDK v2 text: no node Event, the pool's
    prefixes stay "available", each pod retry is one more assign plus a re-sync."""
    env.kube.set_configmap(PD)
    env.ec2.fail("AssignPrivateIpAddresses", "InsufficientCidrBlocks", times=100000)
    env.node("win-a")
    runner = env.start()  # the default: real
    pod = env.kube.add_pod("win-a")
    wait_until(lambda: env.ec2.count("AssignPrivateIpAddresses") >= 20, what="20 assigns")
    # each failed create re-syncs (its DescribeInstances may trail the assign)
    wait_until(lambda: env.ec2.count("DescribeInstances") >= 10, what="10 re-syncs")
    assert env.kube.events_about("Node", "win-a", "InsufficientCidrBlocks") == []
    w = next(p for p in get(runner, "/introspect/pods")[1]["pods"] if p["name"] == pod)
    # no_cidr: a first try that met the pool's zero value waits out its 6 s requeue
    assert w["reason"] in ("pool_empty", "creating", "queued", "no_cidr"), w

    def failures() -> list[str]:
        return [e["message"] for e in env.kube.events_about("Pod", pod, "ResourceAllocationFailed")]

    # The recorder posts Events from its own thread: wait for the pool-empty one.
    wait_until(
        lambda: any("is currently empty, will retry in 30ms" in m for m in failures()),
        what="the pool-empty Event",
    )
    msgs = failures()
    # Only a pod seen before the first create job finished may meet the pool's zero value
    # (prefix_available false, as upstream's): every other try says "currently empty".
    assert sum("free cidr blocks" in m for m in msgs) <= 1, msgs
    v = node_view(runner, "win-a")
    assert v["pools"]["prefix"]["prefix_available"] is True
    # Retrying a failing create is waiting, not progress: a scenario step settles around it.
    wait_until(
        lambda: get(runner, "/introspect/summary")[1]["pending"] is False,
        what="no pending work while the create is only retried",
    )
    assert v["last_ec2_error"]["code"] == "InsufficientCidrBlocks"
    assert v["last_ec2_error"]["text"].startswith(
        "operation error EC2: AssignPrivateIpAddresses, https response error StatusCode: 400"
    )


def test_secondary_to_pd_switch_on_a_full_eni_says_why_no_prefix_fits(env: Env) -> None:
    """Upstream keeps asking (each create fails without an EC2 call, then re-syncs); the
    harness also records why: every address slot of the ENI holds a secondary IP."""
    env.kube.set_configmap(IPAM)
    env.node("win-a")  # m5.large: 10 addresses per ENI
    runner = env.start()
    annotations(env.kube, [env.kube.add_pod("win-a") for _ in range(9)])
    env.kube.set_configmap(PD)
    why = "primary + 9 secondary IP(s) + 0 prefix(es) = 10 of 10 addresses"
    ev = wait_until(
        lambda: env.kube.events_about("Node", "win-a", "NoFreeAddressSlot"), what="the Event"
    )
    assert ev[0]["type"] == "Warning" and why in ev[0]["message"]
    assert "No /28 prefix fits: wanted 1, assigned 0" in ev[0]["message"]
    v = wait_until(lambda: node_view(runner, "win-a")["no_free_slot"], what="introspection")
    assert why in v
    pod = env.kube.add_pod("win-a")
    wait_until(lambda: env.ec2.count("DescribeInstances") >= 5, what="re-syncs")
    assert not any(
        "Ipv4PrefixCount" in p for a, p in env.ec2.calls if a == "AssignPrivateIpAddresses"
    )
    assert env.kube.annotation(pod) is None
    # Said once per reason, not once per retry.
    assert len(env.kube.events_about("Node", "win-a", "NoFreeAddressSlot")) == 1


def test_node_events_version_notice_and_non_nitro_on_every_update(env: Env) -> None:
    env.kube.set_configmap(PD)
    env.node("win-a", "m4.large")  # Xen: no prefix delegation
    env.start()
    wait_until(lambda: env.kube.capacity("win-a") == "9", what="secondary capacity")
    # The recorder posts Events from its own thread: wait for it.
    notice = wait_until(
        lambda: env.kube.events_about("Node", "win-a", "ControllerVersionNotice"), what="notice"
    )
    assert notice[0]["type"] == "Normal"
    count = lambda: sum(  # noqa: E731
        e.get("count", 1) for e in env.kube.events_about("Node", "win-a", "Unsupported")
    )
    before = wait_until(count, what="Unsupported")
    env.kube.patch_node_capacity("win-a", "example.com/touched", 1)
    wait_until(lambda: count() > before, what="Unsupported again on the node update")


def test_metrics_count_annotations_and_capacity_patches_as_upstream(env: Env) -> None:
    """client_wrapper.go AnnotatePod and wrapper.go AdvertiseCapacityIfNotSet: one call per
    annotate request, one per capacity patch (none when the capacity is already right)."""
    env.kube.set_configmap(IPAM)
    env.node("win-a")
    runner = env.start()
    wait_until(lambda: env.kube.capacity("win-a") == "9", what="capacity")
    annotations(env.kube, [env.kube.add_pod("win-a") for _ in range(2)])
    env.kube.patch_node_capacity("win-a", "example.com/touched", 1)  # capacity unchanged
    key = {"annotate_key": SECONDARY_RES}

    def value(name: str, labels: dict[str, str]) -> float | None:
        status, body = get(runner, "/metrics")
        assert status == 200 and "_total" not in body
        return sample_value(body, name, labels)

    wait_until(lambda: value("annotate_pod_request_call_count", key) == 2, what="annotates")
    res = {"resource_name": SECONDARY_RES}
    assert value("advertise_resource_request_call_count", res) == 1
    assert value("annotate_pod_request_err_count", key) is None


def test_ipam_off_while_the_old_controller_deployment_is_present(env: Env) -> None:
    """conditions.go: IsWindowsIPAMEnabled / IsWindowsPrefixDelegationEnabled are false while
    kube-system/vpc-resource-controller exists; DeploymentReconciler re-evaluates every node
    when it appears or goes."""
    env.kube.set_configmap(PD)
    env.kube.set_deployment("kube-system", "vpc-resource-controller", present=True)
    env.node("win-a")
    runner = env.start()
    wait_until(lambda: (row(runner, "win-a") or {}).get("managed") is False, what="unmanaged")
    s = summary(runner)
    assert (s["ipam_enabled"], s["prefix_delegation_enabled"]) == (False, False)
    assert s["old_controller_present"] is True
    r = row(runner, "win-a")
    assert r is not None and "vpc-resource-controller is present" in r["unmanaged_reason"]
    assert runner._ipam_enabled() is False  # the webhook's condition too
    pod = env.kube.add_pod("win-a")
    with pytest.raises(WaitTimeout):
        wait_until(lambda: env.kube.annotation(pod), 1.0, "an annotation")
    assert env.ec2.count("DescribeInstances") == 0
    env.kube.set_deployment("kube-system", "vpc-resource-controller", present=False)
    wait_until(lambda: env.kube.capacity("win-a") == "144", what="PD capacity once it is gone")
    assert annotations(env.kube, [env.kube.add_pod("win-a")])[0].endswith("/32")
    # The pod seen while the node was unmanaged was not requeued (pod_controller.go): it
    # waits for its next event or the periodic resync, as upstream's does.
    assert env.kube.annotation(pod) is None
    assert summary(runner)["old_controller_present"] is False and runner._ipam_enabled()
    # A Deployment of another name, or in another namespace, changes nothing.
    env.kube.set_deployment("default", "vpc-resource-controller", present=True)
    env.kube.set_deployment("kube-system", "other", present=True)
    assert summary(runner)["ipam_enabled"] is True


def test_type_missing_from_the_controllers_table_is_refused_with_its_event(env: Env) -> None:
    """ec2/instance.go LoadDetails + node.go InitResources: EC2 knows c8gb.metal-24xl, the
    controller's own table does not, so the init fails with an Unsupported Event, the node
    is dropped until its next event, and EC2 is never asked for the type's limits."""
    env.kube.set_configmap(PD)
    env.node("win-a", "c8gb.metal-24xl")
    runner = env.start()
    msg = "The instance type c8gb.metal-24xl is not supported yet by the vpc resource controller"
    count = lambda: sum(  # noqa: E731
        e.get("count", 1)
        for e in env.kube.events_about("Node", "win-a", "Unsupported")
        if e["message"] == msg and e["type"] == "Warning"
    )
    before = wait_until(count, what="Unsupported (type missing from the table)")
    r = row(runner, "win-a")
    assert r is not None and (r["waiting"], r["last_ec2_error"]) == ("init_failed", None)
    v = node_view(runner, "win-a")
    assert v["waiting"]["message"] == msg and v["last_ec2_error"] is None
    assert env.kube.capacity("win-a") is None
    assert env.ec2.count("DescribeInstanceTypes") == 0
    env.kube.patch_node_capacity("win-a", "example.com/touched", 1)  # a node event
    wait_until(lambda: count() > before, what="refused again on the next node event")


def test_limits_come_from_the_table_not_from_ec2(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table alone sets the capacity: a row saying 6 addresses per ENI for m5.large
    (EC2 says 10) gives capacity 5, and DescribeInstanceTypes is never called."""
    import controller.limits as limits

    row_ = limits.InstanceTypeInfo("m5.large", ipv4_per_eni=6, max_enis=3, nitro=True)
    monkeypatch.setattr(limits, "table", lambda: {"m5.large": row_})
    env.kube.set_configmap(IPAM)
    env.node("win-a", "m5.large")
    env.start()
    wait_until(lambda: env.kube.capacity("win-a") == "5", what="capacity from the table")
    assert env.ec2.count("DescribeInstanceTypes") == 0


def test_waiting_pods_node_not_managed_and_init_failure(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    env.kube.add_node("linux-a", "i-00000000000000001", os_label="linux")
    env.ec2.fail("DescribeInstances", "RequestLimitExceeded", times=1000)
    env.node("win-a")
    runner = env.start()
    on_linux = env.kube.add_pod("linux-a")
    on_win = env.kube.add_pod("win-a")
    wait_until(lambda: _reason(runner, on_linux) == "node_not_managed", what="not managed")
    wait_until(lambda: _reason(runner, on_win) == "node_not_ready", what="node not ready")
    linux = next(p for p in _pods(runner) if p["name"] == on_linux)
    assert linux["retry_at"] is None  # no resync period: only a change retries it
    assert "not a Windows node" in linux["message"]
    wait_until(lambda: (row(runner, "win-a") or {}).get("waiting") == "init_failed", what="init")
    r = row(runner, "win-a")
    assert r is not None and r["last_ec2_error"] == "RequestLimitExceeded"
    v = node_view(runner, "win-a")
    assert v["waiting"]["reason"] == "init_failed" and v["managed"] is True
    assert get(runner, "/introspect/node?name=linux-a")[1] == {
        "name": "linux-a",
        "managed": False,
        "mode": "disabled",
        "unmanaged_reason": "not a Windows node (label kubernetes.io/os)",
    }
    # Upstream drops a node whose init failed until its next event: no timer retries it.
    assert v["waiting"]["retry_at"] is None
    env.ec2.clear_faults()
    calls = env.ec2.count("DescribeInstances")
    with pytest.raises(WaitTimeout):
        wait_until(lambda: env.ec2.count("DescribeInstances") > calls, 1.0, "an init retry")
    env.kube.patch_node_capacity("win-a", "example.com/touched", 1)  # a node event
    annotations(env.kube, [on_win])
    wait_until(lambda: _reason(runner, on_win) is None, what="the pod no longer waits")
    assert _reason(runner, on_linux) == "node_not_managed"


# ------------------------------------------------------------------ periodic resync
def test_periodic_resync_retries_pool_and_waiting_pods(env: Env) -> None:
    env.kube.set_configmap(PD)
    env.ec2.fail("AssignPrivateIpAddresses", "InsufficientCidrBlocks", times=1)
    iid, eni = env.ec2.run_instance("m5.large", env.subnet)
    env.kube.add_node("win-a", iid)
    env.kube.patch_node_capacity("win-a", SECONDARY_RES, 144)  # no capacity patch, no event
    env.kube.add_node("win-b", iid, os_label="linux")
    # Long cool-down: only the 0.5 s resync can reconcile the pool after the failed create.
    runner = env.start(cooldown_seconds=600.0, resync_period_seconds=0.5)
    wait_until(lambda: env.ec2.held(eni)[1], what="a prefix created by a resync")
    assert env.ec2.count("AssignPrivateIpAddresses") >= 2
    # A pod on an unmanaged node is retried at each resync.
    pod = env.kube.add_pod("win-b")
    wait_until(lambda: _reason(runner, pod) == "node_not_managed", what="not managed")
    w = next(p for p in _pods(runner) if p["name"] == pod)
    assert w["retry_at"] is not None and w["retry_in_seconds"] <= 0.5
    wait_until(
        lambda: next(p for p in _pods(runner) if p["name"] == pod)["attempts"] >= 3,
        what="retried at the next resyncs",
    )


# ------------------------------------------------------------------ wiring
def test_one_configmap_informer_shared_with_the_webhook(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    env.node("win-a")
    runner = env.start(components=frozenset({"controller", "webhook"}))
    names = [inf.name for inf in runner.informers]
    assert sorted(names) == ["configmap", "nodes", "old-controller", "pods"]
    assert runner.webhook_url is not None and runner.webhook_url.startswith("https://127.0.0.1:")
    wait_until(lambda: env.kube.capacity("win-a") == "9", what="capacity 9")
    assert runner._ipam_enabled() is True
    env.kube.set_configmap({"enable-windows-ipam": "false"})
    wait_until(lambda: not runner._ipam_enabled(), what="webhook sees IPAM off")
    wait_until(lambda: (row(runner, "win-a") or {}).get("managed") is False, what="unmanaged")
    assert get(runner, "/readyz") == (200, "ok")


def test_webhook_only_has_no_introspection(env: Env) -> None:
    runner = env.start(components=frozenset({"webhook"}))
    # The webhook reads the conditions too: the ConfigMap and the old controller.
    assert [inf.name for inf in runner.informers] == ["configmap", "old-controller"]
    assert get(runner, "/introspect/summary")[0] == 404
    wait_until(lambda: get(runner, "/readyz")[0] == 200, what="ready")


def test_stop_releases_the_port(env: Env) -> None:
    runner = env.start()
    url = runner.health_url
    runner.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/healthz", timeout=2)


def test_leader_election_needs_a_kubeconfig(env: Env) -> None:
    with pytest.raises(ValueError, match="leader election needs"):
        ControllerRunner(
            RunnerOptions(components=frozenset({"controller"})), kube=env.kube, ec2=env.ec2
        )


def test_waits_are_listed_oldest_first(env: Env) -> None:
    env.kube.set_configmap(IPAM)
    env.kube.add_node("linux-a", "i-00000000000000001", os_label="linux")
    runner = env.start()
    names = [env.kube.add_pod("linux-a") for _ in range(3)]
    wait_until(lambda: len(_pods(runner)) == 3, what="3 waiting pods")
    assert [p["name"] for p in _pods(runner)] == names


# ------------------------------------------------------------------ ConfigMap problems
CM_PROBLEM_LOGGER = "controller.manager"


def _cm_seen(runner: ControllerRunner, kube: FakeKube) -> bool:
    """The runner has handled the ConfigMap's latest version."""
    latest = kube.objects["configmaps"].get("kube-system/amazon-vpc-cni")
    seen = runner.cm_obj
    return (
        latest is not None
        and seen is not None
        and seen["metadata"]["resourceVersion"] == latest["metadata"]["resourceVersion"]
    )


def _problem_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == CM_PROBLEM_LOGGER and r.getMessage().startswith("ConfigMap kube-system/")
    ]


def test_unparsable_ipam_flag_is_logged_once_with_an_event(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger=CM_PROBLEM_LOGGER)
    env.kube.set_configmap({"enable-windows-ipam": "yes please"})
    env.node("win-a")
    runner = env.start()
    events = wait_until(
        lambda: env.kube.events_about("ConfigMap", "amazon-vpc-cni", "InvalidConfiguration"),
        what="an InvalidConfiguration Event on the ConfigMap",
    )
    (ev,) = events
    cm = env.kube.objects["configmaps"]["kube-system/amazon-vpc-cni"]
    assert ev["type"] == "Warning"
    assert ev["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert ev["involvedObject"]["namespace"] == "kube-system"
    assert ev["metadata"]["namespace"] == "kube-system"
    assert 'enable-windows-ipam="yes please" is not valid: expected true or false' in ev["message"]
    assert "Windows IPAM is off" in ev["message"]
    wait_until(lambda: (row(runner, "win-a") or {}).get("managed") is False, what="unmanaged")
    assert _problem_logs(caplog) == [ev["message"]]

    # The same data again (an update touching nothing the controller reads): not re-logged.
    env.kube.set_configmap({"enable-windows-ipam": "yes please"})
    wait_until(lambda: _cm_seen(runner, env.kube), what="the update handled")
    assert len(_problem_logs(caplog)) == 1

    # Fixed: IPAM turns on, and nothing more is reported.
    env.kube.set_configmap(IPAM)
    wait_until(lambda: env.kube.capacity("win-a") == "9", what="managed again, capacity 9")
    assert len(_problem_logs(caplog)) == 1
    assert len(env.kube.events_about("ConfigMap", "amazon-vpc-cni")) == 1


def test_target_above_capacity_is_reported_once_and_the_pool_stops_there(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger=CM_PROBLEM_LOGGER)
    env.kube.set_configmap({**IPAM, "warm-ip-target": "99999"})
    _, eni = env.node("win-a")
    runner = env.start()
    (ev,) = wait_until(
        lambda: env.kube.events_about("ConfigMap", "amazon-vpc-cni", "TargetExceedsCapacity"),
        what="a TargetExceedsCapacity Event",
    )
    assert ev["message"].startswith(
        'ConfigMap kube-system/amazon-vpc-cni: warm-ip-target="99999" cannot be met: '
        "expected at most 9 IPs on node win-a (m5.large, secondary mode)"
    )
    # As the real pool does: it fills the ENI to its capacity (9 secondary IPs), no further.
    wait_until(lambda: len(env.ec2.held(eni)[0]) == 9, what="9 secondary IPs")
    wait_until(lambda: settled(runner), what="no EC2 work in flight")
    assert len(env.ec2.held(eni)[0]) == 9
    # Every later node update checks again: the same problem is not reported twice.
    assert runner.controller is not None
    runner.controller.check_capacity("win-a", "m5.large", 9, nitro=True)
    assert _problem_logs(caplog) == [ev["message"]]
    assert env.kube.events_about("ConfigMap", "amazon-vpc-cni")[0].get("count", 1) == 1
    # A new value is a new change: reported again.
    env.kube.set_configmap({**IPAM, "warm-ip-target": "50"})
    wait_until(lambda: len(_problem_logs(caplog)) == 2, what="the new value reported")
    assert 'warm-ip-target="50" cannot be met' in _problem_logs(caplog)[1]
