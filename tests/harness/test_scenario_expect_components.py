"""expect keys evaluated over plain snapshots (no servers): pods the webhook missed and
components not running."""

from __future__ import annotations

from typing import Any

from harness.invariants import ClusterState
from harness.scenario.expect import evaluate
from harness.scenario.snapshot import Snapshot


def snap(pods: list[dict[str, Any]], components: dict[str, str] | None = None) -> Snapshot:
    return Snapshot(0.0, ClusterState(), {}, pods, None, components=components or {})


def row(name: str, state: str, missed: bool = False) -> dict[str, Any]:
    return {"name": name, "state": state, "missed_by_webhook": missed, "node": "win", "ip": None}


def test_pods_missed_by_webhook_counts_the_flagged_pods() -> None:
    s = snap([row("a-0", "running"), row("d-0", "container_creating", True)])
    assert s.missed_by_webhook() == ["d-0"]
    (ok,) = evaluate({"pods_missed_by_webhook": 1}, s, [], [])
    (bad,) = evaluate({"pods_missed_by_webhook": 0}, s, [], [])
    assert ok.ok and not bad.ok and bad.got == 1


def test_components_down_names_what_is_not_running() -> None:
    s = snap([], {"controller": "back-off", "fake-hns": "running", "etcd": "stopped"})
    (out,) = evaluate({"components_down": 0}, s, [], [])
    assert not out.ok and out.got == "2: controller, etcd"
    (all_up,) = evaluate({"components_down": 0}, snap([], {"controller": "running"}), [], [])
    assert all_up.ok and all_up.got == 0
