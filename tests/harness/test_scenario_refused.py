"""Scenario files shipped to be refused (e2e/scenarios/refused/): each is answered with
exit 2 and the field that makes it impossible, before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from harness.spec import SpecError

REFUSED = Path(__file__).parents[2] / "e2e" / "scenarios" / "refused"


def test_ipv6_cluster_with_windows_pods_is_refused_naming_ip_family() -> None:
    path = REFUSED / "ipv6-cluster-windows-pods.yaml"
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    text = str(info.value)
    line = next(
        i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("ip_family:")
    )
    assert f"{path}:{line}: ip_family: got 'ipv6'; expected 'ipv4'" in text
    assert "Windows nodes only in IPv4 clusters" in text
    for command in (["validate"], ["run", "--timing", "fast"]):
        r = subprocess.run(
            [sys.executable, "-m", "harness.cli", "scenario", *command, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2, (command, r.stderr)
        assert "ip_family" in r.stderr and "Traceback" not in r.stderr


def test_ipv4_is_the_default_and_accepted(tmp_path: Path) -> None:
    path = tmp_path / "v4.yaml"
    path.write_text(
        "version: 1\nname: v4\nip_family: ipv4\nnodes: [{name: w}]\n"
        "steps: [{create_pods: {count: 1}}]\n"
    )
    assert load_scenario(path).name == "v4"
