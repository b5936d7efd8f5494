"""Shared environments: a scenario run after a deliberately dirty one with an equal spec
reuses its (reset) environment and gets the same report as on a fresh environment."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.scenario import parse_scenario
from harness.scenario.shared import reusable_after, share_key

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

BASE: dict[str, Any] = {
    "version": 1,
    "seed": 4,
    "timing": "fast",
    "vpc": {"cidr": "192.168.0.0/16", "subnets": [{"name": "a", "cidr": "192.168.0.0/24"}]},
    "configmap": {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"},
    "nodes": [{"name": "win", "instance_type": "t3.2xlarge"}],
    "kube_proxy": {"sync_period_s": 2, "min_sync_period_s": 0.5},
}
CLEAN = {
    **BASE,
    "name": "clean",
    "steps": [
        {"expect": {"node": "win", "prefixes": 1, "free_ips": 16}},
        {"create_pods": {"count": 3, "name": "app"}},
        {"expect": {"pods_running": 3}},
        {"create_services": {"count": 2, "name": "web", "type": "NodePort", "selector": "app"}},
        {"expect": {"node": "win", "prefixes": 1, "assigned_ips": 3, "load_balancers": 4}},
    ],
}
DIRTY = {
    **BASE,
    "name": "dirty",
    "steps": [
        {"create_pods": {"count": 20, "name": "junk"}},
        {"create_services": {"count": 5, "name": "junk", "type": "NodePort", "selector": "junk"}},
        {"set_configmap": {"warm-prefix-target": "3"}},
        {"expect": {"node": "win", "prefixes": 5, "timeout": 60}},
        {"reserve_cidr": {"subnet": "a", "cidr": "192.168.0.128/26"}},
        {"fragment": {"subnet": "a", "cidr": "192.168.0.0/26", "every": 16, "offset": 9}},
        {"faults": {"ec2": {"throttle_rate": 0.5}}},
    ],
}


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What must not differ between a fresh and a reused environment."""
    nodes = {
        name: {k: n[k] for k in ("mode", "capacity", "assigned_ips", "free_ips")}
        | {"secondary": len(n["eni"]["secondary_ips"]), "prefixes": len(n["eni"]["prefixes"]),
           "hns": n["hns"]}
        for name, n in report["nodes"].items()
    }  # fmt: skip
    return {
        "ok": report["ok"],
        "nodes": nodes,
        "pods": {k: report["pods"][k] for k in ("running", "pending", "container_creating")},
        "expectations": [(e["step"], e["ok"], e["detail"]) for e in report["expectations"]],
        "invariants": report["invariants"],
    }


def test_dirty_scenario_then_clean_one_reports_as_on_a_fresh_environment(
    run_scenario: Any,
) -> None:
    fresh = run_scenario(copy.deepcopy(CLEAN), fresh=True)
    assert fresh["ok"], fresh["failure"]
    assert fresh["environment"]["reused"] is False
    dirty = run_scenario(copy.deepcopy(DIRTY))
    assert dirty["ok"], dirty["failure"]
    again = run_scenario(copy.deepcopy(CLEAN))
    assert again["environment"]["reused"] is True, "equal specs share the environment"
    assert comparable(again) == comparable(fresh)


def test_share_key_ignores_the_name_and_structural_steps_are_not_reused() -> None:
    clean, dirty = parse_scenario(CLEAN), parse_scenario(DIRTY)
    assert share_key(clean.spec) == share_key(dirty.spec)
    other = parse_scenario({**CLEAN, "seed": 5})
    assert share_key(other.spec) != share_key(clean.spec)
    assert reusable_after(dirty)
    grown = parse_scenario({**BASE, "steps": [{"add_nodes": {"name": "more"}}]})
    assert not reusable_after(grown)
    shrunk = parse_scenario({**BASE, "steps": [{"remove_nodes": {"name": "win"}}]})
    assert not reusable_after(shrunk)
