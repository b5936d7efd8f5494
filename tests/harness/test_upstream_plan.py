"""The upstream controller's launch plan, manifests, spec field and CLI refusals, as plain
data: none of these tests runs the upstream binary (CI's upstream job does)."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.spec import SpecError, parse_spec
from harness.spec.flags import spec_document
from harness.upstream import host, manifests
from harness.upstream.plan import (
    BINARY_ENV,
    CERT_SUBDIR,
    PINNED_COMMIT,
    WEBHOOK_PATHS,
    Launch,
    UpstreamUnavailable,
    resolve_binary,
)


@pytest.fixture
def not_the_binary(tmp_path: Path) -> Path:
    """An executable file standing in for the binary's *path* only (never run here)."""
    path = tmp_path / "vpc-resource-controller"
    path.write_text("#!/bin/sh\necho 'not the upstream controller' >&2\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _launch(binary: Path, tmp: Path, **kw: Any) -> Launch:
    args: dict[str, Any] = dict(
        binary=binary,
        cluster_name="demo",
        vpc_id="vpc-0abc",
        ec2_url="http://127.0.0.1:4567",
        kubeconfig=tmp / "controller.kubeconfig",
        tmpdir=tmp / "upstream-tmp",
        introspect_port=40123,
    )
    args.update(kw)
    return Launch(**args)


def test_argv_has_the_required_flags_and_no_role(not_the_binary: Path, tmp_path: Path) -> None:
    argv = _launch(not_the_binary, tmp_path).argv()
    assert argv[0] == str(not_the_binary)
    flags = dict(a.removeprefix("--").split("=", 1) for a in argv[1:])
    assert flags == {
        "cluster-name": "demo",
        "vpc-id": "vpc-0abc",
        "enable-windows-prefix-delegation": "true",
        "leader-elect": "false",
        "metrics-bind-address": "0",
        "introspect-bind-addr": "127.0.0.1:40123",
        "log-level": "info",
    }
    argv = _launch(not_the_binary, tmp_path, prefix_delegation=False, log_level="DEBUG").argv()
    assert "--enable-windows-prefix-delegation=false" in argv and "--log-level=debug" in argv


def test_only_flags_the_binary_has_pass_through(not_the_binary: Path, tmp_path: Path) -> None:
    from harness.upstream.plan import passthrough

    flags = passthrough(
        {"apiserver-qps": 50, "enable-dev-logging": True, "pod-workers": 8, "vpc-id": "x"}
    )
    assert flags == (("apiserver-qps", "50"), ("enable-dev-logging", "true"))
    argv = _launch(not_the_binary, tmp_path, flags=flags).argv()
    assert argv[-2:] == ["--apiserver-qps=50", "--enable-dev-logging=true"]
    assert "--pod-workers=8" not in argv and sum(a.startswith("--vpc-id") for a in argv) == 1


def test_env_points_every_aws_client_at_fake_ec2(not_the_binary: Path, tmp_path: Path) -> None:
    launch = _launch(not_the_binary, tmp_path)
    base = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "work",
        "AWS_ROLE_ARN": "arn:aws:iam::1:role/x",
        "AWS_REGION": "eu-west-1",
        "KUBECONFIG": "elsewhere",
    }
    env = launch.env(base)
    assert env["PATH"] == "/usr/bin"
    assert "AWS_PROFILE" not in env and "AWS_ROLE_ARN" not in env and "AWS_REGION" not in env
    assert (
        env["AWS_ENDPOINT_URL_EC2"]
        == env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        == ("http://127.0.0.1:4567")
    )
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["KUBECONFIG"] == str(tmp_path / "controller.kubeconfig")
    assert env["TMPDIR"] == str(tmp_path / "upstream-tmp")
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        assert not Path(env[key]).exists() and Path(env[key]).is_relative_to(launch.tmpdir)
    crt, key = launch.cert_paths()
    assert crt == Path(env["TMPDIR"]) / CERT_SUBDIR / "tls.crt"
    assert key.name == "tls.key" and key.parent == crt.parent
    assert str(CERT_SUBDIR) == "k8s-webhook-server/serving-certs"


def test_binary_missing_says_how_to_build_it(tmp_path: Path, not_the_binary: Path) -> None:
    with pytest.raises(UpstreamUnavailable, match=PINNED_COMMIT) as e:
        resolve_binary(None, {})
    assert "go build" in str(e.value) and BINARY_ENV in str(e.value)
    with pytest.raises(UpstreamUnavailable, match="does not exist"):
        resolve_binary(str(tmp_path / "nope"), {})
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(UpstreamUnavailable, match="not executable"):
        resolve_binary(str(plain), {})
    assert resolve_binary(None, {BINARY_ENV: str(not_the_binary)}) == not_the_binary
    assert resolve_binary(str(not_the_binary), {BINARY_ENV: "ignored"}) == not_the_binary


def test_crds_name_the_fields_the_controller_uses() -> None:
    crds = {c["metadata"]["name"]: c for c in manifests.crds()}
    assert set(crds) == {
        "cninodes.vpcresources.k8s.aws",
        "securitygrouppolicies.vpcresources.k8s.aws",
        "eniconfigs.crd.k8s.amazonaws.com",
    }
    cnd = crds["cninodes.vpcresources.k8s.aws"]["spec"]
    assert cnd["scope"] == "Cluster" and cnd["names"]["shortNames"] == ["cnd"]
    (version,) = cnd["versions"]
    assert version["name"] == "v1alpha1" and version["storage"] is True
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(spec["features"]["items"]["properties"]) == {"name", "value"}
    assert spec["tags"]["additionalProperties"] == {"type": "string"}
    sgp = crds["securitygrouppolicies.vpcresources.k8s.aws"]["spec"]
    assert sgp["scope"] == "Namespaced" and sgp["versions"][0]["name"] == "v1beta1"


def _rules(kind: str) -> list[dict[str, Any]]:
    (role,) = [m for m in manifests.rbac() if m["kind"] == kind]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def _allows(
    rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str = ""
) -> bool:
    return any(
        group in r["apiGroups"]
        and resource in r["resources"]
        and verb in r["verbs"]
        and (not r.get("resourceNames") or name in r["resourceNames"])
        for r in rules
    )


@pytest.mark.parametrize(
    "group,resource,verb",
    [
        ("vpcresources.k8s.aws", "cninodes", "create"),
        ("vpcresources.k8s.aws", "cninodes", "patch"),
        ("vpcresources.k8s.aws", "securitygrouppolicies", "list"),
        ("crd.k8s.amazonaws.com", "eniconfigs", "watch"),
        ("", "serviceaccounts", "get"),
        ("", "nodes/status", "patch"),
        ("", "pods", "patch"),
        ("", "events", "update"),
    ],
)
def test_cluster_role_grants_what_the_binary_calls(group: str, resource: str, verb: str) -> None:
    assert _allows(_rules("ClusterRole"), group, resource, verb)


def test_kube_system_role_reads_the_old_deployment_by_name() -> None:
    rules = _rules("Role")
    # A failed read of this Deployment keeps Windows IPAM off (conditions.go).
    assert _allows(rules, "apps", "deployments", "get", "vpc-resource-controller")
    assert not _allows(rules, "apps", "deployments", "get", "something-else")
    assert _allows(rules, "", "configmaps", "watch", "amazon-vpc-cni")
    bindings = [m for m in manifests.rbac() if m["kind"].endswith("Binding")]
    assert len(bindings) == 2
    for b in bindings:
        assert b["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "vpc-resource-controller",
                "namespace": "kube-system",
            }
        ]


def test_webhooks_point_at_port_9443_paths() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    configs = manifests.webhook_configurations("https://127.0.0.1:9443", ca)
    hooks = {h["clientConfig"]["url"]: h for c in configs for h in c["webhooks"]}
    assert set(hooks) == {f"https://127.0.0.1:9443{p}" for p in WEBHOOK_PATHS}
    node = hooks["https://127.0.0.1:9443/validate-v1-node"]
    assert node["rules"][0]["resources"] == ["nodes"] and node["rules"][0]["operations"] == [
        "UPDATE"
    ]
    pod = hooks["https://127.0.0.1:9443/validate-v1-pod"]
    assert pod["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert all(
        h["failurePolicy"] == "Ignore" and h["clientConfig"]["caBundle"] for h in hooks.values()
    )
    with pytest.raises(ValueError, match="https"):
        manifests.webhook_configurations("http://127.0.0.1:9443", ca)


def test_spec_implementation_and_upstream_instance_types() -> None:
    doc = spec_document(windows_nodes=1, controller="upstream")
    spec = parse_spec(doc)
    assert spec.controller.implementation == "upstream"
    assert parse_spec(spec.to_dict()) == spec
    assert parse_spec(spec_document(windows_nodes=1)).controller.implementation == "python"
    doc["nodes"][0]["instance_type"] = "c8gb.metal-24xl"  # moto has it, the upstream table not
    with pytest.raises(SpecError, match=r"nodes\[0\]\.instance_type.*upstream controller"):
        parse_spec(doc)
    doc = spec_document(windows_nodes=1, controller="upstream")
    doc["controller"]["replicas"] = 2
    with pytest.raises(SpecError, match=r"controller\.replicas"):
        parse_spec(doc)
    doc["controller"] = {"implementation": "go"}
    with pytest.raises(SpecError, match="implementation"):
        parse_spec(doc)


def test_pipeline_builds_the_launch_from_the_environment(
    tmp_path: Path, not_the_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.pipeline import Pipeline

    monkeypatch.setenv(BINARY_ENV, str(not_the_binary))
    spec = parse_spec({**spec_document(windows_nodes=1, controller="upstream"), "name": "cmp"})
    pipe = Pipeline(spec, SimpleNamespace(supervisor=None, backend="local"), tmp_path, {})  # type: ignore[arg-type]
    pipe.vpc_id = "vpc-1"
    pipe.ec2.url = "http://127.0.0.1:5555"
    launch = pipe.upstream_launch(tmp_path / "k.kubeconfig", 40000)
    assert "--cluster-name=cmp" in launch.argv() and "--vpc-id=vpc-1" in launch.argv()
    assert launch.env({})["AWS_ENDPOINT_URL_EC2"] == "http://127.0.0.1:5555"
    kinds = {m["kind"] for m in pipe.controller_manifests()}
    assert "CustomResourceDefinition" in kinds
    refs = {(r.kind, r.name) for r in pipe.planned_objects()}
    assert ("CustomResourceDefinition", "cninodes.vpcresources.k8s.aws") in refs
    python = Pipeline(
        parse_spec(spec_document(windows_nodes=1)),
        SimpleNamespace(supervisor=None, backend="local"),
        tmp_path,
        {},  # type: ignore[arg-type]
    )
    assert "CustomResourceDefinition" not in {m["kind"] for m in python.controller_manifests()}


def test_up_without_the_binary_exits_2_with_the_build_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("EKSWIN_STATE_DIR", str(tmp_path / "state"))
    code = main(["up", "--run-dir", str(tmp_path / "run"), "--controller", "upstream"])
    assert code == 2
    err = capsys.readouterr().err
    assert "go build" in err and PINNED_COMMIT in err and "Traceback" not in err


def test_a_second_upstream_environment_on_the_host_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    not_the_binary: Path,
) -> None:
    from harness.cli import main

    monkeypatch.setenv("EKSWIN_STATE_DIR", str(tmp_path / "state"))
    held = host.acquire()  # as the first environment's process holds it
    try:
        code = main(
            [
                "up",
                "--run-dir",
                str(tmp_path / "run"),
                "--controller",
                "upstream",
                "--controller-binary",
                str(not_the_binary),
            ]
        )
    finally:
        held.release()
    assert code == 2
    assert "another environment with --controller upstream" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was touched


SCENARIO = Path(__file__).resolve().parents[2] / "e2e/scenarios/m5-large-pd-capacity.yaml"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--compare", "--controller", "upstream"], "drop --controller"),
        (["--compare"], "go build"),
        (["--controller", "upstream"], "go build"),
    ],
    ids=["compare with --controller", "compare without binary", "upstream without binary"],
)
def test_scenario_run_upstream_refusals_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    from harness.cli import main

    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("EKSWIN_STATE_DIR", str(tmp_path / "state"))
    run_dir = tmp_path / "run"
    code = main(["scenario", "run", str(SCENARIO), "--run-dir", str(run_dir), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not run_dir.exists()  # refused before any environment started
