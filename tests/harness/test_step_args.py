"""`ekswin step` without a cluster: words to steps (schema coercion, dotted keys), the
validation a scenario's steps get, and the CLI's exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario.objects import ManifestError, documents
from harness.scenario.steparg import (
    StepArgError,
    describe_problems,
    schema_check,
    step_from_words,
    validate,
)
from harness.spec import SpecError, spec_document

EKSWIN = [sys.executable, "-m", "harness.cli"]


def test_values_are_coerced_by_the_schema() -> None:
    assert step_from_words("faults", ["ec2.throttle_rate=0.3"]) == {
        "faults": {"ec2": {"throttle_rate": 0.3}}
    }
    # ConfigMap values stay strings, whatever YAML would make of them
    assert step_from_words("set_configmap", ["ENABLE_WINDOWS_IPAM=true", "WARM=10"]) == {
        "set_configmap": {"ENABLE_WINDOWS_IPAM": "true", "WARM": "10"}
    }
    assert step_from_words("create_pods", ["count=3", "name=web"]) == {
        "create_pods": {"count": 3, "name": "web"}
    }
    assert step_from_words("set_dsr", ["true"]) == {"set_dsr": True}
    assert step_from_words("restart", ["controller"]) == {"restart": "controller"}
    assert step_from_words("hns_ports", ["dynamic_port_range=[10000,10063]"]) == {
        "hns_ports": {"dynamic_port_range": [10000, 10063]}
    }
    assert step_from_words("delete_configmap", []) == {"delete_configmap": None}
    # a name that looks like a number stays a name
    assert step_from_words("scale", ["name=007", "replicas=2"]) == {
        "scale": {"name": "007", "replicas": 2}
    }


def test_bad_words_name_the_word() -> None:
    with pytest.raises(StepArgError, match="unknown step kind 'create_pod'"):
        step_from_words("create_pod", ["count=1"])
    with pytest.raises(StepArgError, match="count is given twice"):
        step_from_words("create_pods", ["count=1", "count=2"])
    with pytest.raises(StepArgError, match="key=value words or one value"):
        step_from_words("create_pods", ["count=1", "oops"])


def test_schema_check_names_each_bad_key_and_value() -> None:
    with pytest.raises(SpecError) as e:
        schema_check([step_from_words("create_pods", ["bogus=1", "count=x"])], "<cmd>")
    text = describe_problems(e.value, words=True)
    assert "create_pods.bogus: unknown key 'bogus'" in text
    assert "create_pods.count: got 'x'; expected an integer" in text
    with pytest.raises(SpecError) as e:
        schema_check([step_from_words("faults", ["ec2.throttle_rate=2"])], "<cmd>")
    assert "faults.ec2.throttle_rate" in describe_problems(e.value, words=True)


SPEC = spec_document(windows_nodes=2, timing="fast")


def test_validate_resolves_references_against_the_spec_and_earlier_steps() -> None:
    earlier = [{"create_pods": {"name": "web", "count": 2}}]
    steps = validate(SPEC, earlier, [{"delete_pods": {"name": "web"}}], "<cmd>")
    assert [(s.index, s.kind) for s in steps] == [(0, "delete_pods")]
    with pytest.raises(SpecError) as e:
        validate(SPEC, earlier, [{"delete_pods": {"name": "api"}}], "<cmd>")
    # the new step's own index, not its place after the journal's steps
    assert [p.path for p in e.value.problems] == [("steps", 0, "delete_pods", "name")]
    with pytest.raises(SpecError, match="expected a node of the environment"):
        validate(SPEC, [], [{"create_pods": {"node": "win-7"}}], "<cmd>")
    # a node added by an earlier step is known
    added = [{"add_nodes": {"name": "extra", "count": 1}}]
    validate(SPEC, added, [{"expect": {"node": "extra", "mode": "secondary"}}], "<cmd>")
    with pytest.raises(SpecError, match="exactly one of name"):
        validate(SPEC, [], [{"delete_pods": {"name": "web", "object": "web-0"}}], "<cmd>")


def test_apply_and_scale_validate_and_manifests_are_checked() -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1},
    }
    validate(
        SPEC, [], [{"apply": {"manifest": deploy}}, {"scale": {"name": "web", "replicas": 3}}], "x"
    )
    with pytest.raises(SpecError, match="apply"):
        validate(SPEC, [], [{"apply": {"manifest": deploy, "file": "a.yaml"}}], "x")
    with pytest.raises(SpecError, match="replicas"):
        validate(SPEC, [], [{"scale": {"name": "web"}}], "x")
    assert [o["kind"] for o in documents("kind: List\nitems:\n- " + json.dumps(deploy), "t")] == [
        "Deployment"
    ]
    with pytest.raises(ManifestError, match="t: object 0: expected a Kubernetes object"):
        documents("apiVersion: v1\nkind: Pod\n", "t")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EKSWIN_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=120)


def test_cli_bad_keys_exit_2_naming_them_with_no_environment(tmp_path: Path) -> None:
    r = _run(["step", "create_pods", "bogus=1"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "create_pods.bogus: unknown key 'bogus'" in r.stderr and "Traceback" not in r.stderr
    r = _run(["step"], tmp_path)
    assert r.returncode == 2 and "expected KIND key=value" in r.stderr
    bad = tmp_path / "steps.yaml"
    bad.write_text("- create_pods: {count: 2}\n- faults:\n    ec2: {throttle: 0.5}\n")
    r = _run(["step", "-f", str(bad)], tmp_path)
    assert r.returncode == 2
    assert f"{bad}:3: steps[1].faults.ec2.throttle: unknown key 'throttle'" in r.stderr, r.stderr
    missing = tmp_path / "nope.yaml"
    r = _run(["step", "apply", f"file={missing}"], tmp_path)
    assert r.returncode == 2 and str(missing) in r.stderr


def test_cli_valid_step_without_an_environment_exits_1(tmp_path: Path) -> None:
    r = _run(["step", "create_pods", "count=1", "--name", "nothing"], tmp_path)
    assert r.returncode == 1
    assert "'nothing' is not running" in r.stderr
    r = _run(["bundle", "--name", "nothing"], tmp_path)
    assert r.returncode == 1 and "not running" in r.stderr
    r = _run(["scenario", "export", str(tmp_path / "x.yaml"), "--name", "nothing"], tmp_path)
    assert r.returncode == 1 and "no env.json" in r.stderr
