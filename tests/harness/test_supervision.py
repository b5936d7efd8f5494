"""Supervision of real child processes: death noticed and reaped, restart with back-off,
restarts off, a requested stop respected, `ekswin restart` requests."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.components import Component, ListeningLine
from harness.process import Supervisor
from harness.supervision import REQUESTS_DIR, BackOff, Supervision, by_component, read_state
from harness.waiting import WaitTimeout, wait_until

SERVER = "import time; print('listening on test://x', flush=True); time.sleep(600)"


def _zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False  # reaped: gone from the process table
    return fields[0] == "Z"


@pytest.fixture
def watched(tmp_path: Path) -> Any:
    sup = Supervisor(tmp_path)
    sv = Supervision(sup, tmp_path)
    events: list[tuple[str, str]] = []
    sv.listeners.append(lambda reason, message: events.append((reason, message)))

    def add(name: str, component: str = "controller", enabled: bool = True) -> Component:
        comp = Component(name, [sys.executable, "-c", SERVER], ListeningLine()).start(sup)
        comp.wait_ready(20)
        sv.add(
            component,
            comp,
            lambda: comp.restart(20),
            enabled=enabled,
            backoff_initial_s=0.2,
            backoff_max_s=1.0,
        )
        return comp

    yield sv, add, events
    sv.stop()
    sup.stop_all()
    sv.close()


def test_backoff_doubles_to_its_cap_and_resets_after_a_long_run() -> None:
    b = BackOff(10.0, 300.0)
    assert [b.next(1.0) for _ in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert b.next(600.0) == 10  # ran twice the cap without crashing: from the start


def test_a_killed_process_is_reaped_logged_and_restarted(watched: Any, tmp_path: Path) -> None:
    sv, add, events = watched
    comp = add("controller")
    sv.start()
    pid = comp.process.pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: ("Died", f"controller (controller, pid {pid}) killed by signal SIGKILL")
               in events, 10, "the death logged with its signal")  # fmt: skip
    assert not _zombie(pid)
    wait_until(lambda: sv.units["controller"].restarts == 1, 20, "one restart")
    assert any(r == "BackOff" and "Back-off 0.2s" in m for r, m in events)
    assert comp.alive() and comp.process.pid != pid
    wait_until(lambda: read_state(tmp_path)["units"]["controller"]["state"] == "running", 5, "")
    summary = by_component(read_state(tmp_path))["controller"]
    assert summary["restarts"] == 1 and summary["last_exit"] == "killed by signal SIGKILL"
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    assert "Died: controller" in log and "Restarted: controller" in log
    # A second crash waits twice as long.
    os.kill(comp.process.pid, signal.SIGKILL)
    wait_until(lambda: sv.units["controller"].restarts == 2, 20, "a second restart")
    assert any(r == "BackOff" and "Back-off 0.4s" in m for r, m in events)


def test_restarts_off_leave_it_down_and_a_requested_stop_is_kept(watched: Any) -> None:
    sv, add, events = watched
    off = add("fake-hns", "fake_hns", enabled=False)
    stopped = add("etcd", "etcd")
    sv.start()
    os.kill(off.process.pid, signal.SIGTERM)
    wait_until(lambda: sv.units["fake-hns"].state == "down", 10, "fake_hns down")
    assert sv.units["fake-hns"].last_exit == "killed by signal SIGTERM"
    with sv.lock:  # as a scenario `stop` step does
        stopped.stop()
    wait_until(lambda: sv.units["etcd"].state == "stopped", 10, "etcd stopped")
    # Neither comes back on its own: wait out several back-offs.
    wait_until(lambda: sum(r == "NotRestarted" for r, _ in events) == 1, 5, "NotRestarted")
    with pytest.raises(WaitTimeout):
        wait_until(lambda: off.alive() or stopped.alive(), 2.0, "a restart nobody wants")
    assert sv.units["etcd"].restarts == sv.units["fake-hns"].restarts == 0
    # `start` (the scenario) brings it back; the supervisor sees it running again.
    with sv.lock:
        stopped.restart(20)
    wait_until(lambda: sv.units["etcd"].state == "running", 10, "etcd running")


def test_a_restart_request_file_restarts_the_component(watched: Any, tmp_path: Path) -> None:
    sv, add, events = watched
    comp = add("fake-hns", "fake_hns", enabled=False)
    sv.start()
    pid = comp.process.pid
    (tmp_path / REQUESTS_DIR / "restart-1.json").write_text(
        json.dumps({"id": "r1", "component": "fake_hns"})
    )
    wait_until(lambda: sv.units["fake-hns"].restarts == 1, 20, "restarted on request")
    assert comp.alive() and comp.process.pid != pid and not _zombie(pid)
    assert read_state(tmp_path)["handled_requests"][-1]["id"] == "r1"
    assert ("RestartRequested", "fake_hns (fake-hns) restart requested") in events


def test_the_spec_turns_restarts_off_per_component_and_names_a_bad_one() -> None:
    from harness.spec import SpecError, parse_spec

    spec = parse_spec({"version": 1, "supervision": {"restart": {"fake_hns": False}}}, "t")
    assert not spec.supervision.restarts("fake_hns") and spec.supervision.restarts("etcd")
    assert parse_spec(spec.to_dict(), "again").supervision == spec.supervision
    with pytest.raises(SpecError, match=r"supervision\.restart") as bad:
        parse_spec({"version": 1, "supervision": {"restart": {"fake-ec2": False}}}, "t")
    assert "fake-ec2" in str(bad.value)


def test_on_gone_runs_after_a_death_and_after_a_requested_stop(tmp_path: Path) -> None:
    """The hook a controller replica's webhook hand-over hangs on: called once per death
    and once per stop, never while the process runs."""
    sup = Supervisor(tmp_path)
    sv = Supervision(sup, tmp_path)
    gone: list[str] = []
    comp = Component("controller-1", [sys.executable, "-c", SERVER], ListeningLine()).start(sup)
    comp.wait_ready(20)
    sv.add(
        "controller",
        comp,
        lambda: comp.restart(20),
        enabled=True,
        backoff_initial_s=0.2,
        backoff_max_s=1.0,
        on_gone=lambda: gone.append("gone"),
    )
    sv.start()
    try:
        os.kill(comp.process.pid, signal.SIGKILL)
        wait_until(lambda: gone == ["gone"], 10, "on_gone after the death")
        wait_until(lambda: sv.units["controller-1"].restarts == 1, 20, "restarted")
        assert gone == ["gone"]
        with sv.lock:
            comp.stop()
        wait_until(lambda: gone == ["gone", "gone"], 10, "on_gone after the stop")
    finally:
        sv.stop()
        sup.stop_all()
        sv.close()
