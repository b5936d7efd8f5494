"""The environment spec: schema, located errors, flags, timing profiles (no servers)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.spec import (
    PROFILES,
    EnvSpec,
    SpecError,
    load_spec,
    parse_spec,
    resolve_timing,
    schema,
    spec_document,
    spec_from_flags,
)
from harness.spec.timing import DESCRIPTIONS, Timing, markdown_table

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
name: two-subnets
seed: 7
timing: {profile: fast, cooldown_s: 5}
vpc:
  cidr: 10.0.0.0/16
  subnets:
    - {name: a, cidr: 10.0.0.0/24, reservations: [{cidr: 10.0.0.64/26, type: prefix}]}
    - {name: b, cidr: 10.0.1.0/24, az: us-west-2b, fragment: {every: 16, offset: 5}}
configmap:
  enable-windows-ipam: "true"
  warm-ip-target: "15"
nodes:
  - {name: win, instance_type: t3.2xlarge, subnet: a}
  - {name: frag, subnet: b, count: 2, windows_build: "10.0.20348", max_pods: 250}
kube_proxy: {dsr: true, sync_period_s: 5}
hns: {dynamic_port_range: [50000, 51023], port_block_size: 32, host_held_ports: [50001]}
controller: {replicas: 2, log_level: DEBUG, flags: {pod-workers: 4}}
node_agent: {cni_mode: inprocess}
backend: local
steps:
  - create_pods: {count: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    return str(info.value).splitlines()


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_a_full_spec_parses_into_typed_fields_and_ignores_steps(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.name == "two-subnets" and spec.seed == 7 and spec.backend == "local"
    assert spec.timing.profile == "fast" and spec.timing.cooldown_s == 5
    assert spec.timing.retry_scale == PROFILES["fast"].retry_scale
    assert [s.name for s in spec.vpc.subnets] == ["a", "b"]
    assert spec.vpc.subnets[0].reservations[0].cidr == "10.0.0.64/26"
    assert spec.vpc.subnets[1].fragment is not None and spec.vpc.subnets[1].fragment.offset == 5
    assert spec.node_names() == ["win", "frag-0", "frag-1"]
    assert spec.subnet_of(spec.nodes[1]).az == "us-west-2b"
    assert spec.hns.dynamic_port_range == (50000, 51023) and spec.hns.host_held_ports == (50001,)
    assert spec.controller.replicas == 2
    assert spec.controller.extra_argv() == ["--cidr-exhaustion=real", "--pod-workers=4"]
    assert spec.node_agent.cni_mode == "inprocess"
    assert spec.kube_proxy.dsr and spec.kube_proxy.sync_period_s == 5
    assert spec.ipam_enabled()


def test_resolved_spec_round_trips_through_its_document(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    doc = spec.to_dict()
    assert doc["timing"] == {"profile": "fast", "cooldown_s": 5}
    again = parse_spec(json.loads(json.dumps(doc)), "round-trip")
    assert again == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nnodes:\n  - {name: win, instnce_type: m5.large}\n",
            "env.yaml:3: nodes[0].instnce_type: unknown key 'instnce_type'; expected one of:",
        ),
        ("version: 2\n", "env.yaml:1: version: got 2; expected 1"),
        ("seed: 1\n", "(top level): missing required key 'version'"),
        (
            "version: 1\nconfigmap:\n  enable-windows-ipam: true\n",
            "env.yaml:3: configmap.enable-windows-ipam: got true; expected a string",
        ),
        (
            "version: 1\nnodes:\n  - name: win\n    max_pods: 300\n",
            "env.yaml:4: nodes[0].max_pods: got 300; expected <= 250",
        ),
        (
            "version: 1\ntiming: slow\n",
            "env.yaml:2: timing: got 'slow'; expected one of 'real', 'fast'",
        ),
        (
            "version: 1\ntiming: {profile: fast, cooldown: 1}\n",
            "env.yaml:2: timing.cooldown: unknown key 'cooldown'",
        ),
        (
            "version: 1\nnodes:\n  - {name: Win_0}\n",
            "nodes[0].name: got 'Win_0'; expected a DNS-1123 label",
        ),
        (
            "version: 1\nvpc:\n  subnets:\n    - {name: a, cidr: 10.1.0.0/24}\n",
            "env.yaml:4: vpc.subnets[0].cidr: 10.1.0.0/24 is not inside the VPC 192.168.0.0/16",
        ),
        (
            "version: 1\nvpc:\n  subnets:\n    - {name: a, cidr: 192.168.0.1/24}\n",
            "vpc.subnets[0].cidr: got '192.168.0.1/24'; expected an IPv4 network without host bits",
        ),
        (
            "version: 1\nnodes:\n  - {name: win, subnet: b}\n",
            "env.yaml:3: nodes[0].subnet: got 'b'; expected the name of a vpc.subnets entry (a)",
        ),
        (
            "version: 1\nnodes:\n  - {name: win, instance_type: m5.huge}\n",
            "nodes[0].instance_type: got 'm5.huge'; EC2 knows no such instance type",
        ),
        (
            "version: 1\nnodes:\n  - {name: win, count: 2}\n  - {name: win-1}\n",
            "env.yaml:4: nodes[1].name: node name 'win-1' is also made by nodes[0].name",
        ),
        (
            "version: 1\nvpc:\n  subnets:\n    - {name: a, cidr: 192.168.0.0/24}\n"
            "    - {name: b, cidr: 192.168.0.128/25}\n",
            "vpc.subnets[1].cidr: overlaps subnet [0] 192.168.0.0/24",
        ),
        ("version: 1\nnodes: [\n", "env.yaml:3: (top level): not valid YAML"),
    ],
)
def test_bad_specs_name_file_line_field_value_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    lines = errors_of(tmp_path, text)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "env.yaml")) for line in lines)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "version: 1\nseed: -1\nbogus: 1\nnodes: [{name: w, count: 0}]\n")
    assert len(lines) == 3, lines


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the file"):
        load_spec(tmp_path / "absent.yaml")


def test_flags_build_the_same_spec_as_ekswin_up_always_did() -> None:
    one = spec_from_flags(windows_nodes=1)
    assert one.node_names() == ["win-0"]
    assert one.configmap == {"enable-windows-ipam": "true"}
    assert one.timing == PROFILES["real"]
    many = spec_from_flags(windows_nodes=3, prefix_delegation=True, dsr=True, timing="fast")
    assert many.node_names() == ["win-0", "win-1", "win-2"]
    assert many.configmap == {
        "enable-windows-ipam": "true",
        "enable-windows-prefix-delegation": "true",
    }
    assert many.kube_proxy.dsr and many.timing.profile == "fast"
    bare = spec_from_flags()
    assert not bare.has_pipeline() and bare.configmap is None


def test_a_bad_flag_is_named_by_its_flag() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_flags(windows_nodes=1, instance_type="x.y", subnet="10.0.0.0/19")
    text = str(info.value)
    assert "--instance-type: got 'x.y'" in text and "--subnet:" in text


def test_timing_profiles_cover_every_key_and_fast_changes_each_value() -> None:
    keys = {f.name for f in fields(Timing)} - {"profile"}
    assert set(DESCRIPTIONS) == keys
    real, fast = PROFILES["real"], PROFILES["fast"]
    same = [k for k in keys if getattr(real, k) == getattr(fast, k)]
    assert same == [], f"--timing fast leaves these unchanged: {same}"


def test_timing_overrides_and_profile_switch() -> None:
    t = resolve_timing({"profile": "fast", "cooldown_s": 5, "kubelet_image_pull_ms": [1, 2]})
    assert t.cooldown_s == 5 and t.kubelet_image_pull_ms == (1, 2)
    assert t.overrides() == {"cooldown_s": 5, "kubelet_image_pull_ms": (1, 2)}
    spec = EnvSpec(timing=t).with_timing("real")
    assert spec.timing.profile == "real" and spec.timing.cooldown_s == 5
    assert spec.timing.controller_api_qps == PROFILES["real"].controller_api_qps
    assert resolve_timing(None) == PROFILES["real"]


def test_controller_accepts_every_timing_flag() -> None:
    from controller.__main__ import build_parser

    for timing in PROFILES.values():
        args = build_parser().parse_args(["--kubeconfig", "k", *timing.controller_flags()])
        assert args.cooldown_seconds == timing.cooldown_s
        assert args.apiserver_qps == timing.controller_api_qps
        assert args.ec2_qps == timing.controller_ec2_qps
        assert args.lease_duration == timing.leader_lease_duration_s


def test_kubelet_part_of_each_profile_is_a_valid_agent_profile() -> None:
    from harness.nodes import profiles

    for name, timing in PROFILES.items():
        data: dict[str, Any] = timing.kubelet_profile()
        prof = profiles.load(data)
        assert prof.sandbox_create_ms == timing.kubelet_sandbox_create_ms
        assert profiles.builtin()[name].sandbox_retry_max_s == timing.kubelet_sandbox_retry_max_s


def test_readme_timing_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README's timing table differs: paste markdown_table()"


def test_spec_document_is_plain_yaml() -> None:
    doc = spec_document(windows_nodes=2)
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc
