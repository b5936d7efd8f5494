"""The local backend against the real control plane: API, scheduler, teardown."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
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


def _etcd_range(url: str, ctx: Any) -> bytes:
    """etcd v3 JSON gateway: the keys of every Secret (what an attacker would list)."""

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    body = json.dumps(
        {
            "key": b64("/registry/secrets/"),
            "range_end": b64("/registry/secrets0"),
            "keys_only": True,
        }
    ).encode()
    req = urllib.request.Request(f"{url}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
        return bytes(resp.read())


def test_etcd_answers_only_the_api_servers_client_certificate(
    ekswin_cluster: LocalCluster,
) -> None:
    info = ekswin_cluster.info
    assert info is not None and info.etcd_url.startswith("https://127.0.0.1:")
    # The API server's own certificate reads Secrets' keys (the positive control) ...
    listed = json.loads(_etcd_range(info.etcd_url, ekswin_cluster.etcd_client_context()))
    keys = [base64.b64decode(kv["key"]) for kv in listed["kvs"]]
    assert keys and all(k.startswith(b"/registry/secrets/") for k in keys)
    # ... a client that trusts the CA but has no certificate is refused in the handshake,
    no_cert = ssl.create_default_context(cafile=str(ekswin_cluster.ca_file))
    with pytest.raises(OSError):
        _etcd_range(info.etcd_url, no_cert)
    # ... and so is plain HTTP on the same port.
    with pytest.raises(OSError):
        _etcd_range(info.etcd_url.replace("https://", "http://"), None)


def _mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_run_dir_and_secrets_are_owner_only(ekswin_cluster: LocalCluster, tmp_path: Path) -> None:
    run = ekswin_cluster.run_dir
    assert _mode(run) == 0o700 and _mode(run / "pki") == 0o700
    sa = ekswin_cluster.service_account_kubeconfig("kube-system", "t-modes", tmp_path / "m.cfg")
    secrets = [*sorted((run / "pki").glob("*.key")), run / "kubeconfig", sa, tmp_path / "m.token"]
    secrets += sorted((run / "components").glob("*.kubeconfig"))
    assert len(secrets) >= 9
    assert {str(p): _mode(p) for p in secrets} == {str(p): 0o600 for p in secrets}


def test_service_account_token_file_is_refreshed_and_clients_follow(
    ekswin_cluster: LocalCluster, tmp_path: Path
) -> None:
    """The kubeconfig's exec plugin reads the token file the cluster keeps fresh: the
    kubernetes client (as the controller builds it) and harness.kube both authenticate,
    and a refresh writes a new, working TokenRequest token owner-only."""
    from kubernetes import config as kconfig

    from harness.kube.api import ApiError
    from harness.kube.rest import RestClient

    path = ekswin_cluster.service_account_kubeconfig("kube-system", "t-refresh", tmp_path / "r.cfg")
    token_file = tmp_path / "r.token"
    first = token_file.read_text()

    def discovery(token: str | None) -> int:
        req = urllib.request.Request(f"{ekswin_cluster.server}/apis")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        ctx = ssl.create_default_context(cafile=str(ekswin_cluster.ca_file))  # no client cert
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return e.code

    assert discovery(None) == 403  # anonymous may not list API groups: the check means it
    assert discovery(first) == 200
    api = kconfig.new_client_from_config(config_file=str(path))
    try:
        assert api.call_api("/apis", "GET", auth_settings=["BearerToken"], _preload_content=False)
    finally:
        api.close()
    rest = RestClient(str(path))
    assert "groups" in rest.get("/apis")
    with pytest.raises(ApiError) as err:
        rest.get("/api/v1/secrets")
    assert "system:serviceaccount:kube-system:t-refresh" in str(err.value)

    # A refresh replaces the file (a new inode: renamed over, never rewritten in place).
    # Two TokenRequests in the same second may give the same token (no jti in 1.20).
    first_issue = ekswin_cluster.tokens.current(token_file)
    inode = os.stat(token_file).st_ino
    ekswin_cluster.tokens.refresh_now()
    wait_until(
        lambda: ekswin_cluster.tokens.current(token_file).issued_at > first_issue.issued_at,
        20,
        "the token refreshed",
    )
    issued = ekswin_cluster.tokens.current(token_file)
    assert os.stat(token_file).st_ino != inode
    assert token_file.read_text() == issued.token and discovery(issued.token) == 200
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert issued.issued_at < issued.refresh_at < issued.expires_at
