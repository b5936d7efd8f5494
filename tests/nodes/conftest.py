"""Fixtures for the node-emulation tests: real fake_hns / fake_ec2 processes, the
``ekswin-cni`` binary, node credentials from the session cluster."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CNI_BIN = Path(sys.executable).with_name("ekswin-cni")


class ServerProcess:
    """A `python -m <pkg> --port 0` server in its own process group."""

    def __init__(self, module: str, scheme: str, log: Path) -> None:
        self.log = log
        self.logf = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.logf,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        m = re.match(rf"listening on {scheme}://(\S+)", line)
        if not m:
            self.stop()
            pytest.fail(f"{module} did not start: {line!r}\n{log.read_text()[-2000:]}")
        self.address = m.group(1)

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL after a short grace."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(3)
        self.logf.close()


@pytest.fixture(scope="module")
def fake_hns_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a fresh fake_hns server."""
    pytest.importorskip("fake_hns.client", reason="fake_hns client not available yet")
    server = ServerProcess("fake_hns", "grpc", tmp_path_factory.mktemp("hns") / "fake_hns.log")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="module")
def node_hns(fake_hns_target: str) -> Iterator[Callable[[str], Any]]:
    """Factory: the NodeHns of a new ltsc2019 node `host` on the module's fake_hns
    (closed at teardown)."""
    from harness.hns import NodeHns

    made: list[NodeHns] = []

    def make(host: str) -> NodeHns:
        hns = NodeHns(fake_hns_target, host)
        made.append(hns)
        hns.ensure_host("10.0.17763")
        return hns

    try:
        yield make
    finally:
        for hns in made:
            hns.close()


def run_cni(env: dict[str, str], netconf: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    """Exec the installed ekswin-cni like containerd does; (exit code, stdout JSON)."""
    stdin = netconf if isinstance(netconf, bytes) else json.dumps(netconf).encode()
    full = {"PATH": os.environ.get("PATH", ""), **env}
    proc = subprocess.run(
        [str(CNI_BIN)], input=stdin, env=full, capture_output=True, timeout=120, check=False
    )
    out = proc.stdout.decode().strip()
    return proc.returncode, (json.loads(out) if out else {})


def poll(cond: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll `cond` until truthy or the deadline passes (no bare sleeps in tests)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


@pytest.fixture
def cni() -> Callable[..., tuple[int, dict[str, Any]]]:
    """`run_cni` as a fixture (test modules cannot import conftest under importlib mode)."""
    return run_cni


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """`poll` as a fixture."""
    return poll


@pytest.fixture(scope="module")
def fake_ec2_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http URL of a fresh fake_ec2 server."""
    server = ServerProcess("fake_ec2", "http", tmp_path_factory.mktemp("ec2") / "fake_ec2.log")
    try:
        yield "http://" + server.address
    finally:
        server.stop()
