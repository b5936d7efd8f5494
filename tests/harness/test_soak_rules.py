"""The soak's plan and bookkeeping, without servers: a seeded schedule that balances and
stays within bounds, EC2 counting that leaves the soak's own reads out, and which
invariant results count as violations."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from fake_ec2.request_check import access_key_id
from harness.invariants import Violation
from harness.soak.figures import (
    OBSERVER_KEY,
    Ec2Tally,
    PodRow,
    ViolationLog,
    pod_row,
    pods_to_run,
    table,
    waiting_for_ip,
)
from harness.soak.plan import FAULT_KINDS, PlanError, make_plan


def _living(ops: Any) -> tuple[int, int]:
    """(peak, final) number of living pods; fails on a delete of a pod not alive."""
    alive: set[str] = set()
    peak = 0
    for op in ops:
        if op.kind == "create":
            assert op.pod not in alive
            alive.add(op.pod)
        else:
            alive.remove(op.pod)
        peak = max(peak, len(alive))
    return peak, len(alive)


def test_plan_is_seeded_balanced_and_bounded() -> None:
    a = make_plan(4, ops=2000, duration_s=480, max_pods=100, faults=16)
    assert a == make_plan(4, ops=2000, duration_s=480, max_pods=100, faults=16)
    assert a != make_plan(5, ops=2000, duration_s=480, max_pods=100, faults=16)
    assert len(a.ops) == 2000 and a.creates() == 1000
    peak, final = _living(a.ops)
    assert final == 0 and 40 <= peak <= 100
    times = [o.t for o in a.ops]
    assert times == sorted(times) and times[0] > 0 and times[-1] == pytest.approx(480, abs=0.01)
    assert len({round(b - a, 3) for a, b in itertools.pairwise(times)}) > 100  # random


def test_plan_odd_ops_and_tight_bound() -> None:
    plan = make_plan(1, ops=61, duration_s=30, max_pods=3, faults=0)
    assert len(plan.ops) == 60 and plan.faults == ()
    peak, final = _living(plan.ops)
    assert peak <= 3 and final == 0


def test_faults_cover_every_kind_before_repeating() -> None:
    plan = make_plan(2, ops=100, duration_s=100, max_pods=10, faults=len(FAULT_KINDS) + 3)
    kinds = [f.kind for f in plan.faults]
    assert set(kinds[: len(FAULT_KINDS)]) <= set(FAULT_KINDS)
    assert sorted(set(kinds)) == sorted(FAULT_KINDS)
    assert all(5 <= f.t <= 70 for f in plan.faults)
    for f in plan.faults:
        low, high = FAULT_KINDS[f.kind][1]
        assert low <= f.hold_s <= high


def test_plan_with_chosen_kinds() -> None:
    plan = make_plan(2, ops=10, duration_s=10, max_pods=4, faults=3, kinds=("etcd-kill",))
    assert [f.kind for f in plan.faults] == ["etcd-kill"] * 3


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"ops": 1}, "--pods 1"),
        ({"duration_s": 0}, "--duration 0"),
        ({"max_pods": 0}, "--max-pods 0"),
        ({"faults": -1}, "--faults -1"),
        ({"kinds": ("ec2-throttle", "meteor")}, "--kinds meteor: unknown fault kind"),
        ({"kinds": ()}, "--kinds: empty"),
    ],
)
def test_bad_options_are_named(kw: dict[str, Any], needle: str) -> None:
    args: dict[str, Any] = {"ops": 10, "duration_s": 10, "max_pods": 5, "faults": 1, **kw}
    with pytest.raises(PlanError, match=needle):
        make_plan(0, **args)


def test_ec2_tally_leaves_the_soaks_reads_out() -> None:
    tally = Ec2Tally(last_seq=1)
    rows = [
        {"seq": 1, "action": "DescribeInstances", "code": "OK", "access_key": "testing"},
        {"seq": 2, "action": "AssignPrivateIpAddresses", "code": "OK", "access_key": "testing"},
        {"seq": 3, "action": "DescribeInstances", "code": "OK", "access_key": OBSERVER_KEY},
        {"seq": 4, "action": "AssignPrivateIpAddresses", "code": "RequestLimitExceeded"},
    ]
    tally.add(rows)
    tally.add(rows)  # a poll that overlaps the last one counts nothing twice
    assert tally.total == 2 and tally.observer_calls == 1
    assert tally.to_dict(4) == {
        "calls": 2,
        "calls_per_pod": 0.5,
        "by_action": {"AssignPrivateIpAddresses": 2},
        "errors": {"RequestLimitExceeded": 1},
        "observer_calls_excluded": 1,
    }


def test_access_key_from_each_signature_form() -> None:
    auth = "AWS4-HMAC-SHA256 Credential=AKID1/20260101/us-west-2/ec2/aws4_request, Sig=x"
    assert access_key_id({"authorization": auth}, {}) == "AKID1"
    assert access_key_id({}, {"X-Amz-Credential": "AKID2/20260101/x/ec2/aws4_request"}) == "AKID2"
    assert access_key_id({}, {"AWSAccessKeyId": "AKID3"}) == "AKID3"
    assert access_key_id({}, {}) == ""
    assert len(access_key_id({}, {"AWSAccessKeyId": "K" * 5000})) < 100


def _v(id_: str, node: str = "win-0", msg: str = "m") -> Violation:
    return Violation(id_, node, msg)


def test_a_violation_counts_when_seen_twice_in_a_row() -> None:
    log = ViolationLog()
    log.add(1, [_v("no-duplicate-ip")], fault_active=False)
    log.add(2, [], fault_active=False)
    log.add(3, [_v("no-duplicate-ip")], fault_active=False)
    assert log.to_dict()["violations"] == []
    log.add(4, [_v("no-duplicate-ip")], fault_active=False)
    out = log.to_dict()
    assert [(v["id"], v["t"]) for v in out["violations"]] == [("no-duplicate-ip", 4)]
    assert out["seen_once"] == {"no-duplicate-ip": 3} and out["checks"] == 4


def test_during_a_fault_only_safety_invariants_count() -> None:
    log = ViolationLog()
    for t in (1, 2):
        log.add(t, [_v("annotation-podip-hns-agree"), _v("ip-in-eni")], fault_active=True)
    assert [v["id"] for v in log.to_dict()["violations"]] == ["ip-in-eni"]
    log.add(3, [_v("annotation-podip-hns-agree")], fault_active=False)
    assert len(log.to_dict()["violations"]) == 2


def test_the_final_check_counts_everything() -> None:
    log = ViolationLog()
    log.final(9, [_v("no-leak-after-cooldown")])
    assert [v["id"] for v in log.to_dict()["violations"]] == ["no-leak-after-cooldown"]


def _pod(
    name: str,
    *,
    node: str | None = "win-0",
    phase: str = "Pending",
    ip: str | None = None,
    request: bool = True,
    deleting: bool = False,
) -> Any:
    limits = {"vpc.amazonaws.com/PrivateIPv4Address": "1"} if request else {}
    return SimpleNamespace(
        metadata=SimpleNamespace(
            name=name,
            annotations={"vpc.amazonaws.com/PrivateIPv4Address": ip} if ip else None,
            deletion_timestamp="now" if deleting else None,
        ),
        spec=SimpleNamespace(
            node_name=node,
            containers=[SimpleNamespace(resources=SimpleNamespace(limits=limits, requests=None))],
        ),
        status=SimpleNamespace(phase=phase),
    )


def test_waiting_and_must_run() -> None:
    rows: list[PodRow] = [
        pod_row(_pod("wait")),  # scheduled, asks, no IP: waiting
        pod_row(_pod("unscheduled", node=None)),
        pod_row(_pod("has-ip", ip="192.168.0.9")),  # sandbox under way
        pod_row(_pod("missed", request=False)),  # admitted without the webhook
        pod_row(_pod("going", deleting=True)),
        pod_row(_pod("up", phase="Running", ip="192.168.0.10")),
        pod_row(_pod("late")),
    ]
    assert waiting_for_ip(rows) == 2
    before = {"wait", "unscheduled", "has-ip", "missed", "going", "up"}
    assert pods_to_run(rows, before) == ["has-ip", "unscheduled", "wait"]


def test_table_shows_each_fault_and_the_headline() -> None:
    report: dict[str, Any] = {
        "ok": False,
        "seed": 1,
        "nodes": 5,
        "timing": "fast",
        "duration_s": 500.0,
        "start_s": 90.0,
        "cpu": {"cores": 2, "load_start": 3.0, "load_end": 9.5},
        "ops": {"done": 20, "planned": 20, "creates": 10, "deletes": 10, "retried": 2, "failed": 0},
        "pods": {"peak_living": 7, "peak_waiting_for_ip": 3, "missed_by_webhook": 1},
        "ec2": {"calls": 30, "calls_per_pod": 3.0, "errors": {"InternalError": 4}},
        "restarts": {"total": 1, "by_component": {"controller": 1, "etcd": 0}},
        "invariants": {"checks": 9, "violations": []},
        "faults": [
            {
                "t": 10.0,
                "kind": "controller-kill",
                "held_s": 0.0,
                "recovered": True,
                "recovery_s": 4.2,
            },
            {
                "t": 40.0,
                "kind": "ec2-throttle",
                "held_s": 9.0,
                "ec2_errors": 17,
                "during_churn": False,
                "recovered": False,
                "recovery_s": None,
            },
        ],
        "error": None,
    }
    text = "\n".join(table(report))
    assert "soak FAILED" in text and "3.0 per pod" in text and "InternalError 4" in text
    assert "peak 3 waiting for an IP" in text and "1 survived (controller 1)" in text
    assert "controller-kill" in text and "4.2 s" in text and "NOT RECOVERED" in text
    throttle_row = next(line for line in text.splitlines() if "ec2-throttle" in line)
    assert " 17 " in throttle_row and " no " in throttle_row


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--pods", "1"], "--pods 1: expected at least 2"),
        (["--nodes", "0"], "--nodes 0: expected at least 1"),
        (["--faults", "2", "--kinds", "ec2-throttle,meteor"], "--kinds meteor"),
    ],
)
def test_bad_options_exit_2_with_the_option_named(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.soak.__main__ import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_plan_option_prints_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from harness.soak.__main__ import main

    assert main(["--plan", "--pods", "20", "--nodes", "2", "--faults", "3", "--seed", "9"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["ops"] == 20 and plan["creates"] == 10 and plan["max_pods"] == 40
    assert len(plan["faults"]) == 3 and plan["seed"] == 9
