"""`ekswin step`, `ekswin bundle` and `scenario export` against a running environment:
a few steps (one failing expect, one invalid reference), then changes made through the
Kubernetes API as kubectl makes them (the Python client with the admin kubeconfig),
exported, and the export run as a scenario: the same per-node pod counts, capacity
and mode."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scenario.load import load_scenario
from harness.scenario.workload import WINDOWS_IMAGE
from harness.testing import detached_environment, run_ekswin
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

NAME = "stepper"
SPEC = """\
version: 1
timing: fast
configmap: {enable-windows-ipam: "true"}
nodes:
  - {name: win, instance_type: m5.large}
"""
WEB = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "nodeSelector": {"kubernetes.io/os": "windows"},
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "iis", "image": WINDOWS_IMAGE}],
            },
        },
    },
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("step")
    with detached_environment(tmp, NAME, SPEC):
        yield tmp


def _user_api(tmp: Path) -> Any:
    """The user's client: admin kubeconfig, the client's own User-Agent (as kubectl's)."""
    from kubernetes import config

    return config.new_client_from_config(str(tmp / "state" / NAME / "kubeconfig"))


def _per_node_running(api: Any) -> Counter[str]:
    from kubernetes import client

    pods = client.CoreV1Api(api).list_namespaced_pod("default").items
    return Counter(p.spec.node_name for p in pods if p.status.phase == "Running")


def test_steps_user_changes_export_and_replay(running: Path) -> None:
    from kubernetes import client

    tmp = running
    ok = run_ekswin(tmp, "step", "--name", NAME, "create_pods", "name=app", "count=2")
    assert ok.returncode == 0, ok.stderr
    assert "✓ create_pods" in ok.stdout and "settled" in ok.stderr
    held = run_ekswin(tmp, "step", "--name", NAME, "expect", "pods_running=2", "timeout=60")
    assert held.returncode == 0, held.stdout + held.stderr
    failed = run_ekswin(tmp, "step", "--name", NAME, "expect", "pods_running=9", "timeout=2")
    assert failed.returncode == 1 and "✗ expect" in failed.stdout
    # a reference the journal does not know: the group `api` was never created
    bad = run_ekswin(tmp, "step", "--name", NAME, "delete_pods", "name=api")
    assert bad.returncode == 2 and "delete_pods.name: got 'api'" in bad.stderr

    api = _user_api(tmp)
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", WEB)
    wait_until(lambda: _per_node_running(api)["win"] == 4, 120, "the Deployment's 2 pods Running")
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    wait_until(lambda: _per_node_running(api)["win"] == 5, 120, "the third replica Running")
    steps = tmp / "more.yaml"
    steps.write_text("- delete_pods: {name: app, count: 1}\n- expect: {pods_running: 4}\n")
    more = run_ekswin(tmp, "step", "--name", NAME, "-f", str(steps))
    assert more.returncode == 0, more.stdout + more.stderr

    status = json.loads(run_ekswin(tmp, "status", "--name", NAME, "--json").stdout)
    recorded = {
        "pods": dict(_per_node_running(api)),
        "nodes": {n["name"]: (n["mode"], int(n["capacity"])) for n in status["nodes"]},
    }
    api.close()

    out = tmp / "export.yaml"
    ex = run_ekswin(tmp, "scenario", "export", str(out), "--name", NAME)
    assert ex.returncode == 0, ex.stderr
    scenario = load_scenario(out)  # it validates
    kinds = [s.kind for s in scenario.steps if s.kind != "wait"]
    assert kinds == ["create_pods", "expect", "apply", "scale", "apply", "delete_pods", "expect"]
    applied = [s.args["manifest"]["kind"] for s in scenario.steps if s.kind == "apply"]
    assert applied == ["Deployment", "Service"]
    assert any(s.kind == "wait" for s in scenario.steps)

    bundle = tmp / "bundle"
    b = run_ekswin(tmp, "bundle", str(bundle), "--name", NAME)
    assert b.returncode == 0, b.stderr
    in_bundle = yaml.safe_load((bundle / "scenario.yaml").read_text())
    assert [next(iter(s)) for s in in_bundle["steps"]] == [
        next(iter(s)) for s in yaml.safe_load(out.read_text())["steps"]
    ]
    assert json.loads((bundle / "bundle.json").read_text())["bundle_version"] == 1
    run_ekswin(tmp, "down", "--name", NAME)

    rerun = run_ekswin(tmp, "scenario", "run", str(out), "--json", "-", timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = json.loads(rerun.stdout)
    replayed_pods = Counter(p["node"] for p in report["pods"]["items"] if p["phase"] == "Running")
    assert dict(replayed_pods) == recorded["pods"]
    replayed_nodes = {n: (v["mode"], int(v["capacity"])) for n, v in report["nodes"].items()}
    assert replayed_nodes == recorded["nodes"]


def test_env_step_and_report_in_process(ekswin_env_factory: Any) -> None:
    from harness.scenario.session import read_journal
    from harness.spec import SpecError

    env = ekswin_env_factory("inproc", spec=yaml.safe_load(SPEC))
    env.step("create_pods", count=2, name="app")
    env.step({"expect": {"pods_running": 2, "timeout": 60}})
    with pytest.raises(AssertionError, match="pods_running"):
        env.step("expect", pods_running=5, timeout=1)
    with pytest.raises(SpecError, match="unknown key 'bogus'"):
        env.step("create_pods", bogus=1)
    with pytest.raises(SpecError, match="no earlier create_pods made that group"):
        env.step("delete_pods", name="api")
    report = env.report()
    assert report["pods"]["running"] == 2
    assert [s["kind"] for s in report["steps"]] == ["create_pods", "expect", "expect"]
    assert [s["ok"] for s in report["steps"]] == [True, True, False]
    assert report["nodes"]["win"]["assigned_ips"] == 2
    assert [e["ok"] for e in read_journal(env.run_dir)] == [True, True, False]
    diagnosis = env.why("app-0")  # harness.why: nothing broken for a Running pod
    assert diagnosis["pod"] == "default/app-0" and diagnosis["phase"] == "Running"
