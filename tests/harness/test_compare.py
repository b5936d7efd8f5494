"""`ekswin scenario run --compare`'s diff, on two synthetic v1 reports (no cluster)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

from harness.scenario.compare import compare, render, summary, table_rows

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "harness/scenario/report.schema.json").read_text()
)


def _node(secondary: list[str], prefixes: list[str], capacity: int, mode: str) -> dict[str, Any]:
    return {
        "instance_id": "i-0123456789abcdef0",
        "instance_type": "m5.large",
        "nitro": True,
        "mode": mode,
        "capacity": capacity,
        "eni": {
            "id": "eni-1",
            "primary_ip": "10.0.0.10",
            "secondary_ips": secondary,
            "prefixes": prefixes,
        },
        "assigned_ips": 1,
        "free_ips": len(secondary) - 1,
        "cooling_ips": 0,
        "hns": {"endpoints": 1, "load_balancers": 0, "lb_failures": 0},
    }


def _report(phases: list[str], events: list[str], calls: dict[str, int]) -> dict[str, Any]:
    items = [
        {"name": f"p{i}", "node": "win-0", "ip": None, "phase": ph} for i, ph in enumerate(phases)
    ]
    return {
        "report_version": 1,
        "scenario": "synthetic",
        "seed": 1,
        "backend": "local",
        "ok": True,
        "duration_s": 1.0,
        "failure": None,
        "nodes": {"win-0": _node(["10.0.0.11", "10.0.0.12", "10.0.0.13"], [], 9, "secondary")},
        "pods": {
            "running": phases.count("Running"),
            "pending": phases.count("Pending"),
            "container_creating": 0,
            "items": items,
        },
        "cooling_ips": 0,
        "invariants": {"ok": True, "violations": []},
        "bundle": None,
        "expectations": [],
        "steps": [],
        "events": [{"t": 0.1, "source": "controller", "reason": r, "message": ""} for r in events],
        "timeline": [
            {"t": 0.0, "step": -1, "nodes": {}, "ec2_calls": {}},
            {"t": 1.0, "step": 0, "nodes": {}, "ec2_calls": calls},
        ],
    }


def test_synthetic_reports_are_v1() -> None:
    jsonschema.validate(_report(["Running"], ["ResourceAllocated"], {"X": 1}), SCHEMA)


def test_identical_reports_have_no_differences() -> None:
    r = _report(["Running", "Running"], ["ResourceAllocated"] * 2, {"DescribeInstances": 1})
    result = compare(r, copy.deepcopy(r))
    assert result["same"] is True and result["differences"] == []
    assert "no differences" in render(result)


def test_differences_by_phase_node_event_and_call() -> None:
    py = _report(
        ["Running", "Running", "Pending"],
        ["ResourceAllocated", "ResourceAllocated", "InsufficientCidrBlocks"],
        {"AssignPrivateIpAddresses": 2, "DescribeInstances": 1},
    )
    up = _report(
        ["Running", "Pending", "Pending"],
        ["ResourceAllocated"],
        {"AssignPrivateIpAddresses": 2, "DescribeInstances": 1, "DescribeNetworkInterfaces": 4},
    )
    up["nodes"]["win-0"] = _node(["10.0.0.11"], ["10.0.0.32/28"], 144, "prefix")
    jsonschema.validate(up, SCHEMA)
    result = compare(py, up)
    rows = {d["key"]: d for d in result["differences"]}
    assert set(rows) == {
        "pods_by_phase.Running",
        "pods_by_phase.Pending",
        "events_by_reason.ResourceAllocated",
        "events_by_reason.InsufficientCidrBlocks",
        "ec2_calls_by_action.DescribeNetworkInterfaces",
        "nodes.win-0.mode",
        "nodes.win-0.capacity",
        "nodes.win-0.secondary_ips",
        "nodes.win-0.prefixes",
        "nodes.win-0.free_ips",
    }
    assert rows["pods_by_phase.Running"] == {
        "key": "pods_by_phase.Running",
        "python": 2,
        "upstream": 1,
        "delta": -1,
    }
    # An action only one side made counts as 0 on the other.
    assert rows["ec2_calls_by_action.DescribeNetworkInterfaces"]["python"] == 0
    assert rows["events_by_reason.InsufficientCidrBlocks"]["upstream"] == 0
    assert rows["nodes.win-0.mode"] == {
        "key": "nodes.win-0.mode",
        "python": "secondary",
        "upstream": "prefix",
    }
    assert result["same"] is False
    assert json.loads(json.dumps(result)) == result  # plain JSON


def test_a_node_only_one_side_has_is_absent_not_zero() -> None:
    py = _report(["Running"], [], {})
    up = copy.deepcopy(py)
    del up["nodes"]["win-0"]
    rows = {d["key"]: d for d in compare(py, up)["differences"]}
    assert rows["nodes.win-0.capacity"] == {
        "key": "nodes.win-0.capacity",
        "python": 9,
        "upstream": None,
    }


def test_table_rows_and_text() -> None:
    py = _report(["Running"], [], {"DescribeSubnets": 1})
    up = _report(["Pending"], [], {"DescribeSubnets": 3})
    result = compare(py, up)
    rows = table_rows(result)
    assert rows[0] == ["what", "python", "upstream", "delta"]
    assert ["ec2_calls_by_action.DescribeSubnets", "1", "3", "+2"] in rows
    text = render(result)
    assert text.startswith("scenario synthetic: 3 difference(s)")
    assert "pods_by_phase.Pending" in text


def test_summary_reads_the_last_timeline_entry() -> None:
    r = _report([], [], {"A": 5})
    assert summary(r)["ec2_calls_by_action"] == {"A": 5}
    r["timeline"] = []
    assert summary(r)["ec2_calls_by_action"] == {}
