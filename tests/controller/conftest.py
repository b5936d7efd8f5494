"""Fixtures for the controller's cluster tests: a fake_ec2 process and controller processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PY = sys.executable


def _start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    errf = open(log, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=errf, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"{cmd[2]} did not start: {line!r}; see {log}")
    return proc, line.split("listening on ", 1)[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def fake_ec2(tmp_path: Path) -> Iterator[str]:
    proc, url = _start(
        [PY, "-m", "fake_ec2", "--port", "0", "--seed", "7"], tmp_path / "fake_ec2.log"
    )
    yield url
    _stop(proc)


@pytest.fixture
def start_controller(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(kubeconfig: Path, ec2_url: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
        cmd = [
            PY,
            "-m",
            "controller",
            "--kubeconfig",
            str(kubeconfig),
            "--ec2-endpoint",
            ec2_url,
            "--region",
            "us-west-2",
            "--components",
            "controller",
            "--leader-elect=false",
            "--cooldown-seconds",
            "1",
            "--retry-scale",
            "0.05",
            *extra,
        ]
        proc, url = _start(cmd, tmp_path / f"controller-{len(procs)}.log")
        procs.append(proc)
        return proc, url

    yield start
    for p in procs:
        _stop(p)


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll `cond` until truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
