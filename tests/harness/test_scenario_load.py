"""Scenario files: the shipped schema, step validation with located errors (no servers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.scenario import load_scenario, scenario_schema
from harness.scenario.load import shipped_schema
from harness.scenario.model import STEP_KINDS
from harness.scenario.report import report_schema
from harness.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "e2e" / "scenarios").glob("*.yaml"))

GOOD = """\
version: 1
name: demo
configmap: {enable-windows-ipam: "true"}
nodes:
  - {name: win, instance_type: m5.large}
steps:
  - create_pods: {count: 2, name: app}
  - expect: {pods_running: 2, timeout: 30}
  - delete_pods: {name: app, count: 1}
  - set_configmap: {warm-ip-target: "5"}
  - create_services: {count: 3, name: web, type: NodePort, selector: app}
  - faults:
      ec2:
        throttle_rate: 0.3
        latency_ms: 50
        errors: {AssignPrivateIpAddresses: {code: InsufficientCidrBlocks, count: 2}}
  - faults: {ec2: {}}
  - restart: controller
  - wait: {seconds: 1}
  - add_subnet: {name: b, cidr: 192.168.64.0/24}
  - add_nodes: {name: more, subnet: b, count: 2}
  - expect: {node: more-1, mode: secondary}
  - fragment: {subnet: b, every: 16, offset: 3, cidr: 192.168.64.0/25}
  - reserve_cidr: {subnet: b, cidr: 192.168.64.128/26}
  - set_dsr: true
  - hns_ports: {node: win, dynamic_port_range: [50000, 51023]}
  - {expect: {event: InsufficientCidrBlocks}, settle: false}
  - kill: node-agent
  - kill: {component: controller, signal: SIGTERM, leader: true}
  - remove_nodes: {name: more}
  - expect: {pods_missed_by_webhook: 0}
  - expect: {invariant_broken: capacity-matches-mode, node: win}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_shipped_schema_is_the_generated_one_and_valid() -> None:
    assert shipped_schema() == scenario_schema(), "regenerate harness/scenario/scenario.schema.json"
    jsonschema.Draft202012Validator.check_schema(scenario_schema())
    jsonschema.Draft202012Validator.check_schema(report_schema())
    kinds = set(scenario_schema()["$defs"]["step"]["properties"]) - {"settle"}
    assert kinds == set(STEP_KINDS)


def test_a_scenario_with_every_step_kind_parses(tmp_path: Path) -> None:
    s = load(tmp_path, GOOD)
    kinds = [step.kind for step in s.steps]  # type: ignore[attr-defined]
    assert kinds[0] == "create_pods" and kinds[-1] == "expect"
    assert [step.index for step in s.steps] == list(range(len(kinds)))  # type: ignore[attr-defined]
    assert s.steps[16].settle is False  # type: ignore[attr-defined]
    assert s.expected_broken() == [("capacity-matches-mode", "win")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    s = load_scenario(path)
    assert s.name == path.stem
    assert any(step.kind == "expect" for step in s.steps)


STEM = 'version: 1\nconfigmap: {enable-windows-ipam: "true"}\nnodes: [{name: win}]\nsteps:\n'


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ("  - create_pod: {count: 1}\n", "s.yaml:5: steps[0].create_pod: unknown key 'create_pod'"),
        (
            "  - create_pods: {count: 0}\n",
            "s.yaml:5: steps[0].create_pods.count: got 0; expected >= 1",
        ),
        (
            "  - {create_pods: {}, wait: {seconds: 1}}\n",
            "steps[0]: got create_pods, wait; expected exactly one of",
        ),
        ("  - expect: {capacity: 9}\n", "steps[0].expect: capacity need node: (which node)"),
        (
            "  - expect: {node: nope, mode: prefix}\n",
            "steps[0].expect.node: got 'nope'; expected a node of the environment (win)",
        ),
        ("  - expect: {node: win, pods_running: 1}\n", "pods_running are cluster-wide"),
        (
            "  - delete_pods: {name: ghost}\n",
            "steps[0].delete_pods.name: got 'ghost'; no earlier create_pods made that group",
        ),
        (
            "  - create_services: {selector: ghost}\n",
            "steps[0].create_services.selector: got 'ghost'",
        ),
        (
            "  - fragment: {subnet: z}\n",
            "steps[0].fragment.subnet: got 'z'; expected a known subnet (a)",
        ),
        (
            "  - restart: apiserver\n",
            "steps[0].restart: got 'apiserver'; expected one of 'controller', 'fake_hns'",
        ),
        (
            "  - set_configmap: {warm-ip-target: 5}\n",
            "steps[0].set_configmap.warm-ip-target: got 5; expected a string",
        ),
        (
            "  - expect: {event: Foo, message: x, pods_pending: -1}\n",
            "steps[0].expect.pods_pending: got -1; expected >= 0",
        ),
        ("  - add_nodes: {name: win}\n", "steps[0].add_nodes.name: node 'win' already exists"),
        (
            "  - remove_nodes: {name: ghost}\n",
            "s.yaml:5: steps[0].remove_nodes.name: got 'ghost'; expected a node or node group "
            "of the environment (win)",
        ),
        (
            "  - remove_nodes: {name: win}\n  - remove_nodes: {name: win}\n",
            "steps[1].remove_nodes.name: got 'win'; expected a node or node group of the "
            "environment (none left)",
        ),
        (
            "  - remove_nodes: {name: win}\n  - create_pods: {node: win}\n",
            "steps[1].create_pods.node: got 'win'; expected a node of the environment (none)",
        ),
        ("  - expect: {timeout: 5}\n", "steps[0].expect: expected at least one expect key"),
        (
            "  - kill: {component: etcd, leader: true}\n",
            "steps[0].kill.leader: leader: true needs component: controller, got 'etcd'",
        ),
        ("  - kill: {component: etcd, signal: SIGHUP}\n", "s.yaml:5: steps[0].kill"),
        ("  - expect: {node: win, pods_missed_by_webhook: 1}\n", "are cluster-wide"),
    ],
)
def test_bad_steps_are_refused_with_the_step_and_field_named(
    tmp_path: Path, steps: str, expected: str
) -> None:
    assert expected in errors(tmp_path, STEM + steps)


def test_remove_nodes_takes_a_node_or_a_node_group(tmp_path: Path) -> None:
    stem = STEM.replace("nodes: [{name: win}]", "nodes: [{name: win, count: 3}, {name: one}]")
    ok = load(tmp_path, stem + "  - remove_nodes: {name: win-1}\n  - remove_nodes: {name: win}\n")
    assert [s.args for s in ok.steps] == [{"name": "win-1"}, {"name": "win"}]  # type: ignore[attr-defined]
    load(tmp_path, stem + "  - remove_nodes: {name: one}\n  - add_nodes: {name: one}\n")
    gone = errors(
        tmp_path,
        stem + "  - remove_nodes: {name: win}\n  - expect: {node: win-2, mode: secondary}\n",
    )
    assert "steps[1].expect.node: got 'win-2'; expected a node of the environment (one)" in gone
    left = errors(
        tmp_path, stem + "  - remove_nodes: {name: win-0}\n  - remove_nodes: {name: ghost}\n"
    )
    assert (
        "steps[1].remove_nodes.name: got 'ghost'; expected a node or node group of the "
        "environment (one, win-1, win-2, group win)"
    ) in left


def test_validate_command_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(STEM + "  - expect: {capacity: 9}\n")
    cli = [sys.executable, "-m", "harness.cli", "scenario", "validate"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "valid scenario 'demo', 22 step(s)" in ok.stdout
    no = subprocess.run([*cli, str(bad)], capture_output=True, text=True, timeout=60)
    assert no.returncode == 2 and "steps[0].expect" in no.stderr and "Traceback" not in no.stderr
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "scenario", "run", str(bad), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == ""
