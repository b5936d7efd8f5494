"""Backend choice, options, owned-object ledger, kubeconfig flattening, the webhook relay,
CSR requests and the CLI's backend refusals: everything that needs no cluster."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from harness import kubeconfig as kc
from harness.backends import (
    BackendOptions,
    BackendUnavailable,
    choose,
    csr,
    kind_prerequisites,
    make_backend,
    requested_backend,
)
from harness.backends.existing import ExistingCluster, default_webhook_host
from harness.backends.kind import KindCluster
from harness.backends.local import LocalCluster
from harness.backends.owned import ForeignObjects, Ledger, ObjectRef, owner_labels
from harness.backends.reach import TcpRelay, WebhookUnreachable, serving_sans

EKSWIN = [sys.executable, "-m", "harness.cli"]


def test_backend_precedence_flag_then_env_then_spec() -> None:
    assert requested_backend("kind", "local", {"EKSWIN_BACKEND": "existing"}) == "kind"
    assert requested_backend(None, "local", {"EKSWIN_BACKEND": "existing"}) == "existing"
    assert requested_backend(None, "local", {}) == "local"
    assert requested_backend(None, "", {}) == "auto"


def test_choose_names_the_backends() -> None:
    assert choose("existing") == "existing"
    with pytest.raises(ValueError, match="unknown backend 'minikube': expected one of auto, "):
        choose("minikube")


def test_kind_prerequisites_name_what_is_missing() -> None:
    with pytest.raises(BackendUnavailable) as e:
        kind_prerequisites(docker=lambda: False, which=lambda _: "/usr/bin/kind")
    text = str(e.value)
    assert "a running Docker engine" in text and "kind CLI" not in text
    assert "`--backend local` needs neither Docker nor kind" in text
    with pytest.raises(BackendUnavailable) as e:
        kind_prerequisites(docker=lambda: True, which=lambda _: None)
    text = str(e.value)
    assert "the kind CLI on PATH" in text and "kind.sigs.k8s.io" in text
    assert "Docker engine" not in text
    with pytest.raises(BackendUnavailable, match=r"Docker engine .* and the kind CLI"):
        kind_prerequisites(docker=lambda: False, which=lambda _: None)
    kind_prerequisites(docker=lambda: True, which=lambda _: "/usr/bin/kind")


def test_options_from_env_never_read_kubeconfig_variable() -> None:
    opts = BackendOptions.from_env(
        {"KUBECONFIG": "/k", "EKSWIN_CONTEXT": "c", "EKSWIN_KIND_REUSE": "1"}
    )
    assert opts.kubeconfig is None and opts.context == "c" and opts.reuse
    opts = BackendOptions.from_env({"EKSWIN_KUBECONFIG": "/x", "EKSWIN_WEBHOOK_HOST": "h"})
    assert opts.kubeconfig == Path("/x") and opts.webhook_host == "h" and not opts.keep_cluster


def test_make_backend_types(tmp_path: Path) -> None:
    opts = BackendOptions(kubeconfig=tmp_path / "k", context="c", webhook_host="127.0.0.2")
    assert isinstance(make_backend("local", tmp_path, "a", opts), LocalCluster)
    ex = make_backend("existing", tmp_path, "a", opts)
    assert isinstance(ex, ExistingCluster) and ex.webhook_host == "127.0.0.2"
    kind = make_backend("kind", tmp_path, "a", opts)
    assert isinstance(kind, KindCluster) and kind.context == "kind-ekswin-a"
    with pytest.raises(ValueError, match="choose"):
        make_backend("auto", tmp_path, "a", opts)


# -- owned objects ------------------------------------------------------------------------
def test_ledger_records_in_order_once_and_forgets(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, "e")
    a = ObjectRef("v1", "ConfigMap", "amazon-vpc-cni", "kube-system")
    b = ObjectRef("v1", "Node", "win-0")
    ledger.record(a, b, a)
    ledger.record(b)
    assert ledger.refs() == [a, b] and a in ledger
    assert Ledger(tmp_path, "e").refs() == [a, b]  # persisted
    ledger.forget(a)
    assert ledger.refs() == [b]
    ledger.forget(b)
    assert not (tmp_path / "owned.json").exists()


def test_object_refs_and_the_foreign_message() -> None:
    ref = ObjectRef.of(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "n"}}
    )
    assert str(ref) == "ConfigMap n/x"
    assert str(ObjectRef("v1", "Node", "win-0")) == "Node win-0"
    e = ForeignObjects("dev", [(ref, "not created by ekswin")])
    assert "ConfigMap n/x (not created by ekswin)" in str(e) and "'dev'" in str(e)
    assert owner_labels("dev") == {
        "app.kubernetes.io/managed-by": "ekswin",
        "ekswin.dev/environment": "dev",
    }


# -- kubeconfig ---------------------------------------------------------------------------
def _kubeconfig(tmp_path: Path) -> Path:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(b"CA")
    (tmp_path / "certs" / "user.crt").write_bytes(b"CERT")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "one",
        "clusters": [
            {
                "name": "c1",
                "cluster": {"server": "https://a", "certificate-authority": "certs/ca.crt"},
            },
            {"name": "c2", "cluster": {"server": "https://b"}},
        ],
        "users": [
            {
                "name": "u1",
                "user": {"client-certificate": "certs/user.crt", "client-key-data": "Sw=="},
            },
            {"name": "u2", "user": {"exec": {"command": "aws", "args": ["eks", "get-token"]}}},
        ],
        "contexts": [
            {"name": "one", "context": {"cluster": "c1", "user": "u1", "namespace": "ns"}},
            {"name": "two", "context": {"cluster": "c2", "user": "u2"}},
        ],
    }  # fmt: skip
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_flatten_inlines_files_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    cfg = kc.flatten(_kubeconfig(tmp_path))
    assert cfg["current-context"] == "one" and len(cfg["contexts"]) == 1
    cluster = cfg["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    assert "certificate-authority" not in cluster
    user = cfg["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert cfg["contexts"][0]["context"]["namespace"] == "ns"
    assert kc.server_and_ca(cfg) == ("https://a", b"CA")


def test_flatten_keeps_exec_users_and_picks_the_context(tmp_path: Path) -> None:
    cfg = kc.flatten(_kubeconfig(tmp_path), "two")
    assert cfg["users"][0]["user"]["exec"]["command"] == "aws"
    assert kc.server_and_ca(cfg) == ("https://b", None)
    renamed = kc.renamed(cfg, "ekswin-x")
    assert renamed["current-context"] == "ekswin-x"
    assert renamed["contexts"][0]["context"] == {"cluster": "ekswin-x", "user": "ekswin-x"}


def test_flatten_errors_name_file_and_context(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path)
    with pytest.raises(
        kc.KubeconfigError, match=r"context 'three' not found; expected one of \['one', 'two'\]"
    ):
        kc.flatten(path, "three")
    with pytest.raises(kc.KubeconfigError, match="no such kubeconfig file"):
        kc.flatten(tmp_path / "absent")
    (tmp_path / "certs" / "ca.crt").unlink()
    with pytest.raises(kc.KubeconfigError, match="cluster 'c1': certificate-authority"):
        kc.flatten(path)


# -- webhook host -------------------------------------------------------------------------
def test_serving_sans_cover_loopback_and_the_webhook_host() -> None:
    assert serving_sans("127.0.0.1") == (["localhost"], ["127.0.0.1"])
    assert serving_sans("172.18.0.1") == (["localhost"], ["127.0.0.1", "172.18.0.1"])
    assert serving_sans("host.docker.internal") == (
        ["localhost", "host.docker.internal"],
        ["127.0.0.1"],
    )


def test_default_webhook_host_of_a_loopback_api_server() -> None:
    assert default_webhook_host("https://127.0.0.1:6443") == "127.0.0.1"
    assert default_webhook_host("https://localhost:6443") == "127.0.0.1"
    assert default_webhook_host("https://127.0.0.5:6443") == "127.0.0.1"


def _echo_server(host: str) -> tuple[socket.socket, int]:
    srv = socket.create_server((host, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"port %d:" % srv.getsockname()[1] + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_relay_listens_on_its_address_only_and_follows_the_target() -> None:
    a, port_a = _echo_server("127.0.0.1")
    b, port_b = _echo_server("127.0.0.1")
    relay = TcpRelay("127.0.0.2", ("127.0.0.1", port_a))
    try:
        assert relay.url == f"https://127.0.0.2:{relay.port}"

        def call() -> bytes:
            with socket.create_connection(("127.0.0.2", relay.port), timeout=5) as c:
                c.sendall(b"hi")
                c.shutdown(socket.SHUT_WR)
                return c.recv(100)

        assert call() == b"port %d:hi" % port_a
        relay.target = ("127.0.0.1", port_b)  # a restarted webhook on a new port
        assert call() == b"port %d:hi" % port_b
        with pytest.raises(OSError):  # not on loopback's 127.0.0.1
            socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
    finally:
        relay.close()
        a.close()
        b.close()


def test_relay_refuses_an_address_of_another_host() -> None:
    with pytest.raises(WebhookUnreachable, match=r"cannot listen on webhook host '192\.0\.2\.1'"):
        TcpRelay("192.0.2.1", ("127.0.0.1", 1))


# -- CSR ----------------------------------------------------------------------------------
def test_csr_signer_and_request_for_a_node() -> None:
    assert csr.signer_for("system:node:win-0", ["system:nodes"]) == csr.KUBELET_SIGNER
    assert csr.signer_for("system:node:win-0", ["system:nodes", "x"]) == csr.CLIENT_SIGNER
    assert csr.signer_for("alice", []) == csr.CLIENT_SIGNER
    assert csr.csr_name("dev", "system:node:win-0") == "ekswin-dev-system-node-win-0"
    pem, key = csr._request_pem("system:node:win-0", ["system:nodes"])
    req = x509.load_pem_x509_csr(pem)
    assert req.subject.rfc4514_string() == "CN=system:node:win-0,O=system:nodes"
    assert req.is_signature_valid and b"PRIVATE KEY" in key


# -- CLI refusals -------------------------------------------------------------------------
@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["EKSWIN_STATE_DIR"] = str(tmp_path / "state")
    env["KUBECONFIG"] = str(tmp_path / "kube" / "config")
    for var in ("EKSWIN_BACKEND", "EKSWIN_KUBECONFIG"):
        env.pop(var, None)
    return env


def _ekswin(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=60)


def test_existing_needs_a_kubeconfig(cli_env: dict[str, str]) -> None:
    r = _ekswin(["up", "--backend", "existing", "--windows-nodes", "1"], cli_env)
    assert r.returncode == 2
    assert "--backend existing needs --kubeconfig PATH" in r.stderr


def test_existing_with_a_bad_kubeconfig_names_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    r = _ekswin(
        ["up", "--backend", "existing", "--kubeconfig", str(tmp_path / "nope"), "--no-merge"],
        cli_env,
    )
    assert r.returncode == 2, r.stderr
    assert f"{tmp_path / 'nope'}: no such kubeconfig file" in r.stderr
    assert "Traceback" not in r.stderr


def test_bare_combines_with_nothing_of_the_pipeline(cli_env: dict[str, str]) -> None:
    r = _ekswin(["up", "--bare", "--windows-nodes", "2"], cli_env)
    assert r.returncode == 2 and "--bare starts the control plane alone" in r.stderr
    r = _ekswin(["up", "--bare", "--backend", "kind"], cli_env)
    assert r.returncode == 2 and "--bare runs the local control plane" in r.stderr


def test_kind_without_docker_or_kind_names_both(cli_env: dict[str, str], tmp_path: Path) -> None:
    cli_env["PATH"] = str(tmp_path / "empty") + os.pathsep + os.path.dirname(sys.executable)
    r = _ekswin(["up", "--backend", "kind"], cli_env)
    assert r.returncode == 2
    assert "a running Docker engine" in r.stderr and "the kind CLI on PATH" in r.stderr
    assert "`--backend local` needs neither" in r.stderr


def test_scenario_run_checks_the_backend_the_run_uses(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A scenario for kind needs Docker and kind, not the local binaries: the refusal
    names what kind lacks (EKSWIN_BACKEND, then the file's `backend`)."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "version: 1\nname: kind-run\nbackend: kind\nnodes: [{name: w}]\n"
        "steps: [{create_pods: {count: 1}}]\n"
    )
    cli_env["PATH"] = str(tmp_path / "empty") + os.pathsep + os.path.dirname(sys.executable)
    r = _ekswin(["scenario", "run", str(scenario)], cli_env)
    assert r.returncode == 2, r.stderr
    assert "the kind backend needs" in r.stderr and "kube-apiserver" not in r.stderr
    cli_env["EKSWIN_BACKEND"] = "nonsense"
    r = _ekswin(["scenario", "run", str(scenario)], cli_env)
    assert r.returncode == 2 and "unknown backend 'nonsense'" in r.stderr
