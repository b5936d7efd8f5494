"""A small soak end to end: 60 pod operations on 2 nodes, a controller SIGKILL and EC2
throttling; its report shows no violation, both faults recovered from (with their
times), the controller's restart, and EC2 calls counted without the soak's own reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.soak.figures import table
from harness.soak.plan import make_plan
from harness.soak.run import Options, Soak

# long: the soak CI job runs the full one (`make soak`); GitHub's local job this short one.
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.long]


def test_small_soak_passes_with_every_figure(tmp_path: Path) -> None:
    kinds = ("controller-kill", "ec2-throttle")
    plan = make_plan(11, ops=60, duration_s=40, max_pods=12, faults=2, kinds=kinds)
    report = Soak(plan, Options(nodes=2, recovery_deadline_s=150), tmp_path / "run").run()
    json.dumps(report)  # the JSON report as written
    assert report["error"] is None, report["error"]
    assert report["invariants"]["violations"] == [] and report["invariants"]["checks"] > 2
    assert report["ops"] == {
        "planned": 60,
        "done": 60,
        "creates": 30,
        "deletes": 30,
        "retried": report["ops"]["retried"],
        "failed": 0,
    }
    faults = report["faults"]
    assert sorted(f["kind"] for f in faults) == sorted(kinds)
    for f in faults:
        assert f["recovered"] and f["recovery_s"] >= 0, f
    throttle = next(f for f in faults if f["kind"] == "ec2-throttle")
    assert throttle["held_s"] >= 8  # the plan's hold range, not cleared early
    assert report["restarts"]["by_component"].get("controller", 0) >= 1
    ec2 = report["ec2"]
    assert ec2["observer_calls_excluded"] > 0  # the soak's reads, told apart by their key
    assert ec2["calls_per_pod"] == round(ec2["calls"] / 30, 2)
    pods = report["pods"]
    assert pods["created"] == 30 and 1 <= pods["peak_living"] <= 12
    assert pods["peak_waiting_for_ip"] >= 0 and pods["missed_by_webhook"] >= 0
    assert report["ok"]
    text = "\n".join(table(report))
    assert "soak PASSED" in text and "controller-kill" in text
