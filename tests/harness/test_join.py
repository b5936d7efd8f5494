"""The join file and the first host's approval rule, without a cluster: the file's
schema and mode, `ekswin agent`'s one-line errors (exit 2), which certificate requests
a joining host is granted."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.backends.csr import _request_pem
from harness.certs import CertificateAuthority
from harness.cli import main
from harness.join import access
from harness.join.host import JoinedNodeGroup, host_slug
from harness.join.joinfile import (
    Ec2Access,
    JoinFile,
    JoinFileError,
    JoinSubnet,
    KubernetesAccess,
    NodeGroupTemplate,
)
from harness.netutil import free_port
from harness.spec import spec_document

CA_PEM = CertificateAuthority("join-test-ca").cert_pem


def _join(server: str = "https://127.0.0.1:6443", ec2: str = "http://127.0.0.1:5555") -> JoinFile:
    ca = CA_PEM
    return JoinFile(
        environment="guest",
        created_at="2026-01-02T03:04:05Z",
        kubernetes=KubernetesAccess(
            server=server,
            certificate_authority_data=base64.b64encode(ca).decode(),
            token="tok",
            token_expires="2026-01-03T03:04:05Z",
            kube_proxy_user=access.KUBE_PROXY_USER,
        ),
        ec2=Ec2Access(ec2, "us-west-2", "vpc-1", "ekswin-join", "testing"),
        node_group=NodeGroupTemplate(
            name_prefix="win",
            instance_type="m5.large",
            max_pods=110,
            windows_build="10.0.17763",
            subnets=(JoinSubnet("a", "subnet-1", "192.168.0.0/19", "us-west-2a"),),
        ),
        spec=spec_document(timing="fast"),
    )


@pytest.fixture
def written(tmp_path: Path) -> Path:
    return _join().write(tmp_path / "join.json")


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_written_owner_only_and_read_back(written: Path) -> None:
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    data = json.loads(written.read_text())
    assert (data["kind"], data["version"]) == ("EkswinJoin", 1)
    assert JoinFile.read(written) == _join()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=2), "version: 2 is not supported by this ekswin"),
        (lambda d: d.update(kind="Config"), "kind: 'Config', expected 'EkswinJoin'"),
        (lambda d: d["kubernetes"].update(bogus=1), "kubernetes.bogus: unknown field"),
        (lambda d: d["ec2"].pop("endpoint"), "ec2.endpoint: missing"),
        (lambda d: d["kubernetes"].update(server="http://x"), "kubernetes.server: 'http://x'"),
        (lambda d: d["kubernetes"].update(token=""), "kubernetes.token: expected a non-empty"),
        (lambda d: d["node_group"].update(subnets=[]), "node_group.subnets: expected a non-empty"),
        (lambda d: d["node_group"].update(max_pods="9"), "node_group.max_pods: expected an int"),
    ],
)
def test_bad_fields_name_the_field(written: Path, change: Any, message: str) -> None:
    _edit(written, change)
    with pytest.raises(JoinFileError) as err:
        JoinFile.read(written)
    assert str(err.value).startswith(f"join file {written}: ")
    assert message in str(err.value)


def test_a_file_others_can_read_is_refused(written: Path) -> None:
    written.chmod(0o644)
    with pytest.raises(JoinFileError, match=r"mode 0644, expected 0600: it holds a credential"):
        JoinFile.read(written)


def _agent(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["agent", *args])
    err = capsys.readouterr().err
    return code, err


def test_agent_errors_are_one_line_exit_2(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases: list[tuple[list[str], str]] = [
        ([str(tmp_path / "missing.json")], "no such file"),
        ([str(_edit(written, lambda d: d.update(version=9)))], "version: 9 is not supported"),
    ]
    for join, expected in cases:
        code, err = _agent(
            capsys, "--join", *join, "--nodes", "1", "--run-dir", str(tmp_path / "r")
        )
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("ekswin: error: join file "), err
        assert expected in err
    written.chmod(0o640)
    code, err = _agent(capsys, "--join", str(written), "--nodes", "1")
    assert code == 2 and "mode 0640, expected 0600" in err and err.count("\n") == 1


def test_agent_names_the_endpoint_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    path = _join(server=dead).write(tmp_path / "join.json")
    run_dir = tmp_path / "agent"
    code, err = _agent(capsys, "--join", str(path), "--nodes", "2", "--run-dir", str(run_dir))
    assert code == 2, err
    assert f"kubernetes.server {dead}: unreachable from this host" in err
    assert "Traceback" not in err
    assert not (run_dir / "joined-nodes.json").exists()  # nothing was started
    assert not list(run_dir.glob("components"))


def test_names_and_defaults(written: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKSWIN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("socket.gethostname", lambda: "Build_Host-7.example.com")
    group = JoinedNodeGroup.prepare(written, nodes=3)
    assert group.names == ["win-build-host-7-0", "win-build-host-7-1", "win-build-host-7-2"]
    assert group.run_dir == (tmp_path / "state" / "agents" / "win-build-host-7").resolve()
    assert group.agents == 1 and group.subnet == "subnet-1"
    specs = group.node_specs()
    assert {s.nodegroup for s in specs} == {"win-build-host-7"}
    assert {(s.instance_type, s.subnet_id, s.availability_zone) for s in specs} == {
        ("m5.large", "subnet-1", "us-west-2a")
    }
    named = JoinedNodeGroup.prepare(written, nodes=1, prefix="rack-3", agents=4)
    assert named.names == ["rack-3-0"] and named.agents == 1  # never more shards than nodes
    with pytest.raises(JoinFileError, match="--name-prefix: 'Bad_Prefix'"):
        JoinedNodeGroup.prepare(written, nodes=1, prefix="Bad_Prefix")
    with pytest.raises(JoinFileError, match="--subnet 'b': the environment has subnet"):
        JoinedNodeGroup.prepare(written, nodes=1, subnet="b")
    assert host_slug("...") == "host"


# -- the first host's rule ----------------------------------------------------------------
def _csr(user: str, groups: list[str], signer: str, **extra: Any) -> dict[str, Any]:
    pem, _ = _request_pem(user, groups)
    return {
        "username": access.requester(),
        "signerName": signer,
        "usages": ["digital signature", "key encipherment", "client auth"],
        "request": base64.b64encode(pem).decode(),
        **extra,
    }


def _decide(spec: dict[str, Any], exists: bool = False, joined: tuple[str, ...] = ()) -> Any:
    return access.decide(
        spec, reserved={"win-0"}, joined=set(joined), node_exists=lambda name: exists
    )


NODE = ["system:nodes"]


def test_node_identities_are_granted_unless_they_are_someone_elses() -> None:
    ok = _decide(_csr("system:node:win-a-0", NODE, access.KUBELET_SIGNER))
    assert ok.approve and ok.node == "win-a-0"
    own = _decide(_csr("system:node:win-0", NODE, access.KUBELET_SIGNER))
    assert not own.approve and "environment's own nodes" in own.reason
    real = _decide(_csr("system:node:ip-10-0-0-1", NODE, access.KUBELET_SIGNER), exists=True)
    assert not real.approve and "did not join through this file" in real.reason
    again = _decide(
        _csr("system:node:win-a-0", NODE, access.KUBELET_SIGNER), exists=True, joined=("win-a-0",)
    )
    assert again.approve  # the same host starting again
    groups = _decide(_csr("system:node:win-a-0", [*NODE, "system:masters"], access.KUBELET_SIGNER))
    assert not groups.approve and "groups" in groups.reason


def test_kube_proxy_is_granted_and_nothing_else() -> None:
    assert _decide(_csr(access.KUBE_PROXY_USER, [], access.CLIENT_SIGNER)).approve
    admin = _decide(_csr("admin", ["system:masters"], access.CLIENT_SIGNER))
    assert not admin.approve and "not granted" in admin.reason
    serving = _decide(
        _csr(
            "system:node:win-a-0",
            NODE,
            access.KUBELET_SIGNER,
            usages=["digital signature", "server auth"],
        )
    )
    assert not serving.approve and "server auth" in serving.reason
    other = _csr("system:node:win-a-0", NODE, access.KUBELET_SIGNER, username="someone")
    assert _decide(other) is None  # not the join identity's: left to whoever approves it


def test_join_identity_may_only_request_certificates_and_read_nodes() -> None:
    role = next(m for m in access.manifests() if m["kind"] == "ClusterRole")
    granted = {(r["apiGroups"][0], res, v) for r in role["rules"] for res in r["resources"]
               for v in r["verbs"]}  # fmt: skip
    assert {res for _, res, _ in granted} == {"certificatesigningrequests", "nodes"}
    assert ("", "nodes", "get") in granted and not any(v == "approve" for *_, v in granted)
