"""LeaderElector argument checks and defaults (no cluster needed)."""

from __future__ import annotations

import pytest
from kubernetes import client as kclient

from controller.leader import LeaderElector


def make(**kw: object) -> LeaderElector:
    args: dict[str, object] = {
        "namespace": "kube-system",
        "name": "cp-vpc-resource-controller",
        "identity": "me",
        "on_started_leading": lambda: None,
        "on_stopped_leading": lambda: None,
    }
    args.update(kw)
    return LeaderElector(kclient.ApiClient(), **args)  # type: ignore[arg-type]


def test_defaults_are_the_real_controllers() -> None:
    e = make()
    assert (e.lease_duration_s, e.renew_deadline_s, e.retry_period_s) == (30.0, 15.0, 5.0)
    assert not e.is_leader


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"identity": ""}, "identity"),
        ({"lease_duration_s": 10.0, "renew_deadline_s": 10.0}, "lease_duration_s"),
        ({"renew_deadline_s": 6.0, "retry_period_s": 5.0}, "renew_deadline_s"),
        ({"retry_period_s": 0.0}, "retry_period_s"),
    ],
)
def test_inconsistent_timings_are_refused(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make(**kw)


def test_stop_before_run_makes_run_return_without_callbacks() -> None:
    calls: list[str] = []
    e = make(
        on_started_leading=lambda: calls.append("start"),
        on_stopped_leading=lambda: calls.append("stop"),
    )
    e.stop()
    e.run()  # returns at once: never campaigns, never calls back
    assert calls == [] and not e.is_leader
