"""The `existing` backend end to end, without Docker: `ekswin up --bare` starts a plain
local cluster, which the tests then treat as someone else's cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness.backends.inventory import difference, inventory
from harness.identity import api_client
from harness.testing import WINDOWS_IMAGE
from harness.waiting import WaitTimeout, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EKSWIN = [sys.executable, "-m", "harness.cli"]


def ekswin(args: list[str], env: dict[str, str], timeout: float = 180) -> Any:
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=timeout)


class Foreign:
    """The bare cluster: its kubeconfig, an admin client and the CLI environment."""

    def __init__(self, env: dict[str, str], run_dir: Path) -> None:
        self.env = env
        self.kubeconfig = run_dir / "kubeconfig"
        self.api = api_client(self.kubeconfig)
        self.core = client.CoreV1Api(self.api)

    def up(self, name: str, *extra: str) -> Any:
        return ekswin(
            ["up", "--backend", "existing", "--kubeconfig", str(self.kubeconfig), "--name", name,
             "--no-merge", "--timing", "fast", *extra],
            self.env,
        )  # fmt: skip


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreign]:
    base = tmp_path_factory.mktemp("foreign")
    env = dict(os.environ)
    env["EKSWIN_STATE_DIR"] = str(base / "state")
    env["KUBECONFIG"] = str(base / "kube" / "config")
    for var in ("EKSWIN_BACKEND", "EKSWIN_KUBECONFIG", "EKSWIN_WEBHOOK_HOST"):
        env.pop(var, None)
    run_dir = base / "state" / "foreign"
    r = ekswin(["up", "--bare", "--detach", "--no-merge", "--name", "foreign"], env)
    try:
        assert r.returncode == 0, r.stderr
        assert "Starting fake EC2" not in r.stderr  # nothing of the pipeline
        f = Foreign(env, run_dir)
        yield f
        f.api.close()
    finally:
        ekswin(["down", "--name", "foreign"], env)


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "windows"},
                    "containers": [{"name": "c", "image": WINDOWS_IMAGE}],
                },
            },
        },
    }


def test_bare_cluster_has_nothing_of_the_pipeline(foreign: Foreign) -> None:
    assert foreign.core.list_node().items == []
    cms = {c.metadata.name for c in foreign.core.list_namespaced_config_map("kube-system").items}
    assert "amazon-vpc-cni" not in cms
    adm = client.AdmissionregistrationV1Api(foreign.api)
    assert adm.list_mutating_webhook_configuration().items == []


def test_up_run_status_down_leaves_the_cluster_as_it_was(foreign: Foreign) -> None:
    before = inventory(foreign.api)
    # 127.0.0.2: the webhook is reached through the relay on that address only, with a
    # serving certificate for it.
    r = foreign.up("guest", "--windows-nodes", "1", "--detach", "--webhook-host", "127.0.0.2")
    try:
        assert r.returncode == 0, r.stderr
        assert "https://127.0.0.2:" in r.stdout  # the webhook URL the API server calls
        node = foreign.core.read_node("win-0")
        assert node.metadata.labels["kubernetes.io/os"] == "windows"
        apps = client.AppsV1Api(foreign.api)
        apps.create_namespaced_deployment("default", _deployment("web", 2))

        def running() -> list[Any]:
            pods = foreign.core.list_namespaced_pod("default", label_selector="app=web").items
            ok = [p for p in pods if p.status.phase == "Running" and p.status.pod_ip]
            return ok if len(ok) == 2 else []

        pods = wait_until(running, 90, "2 Windows pods Running")
        for p in pods:
            assert p.spec.node_name == "win-0"
            # The webhook (through the relay) added the resource, the controller the IP.
            limits = p.spec.containers[0].resources.limits or {}
            assert limits.get("vpc.amazonaws.com/PrivateIPv4Address") == "1"
            assert "vpc.amazonaws.com/PrivateIPv4Address" in (p.metadata.annotations or {})
        st = ekswin(["status", "--name", "guest", "--json"], foreign.env)
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        assert status["running"] is True
        assert [n["name"] for n in status["nodes"]] == ["win-0"]
        assert status["nodes"][0]["assigned_ips"] == 2
        assert status["invariants"]["ok"] is True, status["invariants"]
        apps.delete_namespaced_deployment("web", "default")
        wait_until(
            lambda: not foreign.core.list_namespaced_pod("default", label_selector="app=web").items,
            60,
            "the Deployment's pods gone",
        )
    finally:
        down = ekswin(["down", "--name", "guest"], foreign.env)
    assert down.returncode == 0, down.stderr

    last: dict[str, Any] = {}

    def as_before() -> bool:
        last.update(difference(before, inventory(foreign.api)))
        return not any(last.values())

    try:
        wait_until(as_before, 60, "the foreign cluster as it was before `up`")
    except WaitTimeout:
        pytest.fail(f"`down` left the cluster changed: {last}")


def test_refuses_objects_it_does_not_own(foreign: Foreign) -> None:
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="amazon-vpc-cni", namespace="kube-system"),
        data={"enable-windows-ipam": "true"},
    )
    foreign.core.create_namespaced_config_map("kube-system", cm)
    try:
        before = inventory(foreign.api)
        r = foreign.up("intruder", "--windows-nodes", "1")
        assert r.returncode == 2, r.stderr
        assert "ConfigMap kube-system/amazon-vpc-cni (not created by ekswin)" in r.stderr
        assert "one environment runs per cluster" in r.stderr
        assert "Traceback" not in r.stderr
        assert not any(difference(before, inventory(foreign.api)).values())
    finally:
        foreign.core.delete_namespaced_config_map("amazon-vpc-cni", "kube-system")


def test_refuses_when_the_api_server_cannot_reach_the_webhook_host(foreign: Foreign) -> None:
    # 127.255.255.255 is the loopback network's broadcast address: this host can listen
    # on it, but no TCP connection to it succeeds (connect: network is unreachable).
    before = inventory(foreign.api)
    r = foreign.up("unreachable", "--windows-nodes", "1", "--webhook-host", "127.255.255.255")
    assert r.returncode == 2, r.stderr
    assert "cannot call a webhook served by this host at https://127.255.255.255:" in r.stderr
    assert "failed calling webhook" in r.stderr  # the API server's own words
    assert "--webhook-host HOST" in r.stderr
    assert not any(difference(before, inventory(foreign.api)).values())


def test_refuses_a_webhook_host_not_of_this_host(foreign: Foreign) -> None:
    r = foreign.up("elsewhere", "--windows-nodes", "1", "--webhook-host", "192.0.2.1")
    assert r.returncode == 2, r.stderr
    assert "cannot listen on webhook host '192.0.2.1'" in r.stderr


def test_refuses_an_unreachable_cluster(foreign: Foreign, tmp_path: Path) -> None:
    import yaml

    from harness.netutil import free_port

    config = yaml.safe_load(foreign.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    r = ekswin(
        ["up", "--backend", "existing", "--kubeconfig", str(dead), "--name", "dead",
         "--no-merge", "--windows-nodes", "1"],
        foreign.env,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "cannot use the cluster at https://127.0.0.1:" in r.stderr
    assert "Traceback" not in r.stderr
