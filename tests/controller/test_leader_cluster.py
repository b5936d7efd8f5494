"""Lease leader election against the real kube-apiserver (ekswin_cluster)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient

from controller.leader import LeaderElector
from harness.waiting import wait_until

pytestmark = pytest.mark.cluster

NS = "kube-system"
# Scaled-down timings (real: 30 / 15 / 5 s): renew deadline > 1.2 x retry period.
FAST = {"lease_duration_s": 2.0, "renew_deadline_s": 1.5, "retry_period_s": 0.25}


class Candidate:
    """A LeaderElector running in a thread, recording its callbacks."""

    def __init__(self, api: Any, lease: str, identity: str, **timing: float) -> None:
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.elector = LeaderElector(
            api,
            namespace=NS,
            name=lease,
            identity=identity,
            on_started_leading=self.started.set,
            on_stopped_leading=self.stopped.set,
            **(timing or FAST),
        )
        self.thread = threading.Thread(target=self.elector.run, daemon=True)
        self.thread.start()


@pytest.fixture
def lease(ekswin_cluster: Any) -> Iterator[str]:
    """A unique Lease name in kube-system, deleted afterwards."""
    name = f"test-leader-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(Exception):
        kclient.CoordinationV1Api(ekswin_cluster.api).delete_namespaced_lease(name, NS)


@pytest.fixture
def candidates(ekswin_cluster: Any, lease: str) -> Iterator[Callable[..., Candidate]]:
    started: list[Candidate] = []

    def make(identity: str, **timing: float) -> Candidate:
        c = Candidate(ekswin_cluster.api, lease, identity, **timing)
        started.append(c)
        return c

    yield make
    for c in started:
        c.elector.stop(release=False)
        c.thread.join(timeout=10)


def read_lease(api: Any, name: str) -> Any:
    return kclient.CoordinationV1Api(api).read_namespaced_lease(name, NS).spec


def test_one_leads_and_the_other_takes_over_after_a_crash(
    ekswin_cluster: Any, lease: str, candidates: Callable[..., Candidate]
) -> None:
    a, b = candidates("a"), candidates("b")
    wait_until(lambda: a.elector.is_leader or b.elector.is_leader, 20, "a leader")
    leader, other = (a, b) if a.elector.is_leader else (b, a)
    assert leader.started.wait(5)
    spec = read_lease(ekswin_cluster.api, lease)
    assert spec.holder_identity == leader.elector.identity
    assert spec.lease_duration_seconds == 2
    assert spec.lease_transitions == 0
    acquired = spec.acquire_time
    # Renewals move renewTime but keep acquireTime; the other stays a follower.
    first_renew = spec.renew_time
    wait_until(
        lambda: read_lease(ekswin_cluster.api, lease).renew_time > first_renew, 10, "a renewal"
    )
    spec = read_lease(ekswin_cluster.api, lease)
    assert spec.acquire_time == acquired and spec.holder_identity == leader.elector.identity
    assert not other.elector.is_leader and not other.started.is_set()

    leader.elector.stop(release=False)  # crash: the Lease is left to expire
    assert leader.stopped.wait(10)
    assert not leader.elector.is_leader
    wait_until(lambda: other.elector.is_leader, 20, "the follower to take over")
    assert other.started.wait(5)
    spec = read_lease(ekswin_cluster.api, lease)
    assert spec.holder_identity == other.elector.identity
    assert spec.lease_transitions == 1
    assert spec.acquire_time > acquired


def test_stop_releases_the_lease(
    ekswin_cluster: Any, lease: str, candidates: Callable[..., Candidate]
) -> None:
    slow = {"lease_duration_s": 60.0, "renew_deadline_s": 10.0, "retry_period_s": 0.25}
    a = candidates("a", **slow)
    wait_until(lambda: a.elector.is_leader, 20, "a to lead")
    b = candidates("b", **slow)
    a.elector.stop()  # release: b need not wait the 60 s lease out
    assert a.stopped.wait(10)
    spec = read_lease(ekswin_cluster.api, lease)
    assert spec.holder_identity in ("", None, "b")
    wait_until(lambda: b.elector.is_leader, 20, "b to take the released lease")
    assert read_lease(ekswin_cluster.api, lease).holder_identity == "b"


def test_leadership_is_lost_when_renewal_fails(
    ekswin_cluster: Any, lease: str, candidates: Callable[..., Candidate]
) -> None:
    a = candidates("a")
    wait_until(lambda: a.elector.is_leader, 20, "a to lead")
    # Someone else overwrites the Lease with a long term: a's optimistic update now
    # conflicts, the re-read shows an unexpired foreign holder, the deadline passes.
    api = kclient.CoordinationV1Api(ekswin_cluster.api)

    def steal() -> bool:
        cur = api.read_namespaced_lease(lease, NS)
        cur.spec.holder_identity = "intruder"
        cur.spec.lease_duration_seconds = 3600
        try:
            api.replace_namespaced_lease(lease, NS, cur)
            return True
        except kclient.ApiException as e:
            if e.status == 409:
                return False
            raise

    wait_until(steal, 10, "overwriting the lease")
    assert a.stopped.wait(20), "on_stopped_leading not called after the renew deadline"
    assert not a.elector.is_leader
    assert read_lease(ekswin_cluster.api, lease).holder_identity == "intruder"


ELECTOR_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from harness.identity import api_client
    from controller.leader import LeaderElector
    kubeconfig, lease, ident = sys.argv[1:4]
    done = threading.Event()
    e = LeaderElector(api_client(kubeconfig), namespace="kube-system", name=lease,
        identity=ident, lease_duration_s=2, renew_deadline_s=1.5, retry_period_s=0.25,
        on_started_leading=lambda: print("leading", flush=True),
        on_stopped_leading=done.set)
    print("started", flush=True)
    e.run()
    """
)


def test_killed_leader_process_is_replaced(
    ekswin_cluster: Any, lease: str, candidates: Callable[..., Candidate], tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ELECTOR_SCRIPT, str(ekswin_cluster.kubeconfig), lease, "proc"],
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "elector.log", "w"),  # noqa: SIM115 - closed with the process
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        assert proc.stdout.readline().strip() == "leading"
        b = candidates("b")
        wait_until(
            lambda: read_lease(ekswin_cluster.api, lease).holder_identity == "proc",
            10,
            "the process to hold the lease",
        )
        assert not b.elector.is_leader
        os.killpg(proc.pid, signal.SIGKILL)  # no release
        proc.wait(timeout=10)
        wait_until(lambda: b.elector.is_leader, 20, "b to take over from the killed process")
        spec = read_lease(ekswin_cluster.api, lease)
        assert spec.holder_identity == "b" and spec.lease_transitions == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
