"""`ekswin why` on a live environment: one stuck pod per cause, each diagnosed with its
link and evidence through `ekswin why POD --json` and `ekswin why --stuck --json`:
HNS refusing endpoints, kube-proxy load-balancer failures (a Running pod), the scheduler
stopped, the controller stopped, the webhook down at creation, no free IP resource
(unschedulable), ENI slots full after a secondary->PD switch, a fragmented subnet, Windows
IPAM off. `ekswin status --json` shows the LB failures, the mode mismatch, the stuck count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.scenario import workload
from harness.scenario.live import Live
from harness.waiting import wait_until
from harness.why.gather import agent_status

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

IP = "vpc.amazonaws.com/PrivateIPv4Address"
WAIT_S = 90  # deadlines: pod start-ups and CNI retries in the fast profile, under load


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any) -> Any:
    return ekswin_env_factory(
        "why",
        timing="fast",
        vpc={
            "cidr": "10.0.0.0/16",
            "subnets": [
                {"name": "a", "cidr": "10.0.0.0/22"},
                {"name": "b", "cidr": "10.0.8.0/24", "fragment": {"every": 16, "offset": 5}},
            ],
        },
        configmap={"enable-windows-ipam": "true"},
        nodes=[
            {"name": "full", "instance_type": "m5.large", "subnet": "a"},
            {"name": "frag", "instance_type": "m5.large", "subnet": "b"},
            {"name": "hnsbad", "instance_type": "m5.large", "subnet": "a"},
        ],
    )


@pytest.fixture(scope="module")
def live(env: Any) -> Any:
    handle = Live(env)
    yield handle
    handle.close()


def why(env: Any, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["why", *args, "--run-dir", str(env.run_dir), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return dict(json.loads(out.out))


def status(env: Any, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["status", "--run-dir", str(env.run_dir), "--json"])
    return dict(json.loads(capsys.readouterr().out))


def pod(live: Live, group: str, node: str) -> str:
    live.create_pods({"name": group, "count": 1, "node": node})
    return live.pods[group][-1]


def _read(live: Live, name: str) -> Any:
    return live.core.read_namespaced_pod(name, workload.NAMESPACE)


def _events(live: Live, name: str, reason: str) -> bool:
    evs = live.core.list_namespaced_event(
        workload.NAMESPACE, field_selector=f"involvedObject.name={name}"
    ).items
    return any(e.reason == reason for e in evs)


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _details(d: dict[str, Any]) -> str:
    return "\n".join(f"[{e['source']}] {e['detail']}" for e in d["evidence"])


def test_one_stuck_pod_per_cause(env: Any, live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir: Path = env.run_dir
    expected: dict[str, tuple[str, str]] = {}

    # HNS refuses every endpoint on one node.
    live.faults({"hns": {"node": "hnsbad", "method": "CreateEndpoint", "hresult": "0x80070057",
                         "count": 10_000}})  # fmt: skip
    hns_pod = pod(live, "hns", "hnsbad")
    wait_until(lambda: _events(live, hns_pod, "FailedCreatePodSandBox"), WAIT_S, "sandbox fails")
    wait_until(lambda: f"default/{hns_pod}" in agent_status(run_dir)["failing"], 10,
               "the failure in the agent's call log (status file every 2 s)")  # fmt: skip
    d = why(env, capsys, hns_pod)
    assert (d["link"], d["reason"]) == ("hns", "hns_failed"), d
    assert "hcnCreateEndpoint failed in Win32: The parameter is incorrect. (0x57)" in (d["message"])
    text = _details(d)
    assert "[HNS DumpState] pending faults: CreateEndpoint x" in text
    assert "[kubelet events] Warning FailedCreatePodSandBox" in text
    assert "[node agent CNI call log] CNI ADD exit 1" in text
    expected[hns_pod] = ("hns", "hns_failed")

    # A Running pod is fine until kube-proxy cannot build its Services' load balancers:
    # two 64-port blocks on frag's HNS, three ClusterIP Services without DSR.
    web = pod(live, "web", "frag")
    wait_until(lambda: _read(live, web).status.phase == "Running", WAIT_S, "web Running")
    assert why(env, capsys, web)["ok"]
    live.hns_ports({"node": "frag", "dynamic_port_range": [49152, 49279], "port_block_size": 64})
    live.create_services({"name": "svc", "count": 3, "selector": "web"})
    wait_until(lambda: why(env, capsys, web)["link"] == "kube-proxy", WAIT_S, "LB failure seen")
    d = why(env, capsys, web)
    assert d["reason"] == "lb_failures", d
    assert "The specified port already exists. (0x803b0013)" in _details(d)
    nodes = {n["name"]: n for n in status(env, capsys)["nodes"]}
    assert nodes["frag"]["lb_failures"] >= 1 and nodes["full"]["lb_failures"] == 0
    assert "0x803b0013" in nodes["frag"]["lb_failures_recent"][0]["message"]

    # The scheduler is stopped: nothing binds; then the controller is: nothing annotates.
    live.stop("kube-scheduler")
    sched_pod = pod(live, "sched", "frag")
    wait_until(lambda: why(env, capsys, sched_pod)["reason"] == "scheduler_down", 10,
               "the stop in supervision.json")  # fmt: skip
    d = why(env, capsys, sched_pod)
    assert d["link"] == "scheduling" and "kube-scheduler is stopped" in _details(d), d
    live.stop("controller")
    live.start("kube-scheduler")
    wait_until(lambda: bool(_read(live, sched_pod).spec.node_name), WAIT_S, "bound")
    d = why(env, capsys, sched_pod)
    assert (d["link"], d["reason"]) == ("controller", "controller_down"), d
    assert "[controller introspection] does not answer" in _details(d)
    live.start("controller")
    wait_until(lambda: _read(live, sched_pod).status.phase == "Running", WAIT_S, "it recovers")

    # The webhook is down while a pod is created: admitted without the IP resource.
    # (the controller was stopped and started once already: count the lines)
    log = run_dir / "logs" / "supervisor.log"
    line = "{}: controller (controller)".format
    stops, starts = (_text(log).count(line(r)) for r in ("Stopped", "Started"))
    live.stop("controller")
    hook_pod = pod(live, "hook", "frag")
    wait_until(lambda: _text(log).count(line("Stopped")) > stops, 10, "logged")
    live.start("controller")
    wait_until(lambda: _text(log).count(line("Started")) > starts, 10, "logged")
    assert IP not in str(_read(live, hook_pod).spec.containers[0].resources)
    d = why(env, capsys, f"default/{hook_pod}")
    assert (d["link"], d["reason"]) == ("admission", "webhook_down"), d
    text = _details(d)
    assert f"[pod spec] containers[0] has no {IP}" in text
    assert "[supervisor log] controller (the webhook) down from" in text
    expected[hook_pod] = ("admission", "webhook_down")

    # No node has a free IP resource: secondary mode, m5.large holds 9 pods.
    full = [pod(live, "full", "full") for _ in range(9)]
    extra = pod(live, "over", "full")

    def unschedulable() -> bool:
        return any(c.reason == "Unschedulable" for c in _read(live, extra).status.conditions or [])

    wait_until(unschedulable, WAIT_S, "the 10th pod unschedulable")
    d = why(env, capsys, extra)
    assert (d["link"], d["reason"]) == ("scheduling", "unschedulable"), d
    assert f"Insufficient {IP}" in d["message"]
    assert "[pod status] PodScheduled=False Unschedulable" in _details(d)
    live.core.delete_namespaced_pod(extra, workload.NAMESPACE, grace_period_seconds=0)
    wait_until(lambda: all(_read(live, p).status.phase == "Running" for p in full), WAIT_S * 2,
               "9 pods Running on full")  # fmt: skip

    # Switch to prefix delegation with those 9 running: capacity 144, no slot for a /28.
    pd = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
    live.write_configmap(pd)
    wait_until(
        lambda: live.core.read_node("full").status.capacity.get(IP) == "144", WAIT_S, "capacity 144"
    )
    switched = pod(live, "switched", "full")
    frag_pod = pod(live, "frag", "frag")

    def waits(name: str) -> bool:
        return bool(_read(live, name).spec.node_name) and why(env, capsys, name)["link"] == (
            "controller"
        )

    wait_until(lambda: waits(switched) and waits(frag_pod), WAIT_S, "both wait on the controller")
    d = why(env, capsys, switched)
    assert (d["link"], d["reason"]) == ("controller", "eni_full"), d
    st = status(env, capsys)
    full_node = next(n for n in st["nodes"] if n["name"] == "full")
    assert "mode is prefix but the ENI still holds 9 secondary IP(s)" in full_node["mode_mismatch"]
    assert st["stuck"]["count"] >= 1 and st["stuck"]["hint"] == "ekswin why --stuck"
    assert "primary + 9 secondary = 10 of 10, no /28 fits" in d["message"]
    text = _details(d)
    assert "[EC2 DescribeNetworkInterfaces] ENI address slots: primary + 9 secondary" in text
    assert "mode prefix" in text
    expected[switched] = ("controller", "eni_full")

    d = why(env, capsys, frag_pod)
    assert (d["link"], d["reason"]) == ("controller", "no_cidr"), d
    text = _details(d)
    assert "InsufficientCidrBlocks" in text and "in the fake_ec2 request log" in text
    expected[frag_pod] = ("controller", d["reason"])

    # Windows IPAM off: the webhook adds nothing and no node is managed.
    live.write_configmap({"enable-windows-ipam": "false"})
    wait_until(
        lambda: why(env, capsys, switched)["reason"] == "node_not_managed", WAIT_S, "IPAM off"
    )
    off_pod = pod(live, "off", "frag")
    d = why(env, capsys, off_pod)
    assert (d["link"], d["reason"]) == ("controller", "node_not_managed"), d
    assert "[controller introspection] ipam_enabled: False" in _details(d)
    # Annotated before (hns) or missed by the webhook (hook): those links stay the first.
    expected = {k: ("controller", "node_not_managed") if k not in (hook_pod, hns_pod) else v
                for k, v in expected.items()}  # fmt: skip
    expected[off_pod] = ("controller", "node_not_managed")

    # --stuck: each pod above once it is older than the CNI annotation wait (10 s, fast).
    def stuck_links() -> dict[str, tuple[str, str]]:
        got = why(env, capsys, "--stuck")
        assert got["wait_s"] == 10
        return {d["pod"].split("/")[1]: (d["link"], d["reason"]) for d in got["pods"]}

    wait_until(lambda: set(expected) <= set(stuck_links()), WAIT_S, "every cause listed as stuck")
    links = stuck_links()
    for name, want in expected.items():
        assert links[name] == want, (name, links[name])
    assert not set(full) & set(links)  # Running pods are not stuck
