"""Whole-stack tests: control plane + fake_ec2 + fake_hns + controller + node agent.

Each test starts its own environment with the lead's ``ekswin_env_factory`` (module
scoped), because several stop or reconfigure components. Everything is observed
through real protocols: the Kubernetes API, EC2 (boto3) and HNS (gRPC).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.testing import WINDOWS_IMAGE, pod_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANNOTATION = "vpc.amazonaws.com/PrivateIPv4Address"
PORT_EXISTS = (
    "hcnCreateLoadBalancer failed in Win32: The specified port already exists. (0x803b0013)"
)


def core_api(env: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(env.cluster.api)


def windows_pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return pod_manifest(
        name,
        container="app",
        image=f"{WINDOWS_IMAGE}:ltsc2019",
        labels=labels or {"app": "win"},
        ports=[80],
        grace_s=1,
    )


def pods(core: Any, prefix: str) -> list[Any]:
    return [
        p for p in core.list_namespaced_pod("default").items if p.metadata.name.startswith(prefix)
    ]


def running(core: Any, prefix: str) -> list[Any]:
    return [
        p
        for p in pods(core, prefix)
        if p.status.phase == "Running"
        and p.status.pod_ip
        and all(c.ready for c in p.status.container_statuses or [])
    ]


def eni_of(env: Any, instance_id: str) -> dict[str, Any]:
    from harness.nodes.ec2 import ec2_client

    ec2 = ec2_client(env.pipeline.ec2_url, "us-west-2")
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["NetworkInterfaces"]
    return next(e for e in enis if e["Attachment"]["DeviceIndex"] == 0)


def node_hns(env: Any, node: str) -> Any:
    from harness.hns import NodeHns

    return NodeHns(env.pipeline.hns_target.removeprefix("grpc://"), node)


def observed(env: Any) -> Any:
    """The environment's state as the invariants read it (from its run directory)."""
    from harness.observe import observe_run_dir

    return observe_run_dir(Path(env.run_dir))


def assert_invariants(env: Any, *, cooldown_passed: bool = False) -> Any:
    """Every invariant holds (no duplicate IP; pod IPs in their node's ENI and assigned by
    EC2; annotation, podIP and HNS endpoint agree; capacity; prefixes; and, once the
    cool-down passed, no leak). Returns the observed state."""
    from harness.invariants import check, summary_line

    state = observed(env)
    violations = check(state, cooldown_passed=cooldown_passed)
    assert not violations, summary_line(violations) + "\n" + "\n".join(map(str, violations))
    return state


def running_in_state(state: Any, prefix: str) -> list[Any]:
    return [p for p in state.pods if p.name.startswith(prefix) and p.phase == "Running"]


def invariants_hold_after_cooldown(env: Any) -> Any:
    """For wait_for: the broken-invariants line until nothing leaks, then True."""
    from harness.invariants import check, summary_line

    violations = check(observed(env), cooldown_passed=True)
    return True if not violations else _Falsy(summary_line(violations))


class _Falsy(str):
    """A falsy value that still says what wait_for last saw."""

    def __bool__(self) -> bool:
        return False


def test_m5_large_secondary_nine_running_tenth_pending(
    ekswin_env_factory: Callable[..., Any], wait_for: Callable[..., Any]
) -> None:
    env = ekswin_env_factory(
        "m5",
        windows_nodes=1,
        instance_type="m5.large",
        prefix_delegation=False,
    )
    core = core_api(env)
    for i in range(10):
        core.create_namespaced_pod("default", windows_pod(f"app-{i}"))
    wait_for(lambda: len(running(core, "app-")) == 9, 120, "9 Running pods")

    def pending_insufficient() -> bool:
        pend = [
            p for p in pods(core, "app-") if p.status.phase == "Pending" and not p.spec.node_name
        ]
        return len(pend) == 1 and any(
            c.type == "PodScheduled"
            and c.status == "False"
            and f"Insufficient {ANNOTATION}" in (c.message or "")
            for c in pend[0].status.conditions or []
        )

    wait_for(pending_insufficient, 60, "the 10th pod Pending with Insufficient <IP resource>")
    state = assert_invariants(env)
    assert len(running_in_state(state, "app-")) == 9  # the check covered the nine pods
    (node_state,) = state.nodes
    assert (node_state.ipv4_per_interface, node_state.nitro) == (10, True)  # from EC2
    node = core.read_node(env.pipeline.nodes[0]["name"])
    assert node.status.allocatable[ANNOTATION] == node.status.capacity[ANNOTATION] == "9"
    pod = running(core, "app-")[0]
    cs = pod.status.container_statuses[0]
    assert cs.container_id.startswith("containerd://") and cs.started and cs.restart_count == 0
    assert pod.status.host_ip == env.pipeline.nodes[0]["private_ip"]


def test_t3_2xlarge_prefix_delegation_twenty_pods_then_release(
    ekswin_env_factory: Callable[..., Any], wait_for: Callable[..., Any]
) -> None:
    env = ekswin_env_factory(
        "pd",
        windows_nodes=1,
        instance_type="t3.2xlarge",
        prefix_delegation=True,
    )
    core = core_api(env)
    for i in range(20):
        core.create_namespaced_pod("default", windows_pod(f"pd-{i}"))
    wait_for(lambda: len(running(core, "pd-")) == 20, 180, "20 Running pods")
    instance = env.pipeline.nodes[0]["instance_id"]
    assert len(eni_of(env, instance).get("Ipv4Prefixes", [])) == 2
    state = assert_invariants(env)
    assert len(running_in_state(state, "pd-")) == 20
    assert state.nodes[0].capacity == 224  # (15 - 1) x 16, PD on a Nitro t3.2xlarge

    for p in pods(core, "pd-"):
        core.delete_namespaced_pod(p.metadata.name, "default")
    wait_for(lambda: not pods(core, "pd-"), 120, "pods gone (CNI DEL, delete with grace 0)")
    hns = node_hns(env, env.pipeline.nodes[0]["name"])
    try:
        wait_for(lambda: hns.count_endpoints() == 0, 30, "HNS endpoints removed")
    finally:
        hns.close()
    # After the cool-down the surplus prefix goes back to EC2: one warm prefix remains.
    wait_for(
        lambda: len(eni_of(env, instance).get("Ipv4Prefixes", [])) == 1,
        120,
        "surplus prefix released to EC2",
    )
    # Nothing leaked or lost: one warm prefix (the PD defaults), no pod endpoint in HNS.
    wait_for(lambda: invariants_hold_after_cooldown(env), 60, "invariants after the cool-down")


def test_annotation_never_arriving_leaves_pod_container_creating(
    ekswin_env_factory: Callable[..., Any], wait_for: Callable[..., Any]
) -> None:
    env = ekswin_env_factory(
        "noctl",
        windows_nodes=1,
        instance_type="m5.large",
        timing={"profile": "fast", "cni_annotation_wait_s": 2},
    )
    core = core_api(env)
    wait_for(
        lambda: core.read_node(env.pipeline.nodes[0]["name"]).status.allocatable.get(ANNOTATION),
        60,
        "IP capacity advertised",
    )
    env.pipeline.sup.stop("controller")  # no controller: nobody annotates
    core.create_namespaced_pod("default", windows_pod("stuck-0"))

    def sandbox_event() -> Any:
        evs = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=stuck-0,reason=FailedCreatePodSandBox"
        )
        return evs.items[0] if evs.items else None

    ev = wait_for(sandbox_event, 90, "FailedCreatePodSandBox event")
    assert ev.type == "Warning"
    assert ev.source.component == "kubelet" and ev.source.host == env.pipeline.nodes[0]["name"]
    assert ev.message.startswith(
        "Failed to create pod sandbox: rpc error: code = Unknown desc = "
        "failed to setup network for sandbox"
    )
    assert f"does not have label {ANNOTATION}" in ev.message
    pod = core.read_namespaced_pod("stuck-0", "default")
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"


def _services(core: Any, count: int, svc_type: str) -> None:
    for i in range(count):
        core.create_namespaced_service(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i}"},
                "spec": {
                    "type": svc_type,
                    "selector": {"app": "be"},
                    "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
                },
            },
        )


def _agent_status(env: Any) -> dict[str, Any]:
    path = Path(env.run_dir) / "components" / "nodes" / "agent-status.json"
    return json.loads(path.read_text()) if path.exists() else {}


SERVICES = 150  # NodePort: 2 LBs each, 64-port blocks: more than the 256-block pool


def test_nodeport_services_exhaust_ports_without_dsr(
    ekswin_env_factory: Callable[..., Any], wait_for: Callable[..., Any]
) -> None:
    env = ekswin_env_factory(
        "ports",
        windows_nodes=1,
        instance_type="m5.large",
        kube_proxy={"sync_period_s": 5, "min_sync_period_s": 1},
    )
    core = core_api(env)
    core.create_namespaced_pod("default", windows_pod("be-0", {"app": "be"}))
    wait_for(lambda: running(core, "be-"), 60, "backend pod Running")
    _services(core, SERVICES, "NodePort")

    def failures() -> list[Any]:
        return core.list_namespaced_event(
            "default", field_selector="reason=PolicyCreationFailed"
        ).items

    evs = wait_for(failures, 120, "PolicyCreationFailed events")
    assert evs[0].type == "Warning" and evs[0].source.component == "kube-proxy"
    assert evs[0].message == f"Policy creation failed: {PORT_EXISTS}"


def test_clusterip_services_with_dsr_do_not_exhaust_ports(
    ekswin_env_factory: Callable[..., Any], wait_for: Callable[..., Any]
) -> None:
    env = ekswin_env_factory(
        "dsr",
        windows_nodes=1,
        instance_type="m5.large",
        dsr=True,
        kube_proxy={"sync_period_s": 5, "min_sync_period_s": 1},
    )
    core = core_api(env)
    core.create_namespaced_pod("default", windows_pod("be-0", {"app": "be"}))
    wait_for(lambda: running(core, "be-"), 60, "backend pod Running")
    _services(core, SERVICES, "ClusterIP")
    node = env.pipeline.nodes[0]["name"]
    hns = node_hns(env, node)
    try:
        wait_for(lambda: hns.count_load_balancers() >= SERVICES, 120, "all ClusterIP LBs in HNS")
    finally:
        hns.close()
    status = _agent_status(env)
    assert status["nodes"][node]["lb_failures"] == 0
    assert not core.list_namespaced_event(
        "default", field_selector="reason=PolicyCreationFailed"
    ).items
