"""Repro bundles end to end: a deliberately broken scenario writes a bundle with every
part and no path of this machine, its zip replays on a fresh environment with exit 0,
and the same bundle edited to fail at another step replays with exit 1. The run's
`--html` page inlines both pictures and loads nothing from anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scenario.bundle import PARTS
from harness.scenario.report import validate_report

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

BROKEN = """\
version: 1
name: bundle-broken
seed: 7
timing: fast
configmap: {enable-windows-ipam: "true"}
nodes:
  - {name: win, instance_type: m5.large}
steps:
  - create_pods: {count: 1}
  - expect: {pods_running: 1, timeout: 60}
  - expect: {pods_running: 2, timeout: 3}
"""


def _ekswin(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EKSWIN_STATE_DIR": str(tmp / "state")}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _machine_paths(tmp: Path) -> list[str]:
    checkout = Path(__file__).resolve().parents[2]
    return [str(tmp), str(tmp.resolve()), str(Path.home()), str(checkout), sys.prefix]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bundle")
    (tmp / "broken.yaml").write_text(BROKEN)
    r = _ekswin(
        tmp,
        "scenario",
        "run",
        str(tmp / "broken.yaml"),
        "--json",
        "-",
        "--bundle-dir",
        str(tmp / "bundle"),
        "--zip",
        "--html",
        str(tmp / "page.html"),
    )
    assert r.returncode == 1, r.stderr[-3000:]
    return {"tmp": tmp, "report": json.loads(r.stdout), "stderr": r.stderr}


def test_a_failed_run_writes_a_complete_self_contained_bundle(broken_run: dict[str, Any]) -> None:
    tmp, report = broken_run["tmp"], broken_run["report"]
    bundle = tmp / "bundle"
    validate_report(report)
    assert report["bundle"] == str(bundle.resolve())
    assert f"bundle: {bundle.resolve()}" in broken_run["stderr"]
    assert report["failure"] == {
        "kind": "expectation",
        "step": 2,
        "key": "pods_running",
        "node": None,
        "detail": "pods_running: 1, expected 2",
    }
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["failure"] == report["failure"] and manifest["seed"] == 7
    absent = {k: v for k, v in manifest["parts"].items() if not v["present"]}
    assert set(manifest["parts"]) == set(PARTS) and not absent, absent
    for part in manifest["parts"].values():
        for rel in part["files"]:
            assert (bundle / rel).is_file(), rel
    # the scenario as written, the resolved spec, the versions
    assert yaml.safe_load((bundle / "scenario.yaml").read_text())["steps"][2] == {
        "expect": {"pods_running": 2, "timeout": 3}
    }
    spec = json.loads((bundle / "spec.json").read_text())
    assert spec["seed"] == 7 and spec["nodes"][0]["instance_type"] == "m5.large"
    versions = json.loads((bundle / "versions.json").read_text())
    assert versions["kubernetes"].startswith("v1.") and versions["moto"] and versions["python"]
    # the EC2 request log: the controller gave the node its secondary IPs
    actions = {row["action"] for row in json.loads((bundle / "ec2/requests.json").read_text())}
    assert "AssignPrivateIpAddresses" in actions, actions
    # HNS per node and the controller's introspection, at the failure and at the end
    for moment in ("failure", "end"):
        hns = json.loads((bundle / f"hns/{moment}/win.json").read_text())
        assert len(hns["endpoints"]) == 1, hns
        summary = json.loads((bundle / f"introspection/{moment}/summary.json").read_text())
        assert [n["name"] for n in summary["nodes"]] == ["win"]
        assert json.loads((bundle / f"introspection/{moment}/node-win.json").read_text())
    # no pod waits for an IP (the one pod has its own); the pools as upstream shows them
    assert json.loads((bundle / "introspection/end/pods.json").read_text()) == {
        "pods": [],
        "count": 0,
    }
    pools = json.loads((bundle / "introspection/end/resources-all.json").read_text())
    assert "win" in json.dumps(pools), pools
    assert (bundle / "logs/controller.log").stat().st_size > 0
    assert (bundle / "logs/kube-apiserver.log").stat().st_size > 0
    for name in ("node-map", "timeline"):
        assert (bundle / f"pictures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (bundle / f"pictures/{name}.svg").read_text()
    assert (bundle / "report.html").read_text().count("<svg") == 2
    inner = json.loads((bundle / "report.json").read_text())
    assert inner["bundle"] == "." and inner["failure"] == report["failure"]
    # no path of this machine anywhere (the logs name the run directory as <run-dir>)
    paths = _machine_paths(tmp)
    for f in bundle.rglob("*"):
        assert not f.is_symlink(), f
        if f.is_file():
            data = f.read_bytes()
            leaked = [p for p in paths if p.encode() in data]
            assert not leaked, (f, leaked)
    assert "<run-dir>" in (bundle / "logs/kube-apiserver.log").read_text()
    with zipfile.ZipFile(tmp / "bundle.zip") as z:
        assert "bundle/bundle.json" in z.namelist()


def test_the_html_page_is_self_contained(broken_run: dict[str, Any]) -> None:
    page = (broken_run["tmp"] / "page.html").read_text()
    assert page.count("<svg") == 2  # the address map and the timeline, inline
    assert 'class="eni-cell"' in page and 'data-state="used"' in page
    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page
    assert "pods_running: 1, expected 2" in page and "FAILED" in page


def test_the_bundle_replays_and_an_edited_one_does_not(broken_run: dict[str, Any]) -> None:
    tmp = broken_run["tmp"]
    r = _ekswin(tmp, "scenario", "replay", str(tmp / "bundle.zip"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "reproduced" in r.stderr
    # the same bundle made to fail one step earlier: not the recorded failure
    edited = tmp / "bundle"
    doc = yaml.safe_load((edited / "scenario.yaml").read_text())
    doc["steps"][1] = {"expect": {"pods_running": 3, "timeout": 3}}
    (edited / "scenario.yaml").write_text(yaml.safe_dump(doc))
    r = _ekswin(tmp, "scenario", "replay", str(edited), "--json", "-")
    assert r.returncode == 1, r.stderr[-3000:]
    replayed = json.loads(r.stdout)
    assert replayed["failure"]["step"] == 1 and replayed["failure"]["key"] == "pods_running"
    assert "not reproduced" in r.stderr


def test_keep_writes_a_bundle_of_a_passing_run_which_replays_passing(tmp_path: Path) -> None:
    passing = BROKEN.replace("  - expect: {pods_running: 2, timeout: 3}\n", "")
    (tmp_path / "passing.yaml").write_text(passing)
    r = _ekswin(tmp_path, "scenario", "run", str(tmp_path / "passing.yaml"), "--keep")
    assert r.returncode == 0, r.stderr[-3000:]
    bundles = list((tmp_path / "state" / "_bundles").iterdir())  # the default place
    assert len(bundles) == 1 and bundles[0].name.startswith("bundle-broken-"), bundles
    manifest = json.loads((bundles[0] / "bundle.json").read_text())
    assert manifest["ok"] is True and manifest["failure"] is None
    assert [c["moment"] for c in manifest["captures"]] == ["end"]  # nothing failed
    r = _ekswin(tmp_path, "scenario", "replay", str(bundles[0]))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "recorded: no failure" in r.stderr and "replayed: no failure" in r.stderr
