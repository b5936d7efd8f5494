"""The matplotlib renderer: node-map SVG cells carry their state, PNG files are PNG, the
timeline marks faults, bad formats are refused. Plain data in, files out; no server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.invariants import ClusterState, Eni, NodeState, PodState, Subnet
from harness.pictures.model import build_node_map
from harness.pictures.render import render_node_map, render_timeline

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_groups(path: Path, cls: str) -> list[ET.Element]:
    """The <g> elements of class `cls` in an SVG file."""
    root = ET.parse(path).getroot()
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def _state() -> ClusterState:
    a = Eni("eni-a", "subnet-1", "10.0.0.4", prefixes=("10.0.0.16/28", "10.0.0.48/28"))
    b = Eni("eni-b", "subnet-1", "10.0.0.5", secondary_ips=("10.0.0.6", "10.0.0.7", "10.0.0.8"))
    frag = tuple(f"10.0.{o // 256}.{o % 256}" for o in range(69, 1024, 16))
    return ClusterState(
        nodes=(
            NodeState("win-a", "i-a", "c5.large", 10, True, a),
            NodeState("win-b", "i-b", "m5.large", 10, True, b),
        ),
        pods=(
            PodState("default", "p1", "win-a", "Running", annotation="10.0.0.17/22"),
            PodState("default", "p2", "win-a", "Pending", annotation="10.0.0.50/22"),
            PodState("default", "p3", "win-b", "Running", annotation="10.0.0.7/22"),
        ),
        subnets=(Subnet("subnet-1", "10.0.0.0/22", occupied=frag),),
        enis=(a, b),
    )


def test_node_map_svg_cells_carry_the_model_states(tmp_path: Path) -> None:
    nm = build_node_map(_state(), cooling={"win-a": {"10.0.0.20", "10.0.0.21"}})
    out = render_node_map(nm, tmp_path / "map.svg")
    cells = svg_groups(out, "eni-cell")
    for n in nm.nodes:
        mine = [c for c in cells if c.get("data-node") == n.name]
        assert Counter(c.get("data-state") for c in mine) == {
            k: v for k, v in n.counts().items() if v
        }
        assert [c.get("data-address") for c in mine] == [c.address for c in n.cells()]
    used = {c.get("data-address") for c in cells if c.get("data-state") == "used"}
    assert used == {"10.0.0.17", "10.0.0.50", "10.0.0.7"}
    tips = {c.get("data-address"): c.find(f"{SVG}title") for c in cells}
    assert (
        tips["10.0.0.17"] is not None and tips["10.0.0.17"].text == "10.0.0.17: used (default/p1)"
    )
    blocks = svg_groups(out, "subnet-block")
    assert len(blocks) == 64
    assert Counter(b.get("data-state") for b in blocks) == {
        k: v for k, v in nm.subnets[0].counts().items() if v
    }
    prefix = {b.get("data-cidr") for b in blocks if b.get("data-state") == "prefix"}
    assert prefix == {"10.0.0.16/28", "10.0.0.48/28"}
    tip = next(b for b in blocks if b.get("data-cidr") == "10.0.0.16/28").find(f"{SVG}title")
    assert tip is not None and tip.text == "10.0.0.16/28: prefix, 16 held by win-a"


def test_node_map_png_and_explicit_format(tmp_path: Path) -> None:
    nm = build_node_map(_state())
    png = render_node_map(nm, tmp_path / "sub" / "map.png")
    assert png.read_bytes().startswith(PNG_MAGIC)
    svg_named_dat = render_node_map(nm, tmp_path / "map.dat", fmt="svg")
    assert svg_groups(svg_named_dat, "eni-cell")


def test_same_state_same_svg(tmp_path: Path) -> None:
    nm = build_node_map(_state())
    one = render_node_map(nm, tmp_path / "1.svg").read_bytes()
    two = render_node_map(nm, tmp_path / "2.svg").read_bytes()
    assert one == two


@pytest.mark.parametrize(("name", "fmt"), [("map.jpg", None), ("map", None), ("m.png", "pdf")])
def test_unknown_format_is_refused(tmp_path: Path, name: str, fmt: str | None) -> None:
    with pytest.raises(ValueError, match="expected one of png, svg"):
        render_node_map(build_node_map(_state()), tmp_path / name, fmt)
    assert not (tmp_path / name).exists()


def _report(nodes: int = 2) -> dict[str, Any]:
    samples = []
    for i in range(6):
        samples.append(
            {
                "t": float(i),
                "step": i // 2,
                "pods_pending": max(0, 2 - i),
                "nodes": {
                    f"win-{n}": {
                        "pods_running": i,
                        "pods_pending": 1,
                        "ips_used": i,
                        "ips_warm": 3,
                        "ips_cooling": i % 2,
                        "prefixes": 1,
                    }
                    for n in range(nodes)
                },
                "ec2_calls": {"AssignPrivateIpAddresses": i, "DescribeInstances": 2 * i},
            }
        )
    return {
        "scenario": "demo",
        "timeline": samples,
        "steps": [
            {
                "index": 0,
                "kind": "create_pods",
                "description": "create",
                "t": 0.5,
                "duration_s": 1.0,
            },
            {"index": 1, "kind": "faults", "description": "throttle", "t": 2.0, "duration_s": 0.5},
            {
                "index": 2,
                "kind": "restart",
                "description": "restart controller",
                "t": 3.5,
                "duration_s": 1.0,
            },
        ],
        "events": [{"t": 2.2, "source": "ec2", "reason": "RequestLimitExceeded", "message": ""}],
    }


def test_timeline_marks_each_fault_on_every_panel(tmp_path: Path) -> None:
    out = render_timeline(_report(), tmp_path / "timeline.svg")
    faults = svg_groups(out, "fault")
    panels = 2 * (1 + 2)  # cluster row + one row per node, two panels each
    assert Counter(f.get("data-kind") for f in faults) == {"faults": panels, "restart": panels}
    text = out.read_text()
    assert "Timeline: demo" in text and "AssignPrivateIpAddresses (5)" in text
    assert "EC2 error answers (1)" in text
    png = render_timeline(_report(), tmp_path / "timeline.png")
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_timeline_sums_nodes_beyond_the_shown_rows(tmp_path: Path) -> None:
    out = render_timeline(_report(nodes=9), tmp_path / "t.svg")
    text = out.read_text()
    assert "win-5: pods" in text and "win-6: pods" not in text
    assert "3 more nodes (sum): pods" in text


def test_timeline_without_samples_says_so(tmp_path: Path) -> None:
    out = render_timeline({"scenario": "early-failure", "timeline": []}, tmp_path / "t.svg")
    assert "no samples in the report" in out.read_text()


def test_timeline_bad_report_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"report\.timeline\[0\]\.t"):
        render_timeline({"timeline": [{"t": None}]}, tmp_path / "t.png")
