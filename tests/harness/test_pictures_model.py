"""The pictures' plain-data layer: node cells, subnet /28 blocks, timeline series, the
terminal grid, and the guarantee that the CNI / node paths never import matplotlib.
No server, no plotting."""

from __future__ import annotations

import ipaddress
import math
import subprocess
import sys
from typing import Any

import pytest
from rich.console import Console

from harness.invariants import CidrReservation, ClusterState, Eni, NodeState, PodState, Subnet
from harness.pictures.model import build_node_map, eni_rows, pod_addresses, subnet_blocks
from harness.pictures.terminal import BLOCK_GLYPHS, CELL_GLYPHS, node_map_renderable
from harness.pictures.timeline import timeline_from_report, total


def pod(
    name: str, ip: str | None, *, node: str = "win", phase: str = "Running", **kw: Any
) -> PodState:
    return PodState(
        "default", name, node, phase, pod_ip=ip, annotation=f"{ip}/24" if ip else None, **kw
    )


def node(name: str, eni: Eni | None) -> NodeState:
    return NodeState(name, f"i-{name}", "c5.large", 10, True, eni)


# ------------------------------------------------------------------ node cells
def test_secondary_eni_rows_primary_reserved_then_sixteen_a_row() -> None:
    secondaries = tuple(f"10.0.0.{i}" for i in range(30, 10, -1))  # 20, out of order
    eni = Eni("eni-1", "subnet-1", "10.0.0.4", secondary_ips=secondaries)
    used = {"10.0.0.12": "default/a", "10.0.0.29": "default/b"}
    rows = eni_rows(eni, used, cooling={"10.0.0.13", "10.0.0.12"})
    assert [r.kind for r in rows] == ["addresses", "addresses"]
    assert [len(r.cells) for r in rows] == [16, 5]
    cells = [c for r in rows for c in r.cells]
    assert cells[0].address == "10.0.0.4" and cells[0].state == "reserved"
    assert [c.address for c in cells[1:]] == [f"10.0.0.{i}" for i in range(11, 31)]
    by_addr = {c.address: c for c in cells}
    assert by_addr["10.0.0.12"].state == "used" and by_addr["10.0.0.12"].owner == "default/a"
    assert by_addr["10.0.0.13"].state == "cooling"
    assert by_addr["10.0.0.29"].state == "used"
    assert sum(c.state == "free" for c in cells) == 20 - 3
    assert rows[1].label == "IPs 17-21"


def test_prefix_rows_hold_the_sixteen_addresses_of_each_prefix() -> None:
    eni = Eni("eni-1", "subnet-1", "10.0.0.4", prefixes=("10.0.0.48/28", "10.0.0.16/28"))
    rows = eni_rows(eni, {"10.0.0.50": "default/x"}, cooling={"10.0.0.17"})
    assert [(r.kind, r.label) for r in rows] == [
        ("addresses", "IPs"),
        ("prefix", "10.0.0.16/28"),
        ("prefix", "10.0.0.48/28"),
    ]
    assert [c.address for c in rows[1].cells] == [f"10.0.0.{i}" for i in range(16, 32)]
    assert [c.state for c in rows[2].cells].count("used") == 1
    assert rows[1].cells[1].state == "cooling"


def test_pod_addresses_skip_finished_and_host_network_pods() -> None:
    pods = [
        pod("run", "10.0.0.5"),
        pod("creating", "10.0.0.6", phase="Pending"),
        pod("done", "10.0.0.7", phase="Succeeded"),
        pod("failed", "10.0.0.8", phase="Failed"),
        pod("host", "10.0.0.9", host_network=True),
        PodState("default", "bad", "win", "Running", annotation="not-an-ip"),
    ]
    assert pod_addresses(pods) == {"10.0.0.5": "default/run", "10.0.0.6": "default/creating"}


# ------------------------------------------------------------------ subnet blocks
def test_fragmented_subnet_has_no_free_block() -> None:
    frag = tuple(f"10.0.0.{o}" for o in range(5, 256, 16))  # one address in every /28
    subnet = Subnet("subnet-1", "10.0.0.0/24", occupied=frag)
    eni = Eni("eni-1", "subnet-1", "10.0.0.4", prefixes=())
    blocks = subnet_blocks(subnet, [eni])
    assert blocks.columns == 16 and len(blocks.blocks) == 16
    assert blocks.counts() == {"free": 0, "partial": 16, "prefix": 0, "reserved": 0}
    assert blocks.blocks[0].holders == ("eni-1", "fragment")  # .4 primary, .5 fragment
    assert blocks.blocks[0].held == 2 and blocks.blocks[0].reserved == 4
    assert blocks.blocks[1].holders == ("fragment",)
    assert blocks.available == 256 - 5 - 1 - 16


def test_blocks_prefix_reserved_free_and_reservations() -> None:
    subnet = Subnet(
        "subnet-1",
        "10.0.0.0/24",
        reservations=(
            CidrReservation("10.0.0.64/27", "explicit"),
            CidrReservation("10.0.0.128/26", "prefix"),
        ),
    )
    node_eni = Eni("eni-n", "subnet-1", "10.0.0.20", prefixes=("10.0.0.32/28",))
    other = Eni("eni-o", "subnet-2", "10.0.0.100")  # another subnet's ENI: not counted
    b = subnet_blocks(subnet, [node_eni, other]).blocks
    states = [x.state for x in b]
    assert states[0] == "reserved"  # .0-.3 AWS's, nothing held
    assert states[1] == "partial"  # the primary .20
    assert states[2] == "prefix" and b[2].holders == ("eni-n",) and b[2].held == 16
    assert states[4:6] == ["reserved", "reserved"] and b[4].reservation == "explicit"
    assert states[6] == "free"  # .100 belongs to another subnet's ENI
    assert states[8:12] == ["free"] * 4 and b[8].reservation == "prefix"
    assert states[15] == "reserved"  # .255, the broadcast address
    assert states.count("free") == 16 - 6  # 0, 15 reserved; 1 partial; 2 prefix; 4-5 explicit


def test_large_subnets_are_laid_out_wider() -> None:
    assert subnet_blocks(Subnet("s", "10.0.0.0/20"), []).columns == 16
    assert subnet_blocks(Subnet("s", "192.168.0.0/19"), []).columns == 32
    big = subnet_blocks(Subnet("s", "10.1.0.0/16"), [])
    assert (big.columns, len(big.blocks)) == (64, 4096)
    assert big.blocks[-1].cidr == "10.1.255.240/28"


def test_bad_subnet_cidr_is_named() -> None:
    with pytest.raises(ValueError, match=r"subnet s: bad CIDR '10\.0\.0\.0/33'"):
        subnet_blocks(Subnet("s", "10.0.0.0/33"), [])
    with pytest.raises(ValueError, match="smaller than one /28"):
        subnet_blocks(Subnet("s", "10.0.0.0/29"), [])


def _state() -> ClusterState:
    a = Eni("eni-a", "subnet-1", "10.0.0.4", prefixes=("10.0.0.16/28",))
    b = Eni("eni-b", "subnet-1", "10.0.0.5", secondary_ips=("10.0.0.6", "10.0.0.7"))
    c = Eni("eni-c", "subnet-2", "10.0.1.4")  # no node's
    return ClusterState(
        nodes=(node("win-b", b), node("win-a", a), node("broken", None)),
        pods=(pod("p1", "10.0.0.17", node="win-a"), pod("p2", "10.0.0.6", node="win-b")),
        subnets=(Subnet("subnet-1", "10.0.0.0/24"), Subnet("subnet-2", "10.0.1.0/24")),
        enis=(a, b, c),
    )


def test_node_map_all_nodes_or_one() -> None:
    nm = build_node_map(_state(), cooling={"win-a": {"10.0.0.18"}})
    assert [n.name for n in nm.nodes] == ["broken", "win-a", "win-b"]
    assert [s.subnet_id for s in nm.subnets] == ["subnet-1"]
    counts = {n.name: n.counts() for n in nm.nodes}
    assert counts["win-a"] == {"used": 1, "free": 14, "cooling": 1, "reserved": 1}
    assert counts["win-b"] == {"used": 1, "free": 1, "cooling": 0, "reserved": 1}
    assert nm.nodes[0].rows == () and nm.nodes[0].eni_id is None
    assert nm.node_of_eni == {"eni-a": "win-a", "eni-b": "win-b"}
    one = build_node_map(_state(), node="win-b")
    assert [n.name for n in one.nodes] == ["win-b"] and len(one.subnets) == 1


def test_unknown_node_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"node 'nope' not found \(nodes: win-b, win-a, broken\)"):
        build_node_map(_state(), node="nope")


def test_no_nodes_shows_every_subnet() -> None:
    state = ClusterState(subnets=(Subnet("s1", "10.0.0.0/24"), Subnet("s2", "10.0.1.0/24")))
    assert [s.subnet_id for s in build_node_map(state).subnets] == ["s1", "s2"]


# ------------------------------------------------------------------ terminal
def test_terminal_grid_has_one_glyph_per_cell_and_block() -> None:
    nm = build_node_map(_state(), cooling={"win-a": {"10.0.0.18"}}, node="win-a")
    console = Console(record=True, width=120, color_system=None)
    console.print(node_map_renderable(nm))
    text = console.export_text()
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.strip().startswith(("IPs", "10.0.0.16/28"))]
    grid = "".join(ln.split(maxsplit=1)[1] for ln in rows)
    n = nm.nodes[0]
    for state, glyph in CELL_GLYPHS.items():
        assert grid.count(glyph) == n.counts()[state], state
    subnet_row = next(ln for ln in lines if ln.strip().startswith("10.0.0.0 "))
    blocks = subnet_row.split()[1]
    assert len(blocks) == 16
    for state, glyph in BLOCK_GLYPHS.items():
        assert blocks.count(glyph) == nm.subnets[0].counts()[state], state
    assert "win-a" in text and "used 1 · free 14 · cooling 1 · reserved 1" in text


# ------------------------------------------------------------------ timeline
def _report() -> dict[str, Any]:
    return {
        "scenario": "demo",
        "timeline": [
            {
                "t": 2.0,
                "step": 1,
                "pods_pending": 1,
                "nodes": {
                    "a": {
                        "pods_running": 2,
                        "pods_pending": 1,
                        "ips_used": 3,
                        "ips_warm": 1,
                        "ips_cooling": 0,
                        "prefixes": 1,
                    },
                    "b": {
                        "pods_running": 1,
                        "pods_pending": 0,
                        "ips_used": 1,
                        "ips_warm": 2,
                        "ips_cooling": 1,
                        "prefixes": 0,
                    },
                },
                "ec2_calls": {"AssignPrivateIpAddresses": 3, "DescribeInstances": 2},
            },
            {
                "t": 0.5,
                "step": 0,
                "pods_pending": 0,
                "nodes": {
                    "a": {
                        "pods_running": 0,
                        "pods_pending": 0,
                        "ips_used": 0,
                        "ips_warm": 3,
                        "ips_cooling": 0,
                        "prefixes": 1,
                    }
                },
                "ec2_calls": {"DescribeInstances": 1},
            },
        ],
        "steps": [
            {
                "index": 1,
                "kind": "faults",
                "description": "faults {...}",
                "t": 1.0,
                "duration_s": 0.4,
                "ok": True,
            },
            {
                "index": 0,
                "kind": "create_pods",
                "description": "create",
                "t": 0.2,
                "duration_s": 0.1,
                "ok": False,
            },
        ],
        "events": [
            {"t": 1.2, "source": "ec2", "reason": "RequestLimitExceeded", "message": "..."},
            {"t": 1.3, "source": "kubelet", "reason": "Started", "message": "..."},
        ],
    }


def test_timeline_series_in_time_order_with_missing_nodes_as_nan() -> None:
    tl = timeline_from_report(_report())
    assert tl.scenario == "demo" and tl.t == (0.5, 2.0)
    assert tl.pods_unscheduled == (0.0, 1.0)
    a, b = tl.nodes
    assert (a.name, a.pods_running, a.ips_warm) == ("a", (0.0, 2.0), (3.0, 1.0))
    assert math.isnan(b.ips_used[0]) and b.ips_used[1] == 1.0
    assert tl.ec2_calls == {"AssignPrivateIpAddresses": (0.0, 3.0), "DescribeInstances": (1.0, 2.0)}
    assert [(m.index, m.kind, m.fault, m.ok) for m in tl.steps] == [
        (0, "create_pods", False, False),
        (1, "faults", True, True),
    ]
    assert tl.ec2_errors == ((1.2, "RequestLimitExceeded"),)
    assert total([a.ips_used, b.ips_used]) == (0.0, 4.0)


def test_empty_report_gives_empty_series() -> None:
    tl = timeline_from_report({})
    assert (tl.t, tl.nodes, tl.steps, dict(tl.ec2_calls)) == ((), (), (), {})


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"timeline": {}}, r"report\.timeline: expected a list, got dict"),
        ({"timeline": [{"t": "soon"}]}, r"report\.timeline\[0\]\.t: expected a number, got 'soon'"),
        (
            {"timeline": [{"t": 1, "nodes": {"a": {"ips_used": "3"}}}]},
            r"report\.timeline\[0\]\.nodes\.a\.ips_used: expected a number, got '3'",
        ),
        ({"steps": [{"kind": 3, "t": 0}]}, r"report\.steps\[0\]\.kind: expected a step kind"),
        ({"steps": [{"kind": "wait"}]}, r"report\.steps\[0\]\.t: expected a number, got None"),
        ({"events": [{"source": "ec2", "t": True}]}, r"report\.events\[0\]\.t: expected a number"),
    ],
)
def test_malformed_report_names_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        timeline_from_report(patch)


# ------------------------------------------------------------------ import hygiene
def test_cni_and_node_paths_never_import_matplotlib() -> None:
    """Every module under harness.cni and harness.nodes, the CLI and the pictures' plain
    modules import without matplotlib (the CNI plugin is exec'd per pod: it must stay
    light); the renderer does import it, so the check is real."""
    probe = """
import importlib, pkgutil, sys
import harness.cni, harness.nodes
names = ["harness.cli", "harness.pictures.model", "harness.pictures.timeline",
         "harness.pictures.terminal", "harness.pictures.gather", "harness.pictures.cli"]
for pkg in (harness.cni, harness.nodes):
    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib")
print(len(names), heavy[:3])
import harness.pictures.render
print("render", "matplotlib" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    imported, render = r.stdout.splitlines()
    count, heavy = imported.split(" ", 1)
    assert int(count) > 20 and heavy == "[]", imported
    assert render == "render True"


def test_rows_cover_the_prefix_addresses_exactly() -> None:
    eni = Eni("e", "s", "10.0.0.4", prefixes=("10.0.0.224/28",))
    addrs = [c.address for r in eni_rows(eni, {}) for c in r.cells if r.kind == "prefix"]
    assert addrs == [str(a) for a in ipaddress.IPv4Network("10.0.0.224/28")]


def test_cooling_from_the_controllers_resources_document() -> None:
    from harness.pictures.gather import cooling_from_resources

    doc = {
        "vpc.amazonaws.com/PrivateIPv4Address": {
            "win-a": {"CoolingResources": [{"Resource": {"GroupID": "10.0.0.9",
                                                        "ResourceID": "10.0.0.9"}}]},
            "win-b": {"UsedResources": {}, "WarmResources": {}, "CoolingResources": []},
        },
        "vpc.amazonaws.com/PrivateIPv4AddressFromPrefix": {
            "win-a": {"CoolingResources": [
                {"Resource": {"GroupID": "10.0.0.16/28", "ResourceID": "10.0.0.17/32"},
                 "DeletionTimestamp": "2026-01-01T00:00:00.000000Z"},
                {"Resource": {"GroupID": "10.0.0.16/28", "ResourceID": "garbage"}},
            ]},
            "win-c": {},
        },
    }  # fmt: skip
    assert cooling_from_resources(doc) == {"win-a": {"10.0.0.9", "10.0.0.17"}}
