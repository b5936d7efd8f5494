"""The standalone server convention: first stdout line, loopback only, SIGTERM stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from typing import Any


def test_first_line_and_sigterm(spawn_fake_ec2: Any) -> None:
    server = spawn_fake_ec2("--seed", "3")  # asserts the first-line convention
    req = urllib.request.Request(f"{server.url}/_ekswin/health", headers={"X-Ekswin-Admin": "1"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    server.popen.terminate()
    try:
        assert server.popen.wait(10) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError("fake_ec2 ignored SIGTERM") from None


def test_non_loopback_host_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fake_ec2", "--port", "0", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert out.returncode == 2
    assert "loopback" in out.stderr and out.stdout == ""
