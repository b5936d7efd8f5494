"""The node agent process against the real API server, fake_ec2 and fake_hns.

No controller here: the test plays the controller's part through the API (capacity in
node status, the pod IP annotation), which isolates the node emulation's behaviour.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.testing import pod_manifest

pytestmark = pytest.mark.cluster

NODE = "win-agent-0"
ANNOTATION = "vpc.amazonaws.com/PrivateIPv4Address"


class Agent:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.logf = log.open("ab")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.nodes", "--config", str(config), "--log-level", "INFO"],
            stdout=subprocess.PIPE,
            stderr=self.logf,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        # `listening on URL` (the readiness line every component prints), then `ready N nodes`.
        self.listening = self.proc.stdout.readline().decode().strip()
        self.first_line = (
            self.proc.stdout.readline().decode().strip()
            if self.listening.startswith("listening on ")
            else self.listening
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.logf.close()


@pytest.fixture(scope="module")
def vpc(fake_ec2_url: str) -> dict[str, str]:
    from harness.nodes.ec2 import ec2_client

    ec2 = ec2_client(fake_ec2_url, "us-west-2")
    vpc_id = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="192.168.32.0/19", AvailabilityZone="us-west-2a"
    )["Subnet"]["SubnetId"]
    return {"vpc": vpc_id, "subnet": subnet}


@pytest.fixture(scope="module")
def agent(
    ekswin_cluster: Any,
    fake_ec2_url: str,
    fake_hns_target: str,
    vpc: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Agent]:
    from harness.kubeproxy.identity import kube_proxy_kubeconfig
    from harness.nodes.config import AgentConfig, CniSettings, NodeEntry
    from harness.nodes.spec import NodeSpec

    d = tmp_path_factory.mktemp("agent")
    kc = ekswin_cluster.issue_client_kubeconfig(
        f"system:node:{NODE}", ["system:nodes"], d / f"{NODE}.kubeconfig"
    )
    kp = kube_proxy_kubeconfig(ekswin_cluster, d / "kube-proxy.kubeconfig")
    cfg = AgentConfig(
        nodes=(
            NodeEntry(
                NodeSpec(
                    name=NODE,
                    instance_type="m5.large",
                    subnet_id=vpc["subnet"],
                    windows_build="10.0.20348",
                ),
                str(kc),
            ),
        ),
        hns_target=fake_hns_target,
        ec2_endpoint=fake_ec2_url,
        kube_proxy_kubeconfig=str(kp),
        kube_proxy={"sync_period_s": 2, "min_sync_period_s": 0.2},
        cni=CniSettings(annotation_timeout_s=1, service_cidr="10.96.0.0/16"),
        status_file=str(d / "status.json"),
        timing_profile={**_fast(), "name": "test", "lease_renew_s": 1.0},
    )
    a = Agent(cfg.write(d / "agent.json"), d / "agent.log")
    assert a.listening == f"listening on unix://{d / 'cni.sock'}" or a.first_line != "ready 1 nodes"
    if a.first_line != "ready 1 nodes":
        a.stop()
        pytest.fail(f"agent did not start: {a.first_line!r}\n{a.log.read_text()[-3000:]}")
    try:
        yield a
    finally:
        a.stop()


def _fast() -> dict[str, Any]:
    from harness.spec.timing import PROFILES

    return PROFILES["fast"].kubelet_profile()


@pytest.fixture(scope="module")
def core(ekswin_cluster: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(ekswin_cluster.api)


def _pod(name: str, annotation: str | None = None, labels: dict[str, str] | None = None) -> dict:
    return pod_manifest(
        name,
        node=NODE,
        container="app",
        image="mcr.microsoft.com/pause:3.9",
        labels=labels or {"app": name},
        annotations={ANNOTATION: annotation} if annotation else None,
        grace_s=2,
    )


def _wait_removed(core: Any, wait_for: Callable[..., Any], name: str) -> None:
    """Until the kubelet has torn the deleted pod down and the API server dropped it."""

    def gone() -> bool:
        return all(p.metadata.name != name for p in core.list_namespaced_pod("default").items)

    wait_for(gone, 30, f"pod {name} removed by the kubelet")


def _ip_in_subnet(core: Any, offset: int) -> str:
    node = core.read_node(NODE)
    ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    import ipaddress

    return str(ipaddress.ip_network(ip + "/19", strict=False).network_address + 200 + offset)


def test_node_registers_like_an_eks_windows_node(
    agent: Agent, core: Any, fake_ec2_url: str, wait_for: Callable[..., Any]
) -> None:
    from harness.nodes.ec2 import ec2_client

    node = core.read_node(NODE)
    labels = node.metadata.labels
    assert labels["kubernetes.io/os"] == "windows"
    assert labels["node.kubernetes.io/windows-build"] == "10.0.20348"
    assert labels["node.kubernetes.io/instance-type"] == "m5.large"
    ec2 = ec2_client(fake_ec2_url, "us-west-2")
    inst = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [NODE]}])["Reservations"][
        0
    ]["Instances"][0]
    assert node.spec.provider_id == f"aws:///us-west-2a/{inst['InstanceId']}"
    internal = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    assert internal == inst["PrivateIpAddress"]
    assert node.status.capacity["cpu"] == "2" and node.status.capacity["pods"] == "110"
    assert node.status.node_info.operating_system == "windows"
    assert not node.spec.taints

    from kubernetes import client

    coord = client.CoordinationV1Api(core.api_client)
    first = coord.read_namespaced_lease(NODE, "kube-node-lease").spec.renew_time
    wait_for(
        lambda: coord.read_namespaced_lease(NODE, "kube-node-lease").spec.renew_time > first,
        10,
        "lease renewal",
    )


def test_extended_capacity_is_copied_to_allocatable(
    agent: Agent, core: Any, wait_for: Callable[..., Any]
) -> None:
    core.patch_node_status(NODE, {"status": {"capacity": {ANNOTATION: "9"}}})
    wait_for(
        lambda: (core.read_node(NODE).status.allocatable or {}).get(ANNOTATION) == "9",
        20,
        "allocatable copy",
    )
    # cpu/memory allocatable keep their reservations.
    node = core.read_node(NODE)
    assert node.status.allocatable["memory"] != node.status.capacity["memory"]


def test_pod_runs_with_annotated_ip_and_is_deleted_with_del(
    agent: Agent, core: Any, fake_hns_target: str, wait_for: Callable[..., Any]
) -> None:
    from harness.hns import NodeHns

    ip = _ip_in_subnet(core, 1)
    core.create_namespaced_pod("default", _pod("agent-ok", f"{ip}/19"))

    def running() -> Any:
        p = core.read_namespaced_pod("agent-ok", "default")
        return p if p.status.phase == "Running" else None

    pod = wait_for(running, 30, "pod Running")
    assert pod.status.pod_ip == ip and pod.status.pod_ips[0].ip == ip
    cs = pod.status.container_statuses[0]
    assert cs.ready and cs.started and cs.container_id.startswith("containerd://")
    assert cs.state.running.started_at is not None
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    with NodeHns(fake_hns_target, NODE) as hns:
        found = hns.find_endpoint_by_ip(ip)
        assert found is not None and found[0].name.startswith("cid-")
        assert found[1] and found[0].id in hns.namespace_endpoints(found[1])

    core.delete_namespaced_pod("agent-ok", "default")
    _wait_removed(core, wait_for, "agent-ok")
    with NodeHns(fake_hns_target, NODE) as hns:
        assert hns.find_endpoint_by_ip(ip) is None
    # Default mode: the kubelet exec'd ekswin-cni, which handed ADD and DEL to the agent.
    status_file = agent.log.with_name("status.json")

    def served() -> Any:
        cni = json.loads(status_file.read_text()).get("cni", {}) if status_file.exists() else {}
        return cni if cni.get("served_over_socket", 0) >= 2 else None

    cni = wait_for(served, 10, "status file counting the socket calls")
    assert cni["mode"] == "exec" and cni["calls"] >= 2


def test_host_network_pod_runs_on_the_node_ip_without_cni(
    agent: Agent, core: Any, fake_hns_target: str, wait_for: Callable[..., Any]
) -> None:
    """A hostNetwork pod needs no IP annotation: the kubelet gives it the node's network
    (no HNS namespace, no CNI call) and its pod IP is the node's InternalIP."""
    from harness.hns import NodeHns

    with NodeHns(fake_hns_target, NODE) as hns:
        namespaces_before = len(hns.list_namespaces())
        endpoints_before = hns.count_endpoints()
    pod = _pod("agent-hostnet")
    pod["spec"]["hostNetwork"] = True
    core.create_namespaced_pod("default", pod)

    def running() -> Any:
        p = core.read_namespaced_pod("agent-hostnet", "default")
        return p if p.status.phase == "Running" else None

    got = wait_for(running, 30, "host-network pod Running")
    node = core.read_node(NODE)
    internal = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    assert got.status.pod_ip == internal and got.status.host_ip == internal
    with NodeHns(fake_hns_target, NODE) as hns:
        assert len(hns.list_namespaces()) == namespaces_before
        assert hns.count_endpoints() == endpoints_before
    core.delete_namespaced_pod("agent-hostnet", "default")
    _wait_removed(core, wait_for, "agent-hostnet")


def test_missing_annotation_gives_event_then_retry_succeeds(
    agent: Agent, core: Any, wait_for: Callable[..., Any]
) -> None:
    core.create_namespaced_pod("default", _pod("agent-late"))

    def event() -> Any:
        evs = core.list_namespaced_event(
            "default", field_selector="involvedObject.name=agent-late,reason=FailedCreatePodSandBox"
        )
        return evs.items[0] if evs.items else None

    ev = wait_for(event, 30, "FailedCreatePodSandBox")
    assert ev.type == "Warning" and ev.source.component == "kubelet" and ev.source.host == NODE
    assert (
        'plugin type="ekswin-cni" name="vpc" failed (add): failed to parse Kubernetes args: '
        f"failed to get pod IP address agent-late: pod agent-late does not have label "
        f"{ANNOTATION}" in ev.message
    )
    pod = core.read_namespaced_pod("agent-late", "default")
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    ip = _ip_in_subnet(core, 2)
    core.patch_namespaced_pod(
        "agent-late", "default", {"metadata": {"annotations": {ANNOTATION: f"{ip}/19"}}}
    )
    wait_for(
        lambda: core.read_namespaced_pod("agent-late", "default").status.pod_ip == ip,
        30,
        "Running after the retry",
    )
    core.delete_namespaced_pod("agent-late", "default")


def test_kube_proxy_programs_cluster_ip_load_balancers(
    agent: Agent, core: Any, fake_hns_target: str, wait_for: Callable[..., Any]
) -> None:
    from harness.hns import NodeHns

    ip = _ip_in_subnet(core, 3)
    core.create_namespaced_pod("default", _pod("agent-be", f"{ip}/19", {"app": "agent-be"}))
    wait_for(
        lambda: core.read_namespaced_pod("agent-be", "default").status.phase == "Running",
        30,
        "backend Running",
    )
    svc = core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "agent-svc"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "agent-be"},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "agent-empty"},
            "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
        },
    )
    with NodeHns(fake_hns_target, NODE) as hns:
        lbs = wait_for(
            lambda: [
                lb
                for lb in hns.list_load_balancers()
                if lb.frontend_vip in (svc.spec.cluster_ip, "")
            ],
            30,
            "LBs for the NodePort service",
        )
        wait_for(
            lambda: (
                len(
                    [
                        lb
                        for lb in hns.list_load_balancers()
                        if lb.frontend_vip in (svc.spec.cluster_ip, "")
                    ]
                )
                == 2
            ),
            30,
            "ClusterIP + NodePort LBs",
        )
        lbs = [
            lb for lb in hns.list_load_balancers() if lb.frontend_vip in (svc.spec.cluster_ip, "")
        ]
        ports = sorted(lb.external_port for lb in lbs)
        assert ports == sorted([80, svc.spec.ports[0].node_port])
        assert all(lb.internal_port == 8080 and not lb.dsr for lb in lbs)
        backend = hns.find_endpoint_by_ip(ip)
        assert backend is not None and all(lb.backends == (backend[0].id,) for lb in lbs)
        empty = core.read_namespaced_service("agent-empty", "default").spec.cluster_ip
        assert not [lb for lb in hns.list_load_balancers() if lb.frontend_vip == empty]
    core.delete_namespaced_service("agent-svc", "default")
    with NodeHns(fake_hns_target, NODE) as hns:
        wait_for(
            lambda: (
                not [
                    lb for lb in hns.list_load_balancers() if lb.frontend_vip == svc.spec.cluster_ip
                ]
            ),
            30,
            "LB removed",
        )
    core.delete_namespaced_pod("agent-be", "default")
    core.delete_namespaced_service("agent-empty", "default")


def test_restarted_agent_adopts_running_pods(
    agent: Agent, core: Any, fake_hns_target: str, wait_for: Callable[..., Any]
) -> None:
    from harness.hns import NodeHns

    ip = _ip_in_subnet(core, 4)
    core.create_namespaced_pod("default", _pod("agent-keep", f"{ip}/19"))
    wait_for(
        lambda: core.read_namespaced_pod("agent-keep", "default").status.phase == "Running",
        30,
        "pod Running",
    )
    agent.stop()
    second = Agent(agent.config, agent.log)
    try:
        assert second.first_line == "ready 1 nodes", second.log.read_text()[-2000:]
        pod = core.read_namespaced_pod("agent-keep", "default")
        assert pod.status.phase == "Running" and pod.status.pod_ip == ip
        # The adopted pod's sandbox is torn down on delete (DEL finds its endpoint).
        core.delete_namespaced_pod("agent-keep", "default")
        _wait_removed(core, wait_for, "agent-keep")
        with NodeHns(fake_hns_target, NODE) as hns:
            assert hns.find_endpoint_by_ip(ip) is None
    finally:
        agent.proc, agent.logf = second.proc, second.logf  # the fixture stops the live one


def test_stopped_agent_lets_the_node_go_not_ready(
    agent: Agent, core: Any, wait_for: Callable[..., Any]
) -> None:
    def ready_status() -> str:
        node = core.read_node(NODE)
        return next(c.status for c in node.status.conditions if c.type == "Ready")

    assert ready_status() == "True"
    agent.stop()
    # The fixture's controller-manager runs with an 8 s node-monitor grace period.
    wait_for(lambda: ready_status() == "Unknown", 60, "node lifecycle controller: NotReady")
