"""SIGKILL of a component ends, without a hand restart, with every pod Running and the
invariants holding; `ekswin status` reports the restart (whole stack)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from harness.testing import pod_manifest
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# In the order killed; fake_hns last, its recovery re-creates every endpoint.
KILLED = ("controller", "kube-apiserver", "etcd", "node-agent", "fake_hns")


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any) -> Any:
    return ekswin_env_factory(
        "supervised",
        windows_nodes=1,
        configmap={"enable-windows-ipam": "true"},
        timing="fast",
    )


def _core(env: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(env.cluster.api)


def _pods(env: Any) -> list[Any]:
    return list(_core(env).list_namespaced_pod("default", label_selector="app=supervised").items)


def _all_running(env: Any) -> bool:
    pods = _pods(env)
    return bool(pods) and all(p.status.phase == "Running" and p.status.pod_ip for p in pods)


def _invariants_hold(env: Any) -> bool:
    from harness.invariants import check
    from harness.observe import observe_run_dir

    try:
        return not check(observe_run_dir(env.run_dir))
    except Exception:  # a component still coming back
        return False


def _add_pod(env: Any, index: int) -> None:
    body = pod_manifest(f"sv-{index}", labels={"app": "supervised"})
    wait_until(lambda: _create(env, body), 90, f"pod sv-{index} created (API and webhook up)")


def _create(env: Any, body: dict[str, Any]) -> bool:
    try:
        _core(env).create_namespaced_pod("default", body)
        return True
    except Exception as e:  # 409: an earlier try got through
        return getattr(e, "status", None) == 409


@pytest.mark.parametrize("component", KILLED)
def test_sigkill_is_survived_without_a_hand_restart(env: Any, component: str) -> None:
    from harness.cli import gather_status

    sv = env.supervision
    units = sv.of(component)
    assert units, component
    before = {u.name: u.restarts for u in units}
    index = KILLED.index(component)
    if not _pods(env):
        _add_pod(env, 100)
        wait_until(lambda: _all_running(env), 120, "the first pod Running")
    victim = units[0].target.process
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(
        lambda: units[0].restarts > before[units[0].name] and units[0].state == "running",
        180,
        f"{component} restarted by the supervisor",
    )
    assert units[0].last_exit == "killed by signal SIGKILL"
    # An API server outage also costs the controller its Lease (it exits, and is restarted
    # with back-off): a pod created before its webhook is back would be admitted without
    # the IP request (failurePolicy Ignore) and never run. Wait for every component.
    wait_until(
        lambda: all(u.state == "running" for u in sv.units.values()),
        180,
        "every component running again",
    )
    _add_pod(env, index)  # the cluster works again: a new pod gets an IP and runs
    wait_until(lambda: _all_running(env), 180, "every pod Running")
    wait_until(lambda: _invariants_hold(env), 120, "the invariants hold")
    status = wait_until(
        lambda: (s := gather_status(env.run_dir, env.name))["running"] and s, 30, "status"
    )
    assert status["supervision"][component]["restarts"] >= 1, status["supervision"]
    assert status["supervision"][component]["last_exit"] == "killed by signal SIGKILL"
    assert not status["down"]
    proc = status["components"][units[0].name]
    assert proc["alive"] and proc["state"] == "running"
    if component == "controller":  # env.json has its new URLs: introspection answers
        assert status["controller"] is not None


def test_an_agent_restart_collects_the_sandboxes_of_pods_deleted_meanwhile(env: Any) -> None:
    from harness.hns import NodeHns

    if not _pods(env):
        _add_pod(env, 200)
    _add_pod(env, 201)
    wait_until(lambda: _all_running(env), 120, "pods Running")
    node = env.pipeline.nodes[0]["name"]
    hns = NodeHns(env.pipeline.hns_target, node)
    try:
        (agent,) = env.supervision.of("node-agent")
        with env.supervision.lock:  # as a scenario `stop` step: not restarted meanwhile
            agent.target.stop()
        wait_until(lambda: agent.state == "stopped", 10, "the agent stopped")
        # Deleted while no kubelet runs: nobody calls CNI DEL for it.
        _core(env).delete_namespaced_pod("sv-201", "default", grace_period_seconds=0)
        wait_until(lambda: len(_pods(env)) == len(hns.list_namespaces()) - 1, 30, "pod gone")
        with env.supervision.lock:
            env.pipeline.restart_agent(agent.target)

        def collected() -> bool:
            ips = {p.status.pod_ip for p in _pods(env)}
            local = [e for e in hns.list_endpoints() if not e.remote]
            spaces = hns.list_namespaces()
            return {e.ip for e in local} == ips and len(spaces) == len(ips)

        wait_until(collected, 60, "only the running pods' endpoints and namespaces left")
        wait_until(lambda: _invariants_hold(env), 60, "the invariants hold")
    finally:
        hns.close()


def test_status_exits_1_while_one_is_down_and_restart_brings_it_back(
    env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from harness.cli import main

    where = ["--name", env.name, "--run-dir", str(env.run_dir)]
    (sched,) = env.supervision.of("kube-scheduler")
    with env.supervision.lock:  # a requested stop: not restarted by the supervisor
        sched.target.stop()
    wait_until(lambda: sched.state == "stopped", 10, "the scheduler stopped")
    capsys.readouterr()
    wait_until(lambda: main(["status", *where, "--json"]) == 1, 10, "status exit 1")
    status = json.loads(capsys.readouterr().out)
    assert status["down"] == ["kube-scheduler"]
    assert status["components"]["kube-scheduler"]["state"] == "stopped"
    assert main(["restart", "kube-scheduler", *where]) == 0
    assert "kube-scheduler restarted" in capsys.readouterr().out
    assert sched.state == "running" and sched.target.alive()
    from harness.process import PidRegistry

    # Recorded where `down` reaps from, like every process the supervisor restarted.
    assert PidRegistry(env.run_dir).entries()["kube-scheduler"]["pid"] == sched.target.process.pid
    assert main(["status", *where, "--json"]) == 0
    capsys.readouterr()
    assert main(["status", *where]) == 0
    table = capsys.readouterr().out
    assert "restarts" in table and "last exit" in table and "kube-scheduler" in table
    with pytest.raises(SystemExit) as bad:  # argparse: a name outside the table
        main(["restart", "kube-proxy", *where])
    assert bad.value.code == 2


def test_pods_admitted_while_the_webhook_is_down_are_named_by_status(env: Any) -> None:
    """failurePolicy Ignore (as upstream's manifests): a pod created while the controller
    and its webhook are down is admitted without the IP request, never gets an IP, and
    `ekswin status` names it; a pod created once the webhook is back runs."""
    from harness.cli import gather_status

    (unit,) = env.supervision.of("controller")
    with env.supervision.lock:  # a requested stop: not restarted by the supervisor
        unit.target.stop()
    try:
        missed = pod_manifest("missed-0", labels={"app": "missed"})
        wait_until(lambda: _create(env, missed), 60, "pod missed-0 admitted")
    finally:
        with env.supervision.lock:
            env.pipeline.restart_controller(0)
            env.write_state()
    try:
        pod = _core(env).read_namespaced_pod("missed-0", "default")
        assert not any(c.resources and c.resources.limits for c in pod.spec.containers)
        _add_pod(env, 90)
        wait_until(lambda: _all_running(env), 120, "the pod created after the outage Running")
        status = wait_until(
            lambda: (s := gather_status(env.run_dir, env.name))["running"] and s, 30, "status"
        )
        assert status["pods_missed_by_webhook"] == ["default/missed-0"]
        pod = _core(env).read_namespaced_pod("missed-0", "default")
        assert pod.status.phase == "Pending" and not pod.status.pod_ip
        assert "vpc.amazonaws.com/PrivateIPv4Address" not in (pod.metadata.annotations or {})
    finally:
        _core(env).delete_namespaced_pod("missed-0", "default", grace_period_seconds=0)
        _core(env).delete_namespaced_pod("sv-90", "default", grace_period_seconds=0)
