"""`ekswin inspect` against a running environment (one Windows node, prefix delegation):
the SVG's cells say which addresses pods use and which cool down, as the Kubernetes API,
fake_ec2 and the controller say; the terminal grid and the PNG are drawn too."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fake_ec2.admin import AdminClient
from harness.cli import main
from harness.invariants import IP_RESOURCE, annotation_ip
from harness.pictures.terminal import CELL_GLYPHS
from harness.testing import pod_manifest
from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SVG = "{http://www.w3.org/2000/svg}"
PODS = 3


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any) -> Any:
    # A long cool-down, so the deleted pod's address is still cooling when inspected.
    return ekswin_env_factory(
        "pictures",
        windows_nodes=1,
        prefix_delegation=True,
        timing={"profile": "fast", "cooldown_s": 300},
    )


def _annotated(core: Any) -> dict[str, str]:
    out = {}
    for p in core.list_namespaced_pod("default").items:
        ip = annotation_ip((p.metadata.annotations or {}).get(IP_RESOURCE))
        if p.metadata.name.startswith("pic-") and p.status.phase == "Running" and ip:
            out[p.metadata.name] = str(ip)
    return out


def test_inspect_draws_pods_cooling_and_prefixes(
    env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(env.cluster.api)
    node = env.pipeline.nodes[0]["name"]
    for i in range(PODS):
        core.create_namespaced_pod("default", pod_manifest(f"pic-{i}", grace_s=0))
    wait_until(lambda: len(_annotated(core)) == PODS, 120, f"{PODS} Running annotated pods")
    gone_ip = _annotated(core)["pic-0"]
    core.delete_namespaced_pod("pic-0", "default", grace_period_seconds=0)
    controller = env.endpoints["controller"]

    def cooling() -> int:
        return int(_get(f"{controller}/introspect/node?name={node}")["ips"]["cooling"])

    wait_until(lambda: cooling() == 1 and len(_annotated(core)) == PODS - 1, 60, "1 IP cooling")
    running = _annotated(core)
    run_dir = str(env.run_dir)

    svg = tmp_path / "map.svg"
    assert main(["inspect", "--run-dir", run_dir, "--svg", str(svg)]) == 0
    root = ET.parse(svg).getroot()
    cells = [g for g in root.iter(f"{SVG}g") if g.get("class") == "eni-cell"]
    by_state: dict[str, set[str]] = {}
    for c in cells:
        assert c.get("data-node") == node
        by_state.setdefault(c.get("data-state") or "", set()).add(c.get("data-address") or "")
    assert by_state["used"] == set(running.values())
    assert by_state.get("cooling") == {gone_ip}
    # Every address EC2 holds on the node's ENI is a cell, and nothing else is.
    eni_id = env.pipeline.nodes[0]["eni_id"]
    (eni,) = [e for e in AdminClient(env.endpoints["ec2"]).state()["enis"] if e["eni_id"] == eni_id]
    assert eni["prefixes"], "prefix delegation gave the node no /28"
    held = {eni["primary"], *eni["secondaries"]}
    held |= {str(a) for p in eni["prefixes"] for a in ipaddress.IPv4Network(p)}
    assert {c.get("data-address") for c in cells} == held
    assert by_state["reserved"] == {eni["primary"]}
    blocks = [g for g in root.iter(f"{SVG}g") if g.get("class") == "subnet-block"]
    prefix_blocks = {b.get("data-cidr") for b in blocks if b.get("data-state") == "prefix"}
    assert prefix_blocks == set(eni["prefixes"])

    capsys.readouterr()
    assert main(["inspect", "--run-dir", run_dir, "--node", node]) == 0
    text = capsys.readouterr().out
    rows = [ln.split(maxsplit=1) for ln in text.splitlines()]
    grid = "".join(r[1] for r in rows if len(r) == 2 and (r[0] == "IPs" or r[0].endswith("/28")))
    counts = Counter(grid)
    assert counts[CELL_GLYPHS["used"]] == PODS - 1 and counts[CELL_GLYPHS["cooling"]] == 1
    assert f"used {PODS - 1} · free" in text and node in text

    png = tmp_path / "map.png"
    assert main(["inspect", "--run-dir", run_dir, "--node", node, "--png", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    assert main(["inspect", "--run-dir", run_dir, "--node", "nope"]) == 2
    assert "--node: node 'nope' not found" in capsys.readouterr().err
    assert main(["inspect", "--run-dir", run_dir, "--png", str(tmp_path / "x.svg")]) == 2
    assert "--png" in capsys.readouterr().err


def test_inspect_of_nothing_is_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--run-dir", str(tmp_path / "absent")]) == 1
    assert "is not running" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["inspect", "--run-dir", str(tmp_path / "empty")]) == 1
    assert "nodes.json is missing" in capsys.readouterr().err
