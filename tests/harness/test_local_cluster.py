"""The local backend against the real control plane: API, scheduler, teardown."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from harness.backends.local import LocalCluster
from harness.manifests import ensure_namespace
from harness.process import _group_alive
from harness.waiting import wait_until

pytestmark = pytest.mark.cluster


def _windows_node(name: str, ips: int) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name, labels={"kubernetes.io/os": "windows", "kubernetes.io/hostname": name}
        ),
    )


def test_namespace_node_pod_scheduled(ekswin_cluster: LocalCluster) -> None:
    api = ekswin_cluster.api
    core = client.CoreV1Api(api)
    ensure_namespace(api, "t-sched")
    core.create_node(_windows_node("t-win-0", 1))
    status: dict[str, Any] = {
        "capacity": {
            "cpu": "4",
            "memory": "16Gi",
            "pods": "110",
            "vpc.amazonaws.com/PrivateIPv4Address": "1",
        },
        "allocatable": {
            "cpu": "4",
            "memory": "16Gi",
            "pods": "110",
            "vpc.amazonaws.com/PrivateIPv4Address": "1",
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "ready",
                "lastHeartbeatTime": None,
            }
        ],
    }
    status["conditions"][0]["lastHeartbeatTime"] = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
    )
    core.patch_node_status("t-win-0", {"status": status})

    def pod(name: str) -> client.V1Pod:
        res = {"vpc.amazonaws.com/PrivateIPv4Address": "1"}
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                node_selector={"kubernetes.io/os": "windows", "kubernetes.io/hostname": "t-win-0"},
                tolerations=[client.V1Toleration(operator="Exists")],
                containers=[
                    client.V1Container(
                        name="c",
                        image="mcr.microsoft.com/windows/servercore:ltsc2019",
                        resources=client.V1ResourceRequirements(requests=res, limits=res),
                    )
                ],
            ),
        )

    core.create_namespaced_pod("t-sched", pod("a"))
    core.create_namespaced_pod("t-sched", pod("b"))
    bound = wait_until(
        lambda: core.read_namespaced_pod("a", "t-sched").spec.node_name, what="pod a bound"
    )
    assert bound == "t-win-0"

    def unschedulable_message() -> str | None:
        p = core.read_namespaced_pod("b", "t-sched")
        for c in p.status.conditions or []:
            if c.type == "PodScheduled" and c.reason == "Unschedulable":
                return str(c.message)
        return None

    msg = wait_until(unschedulable_message, what="pod b Unschedulable")
    assert "Insufficient vpc.amazonaws.com/PrivateIPv4Address" in msg
    assert core.read_namespaced_pod("b", "t-sched").spec.node_name is None


def test_component_identities_are_not_admin(ekswin_cluster: LocalCluster, tmp_path: Path) -> None:
    path = ekswin_cluster.service_account_kubeconfig("kube-system", "t-sa", tmp_path / "sa")
    from harness.identity import api_client

    sa = api_client(path)
    try:
        authz = client.AuthorizationV1Api(sa)
        review = authz.create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(verb="delete", resource="nodes")
                )
            )
        )
        assert review.status.allowed is False
    finally:
        sa.close()
    node_cfg = ekswin_cluster.issue_client_kubeconfig(
        "system:node:t-n1", ["system:nodes"], tmp_path / "node"
    )
    node = api_client(node_cfg)
    try:
        # The Node authorizer lets a node create its own Node object.
        client.CoreV1Api(node).create_node(_windows_node("t-n1", 1))
    finally:
        node.close()


def test_teardown_leaves_no_process(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "run", name="teardown")
    cluster.start()
    pids = [p.pid for p in cluster.supervisor.processes]
    assert len(pids) == 4 and all(pids)
    etcd_data = Path(cluster.info.etcd_data)  # type: ignore[union-attr]
    assert etcd_data.exists()
    cluster.stop()
    assert not [pid for pid in pids if pid and _group_alive(pid)]
    assert not etcd_data.exists()
    assert (tmp_path / "run" / "logs" / "kube-apiserver.log").exists()
    assert os.path.exists(tmp_path / "run" / "kubeconfig")


def test_failed_start_names_component_and_stops_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A control-plane binary that exits at once: the error names it, nothing lingers."""
    from harness.binaries import resolve_all
    from harness.process import ComponentFailed

    real = resolve_all()
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, r in real.items():
        (fake_bin / name).symlink_to(r.path)
    (fake_bin / "kube-apiserver").unlink()
    broken = fake_bin / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'error: bad flag --broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("EKSWIN_K8S_BIN", str(fake_bin))
    cluster = LocalCluster(tmp_path / "run", name="broken")
    with pytest.raises(ComponentFailed) as err:
        cluster.start()
    assert err.value.name == "kube-apiserver"
    assert "bad flag --broken" in err.value.log_tail
    assert "exited with code 3" in str(err.value)
    assert not cluster.supervisor.processes
    assert not (tmp_path / "run" / "pids.json").read_text().strip("{}\n ")


def test_orphaned_etcd_dirs_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """tmpfs etcd data left by a killed harness holds memory: the next start removes it."""
    import subprocess
    import sys

    from harness.backends.local import _remove_orphaned_etcd_dirs

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    orphan = tmp_path / f"ekswin-etcd-my-env-{dead}-abcd1234"
    mine = tmp_path / f"ekswin-etcd-my-env-{os.getpid()}-efgh5678"
    unrelated = tmp_path / "ekswin-etcd-legacy-zz"
    for d in (orphan, mine, unrelated):
        (d / "member").mkdir(parents=True)
    _remove_orphaned_etcd_dirs(tmp_path)
    assert not orphan.exists()
    assert mine.exists() and unrelated.exists()
