"""Bundles without a cluster: what counts as the same failure, bad bundles (exit 2,
naming the file), path scrubbing, and the HTML page's parts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.scenario.bundle import (
    BUNDLE_VERSION,
    BundleError,
    Scrubber,
    read_bundle,
    replay_scenario,
)
from harness.scenario.html import render_html, write_index
from harness.scenario.replay import ReplayResult, failure_signature

SCENARIO = {
    "version": 1,
    "name": "tiny",
    "seed": 3,
    "timing": "fast",
    "configmap": {"enable-windows-ipam": "true"},
    "nodes": [{"name": "win", "instance_type": "m5.large"}],
    "steps": [{"create_pods": {"count": 1}}, {"expect": {"pods_running": 2, "timeout": 3}}],
}
FAILURE = {"kind": "expectation", "step": 1, "key": "pods_running", "node": None, "detail": "x"}


def _bundle(root: Path, **changes: Any) -> Path:
    """A minimal bundle as write_bundle lays it out (the files replay reads)."""
    from harness.scenario.load import parse_scenario

    spec = parse_scenario(SCENARIO).spec.to_dict()
    root.mkdir()
    manifest = {"bundle_version": BUNDLE_VERSION, "scenario": "tiny", "parts": {}}
    (root / "bundle.json").write_text(json.dumps({**manifest, **changes.get("manifest", {})}))
    (root / "scenario.yaml").write_text(yaml.safe_dump(changes.get("scenario", SCENARIO)))
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "report.json").write_text(json.dumps({"failure": FAILURE, "ok": False}))
    return root


def test_same_failure_means_kind_step_key_and_node() -> None:
    same = {**FAILURE, "detail": "pods_running: 0, expected 2"}  # values may differ
    assert ReplayResult(FAILURE, same, {}).reproduced
    for other in (
        {**FAILURE, "step": 2},
        {**FAILURE, "key": "pods_pending"},
        {**FAILURE, "node": "win"},
        {**FAILURE, "kind": "invariant", "invariant": "pods_running"},
        None,
    ):
        assert not ReplayResult(FAILURE, other, {}).reproduced, other
    inv = {"kind": "invariant", "step": None, "invariant": "no-leak", "node": "a", "detail": ""}
    assert failure_signature(inv) == ("invariant", None, "no-leak", "a")
    assert not ReplayResult(inv, {**inv, "node": "b"}, {}).reproduced
    assert ReplayResult(None, None, {}).reproduced  # a passing bundle passes again


def test_replay_uses_the_recorded_spec_and_the_bundles_steps(tmp_path: Path) -> None:
    root = _bundle(tmp_path / "b")
    spec = json.loads((root / "spec.json").read_text())
    spec["seed"] = 99  # as a --seed override would have recorded it
    (root / "spec.json").write_text(json.dumps(spec))
    scenario = replay_scenario(read_bundle(root))
    assert scenario.spec.seed == 99 and scenario.spec.timing.profile == "fast"
    assert [s.kind for s in scenario.steps] == ["create_pods", "expect"]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda r: (r / "bundle.json").unlink(), "bundle.json is missing"),
        (lambda r: (r / "bundle.json").write_text("{"), "bundle.json: not readable JSON"),
        (
            lambda r: (r / "bundle.json").write_text('{"bundle_version": 7}'),
            "bundle_version 7; expected 1",
        ),
        (lambda r: (r / "scenario.yaml").unlink(), "scenario.yaml is missing"),
        (lambda r: (r / "report.json").write_text("[]"), "expected a spec and a report"),
        (
            lambda r: (r / "scenario.yaml").write_text(
                yaml.safe_dump({**SCENARIO, "steps": [{"expect": {"pods_running": "two"}}]})
            ),
            "steps[0].expect.pods_running",
        ),
    ],
)
def test_a_bad_bundle_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], break_it: Any, message: str
) -> None:
    root = _bundle(tmp_path / "b")
    break_it(root)
    with pytest.raises(BundleError, match=None):
        replay_scenario(read_bundle(root))
    assert main(["scenario", "replay", str(root)]) == 2
    err = capsys.readouterr().err
    assert "bad bundle" in err and message in err, err


def test_not_a_bundle_at_all_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "replay", str(tmp_path / "nothing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "b.zip").write_text("not a zip")
    assert main(["scenario", "replay", str(tmp_path / "b.zip")]) == 2
    assert "not a readable zip file" in capsys.readouterr().err


def test_scrubber_rewrites_the_machines_paths(tmp_path: Path) -> None:
    run_dir = tmp_path / "state" / "_scenarios" / "tiny"
    scrub = Scrubber([run_dir], tmp_path / "bundle")
    text = scrub.text(
        f"--kubeconfig={run_dir}/kubeconfig bin {Path.home()}/.cache/x "
        f"python {sys.prefix}/bin/python bundle {tmp_path}/bundle/report.json"
    )
    assert text == (
        "--kubeconfig=<run-dir>/kubeconfig bin ~/.cache/x python <python>/bin/python "
        "bundle ./report.json"
    )


def _report() -> dict[str, Any]:
    return {
        "scenario": "tiny",
        "ok": False,
        "seed": 3,
        "timing": "fast",
        "duration_s": 12.5,
        "error": None,
        "failure": {**FAILURE, "detail": "pods_running: 1, expected 2"},
        "nodes": {"win": {"instance_type": "m5.large", "mode": "secondary", "capacity": 9}},
        "pods": {"running": 1, "pending": 0, "items": []},
        "cooling_ips": 0,
        "invariants": {"ok": True, "violations": []},
        "bundle": None,
        "expectations": [
            {
                "step": 1,
                "ok": False,
                "detail": "",
                "keys": {"pods_running": {"ok": False, "got": 1, "want": 2}},
            }
        ],
        "steps": [{"index": 0, "ok": True, "t": 0.1, "description": "create_pods {count: 1}"}],
        "events": [{"t": 1.0, "source": "ec2", "reason": "<Throttling>", "message": "a & b"}],
        "timeline": [],
    }


def test_the_html_page_has_every_section_and_inlines_svg(tmp_path: Path) -> None:
    svg = tmp_path / "node-map.svg"
    svg.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n "x.dtd">\n'
        '<svg xmlns="http://www.w3.org/2000/svg"><g class="eni-cell" data-state="used"/></svg>'
    )
    page = render_html(_report(), {"node-map.svg": svg})
    for heading in ("Nodes", "Expectations", "Invariants", "Pictures", "Steps", "Events"):
        assert f"<h2>{heading}</h2>" in page
    assert '<g class="eni-cell" data-state="used"/>' in page and "<?xml" not in page
    assert "&lt;Throttling&gt;" in page and "a &amp; b" in page  # escaped
    assert "got 1, want 2" in page and "FAILED" in page and "<script" not in page


def test_the_index_links_every_page(tmp_path: Path) -> None:
    out = write_index(
        [("a", True, 1.0, "a.html"), ("b", False, 2.0, "b.html")], tmp_path / "i.html"
    )
    page = out.read_text()
    assert '<a href="a.html">a</a>' in page and '<a href="b.html">b</a>' in page
    assert "1 of 2 passed" in page


def test_a_start_failure_bundle_lists_what_it_could_not_hold(tmp_path: Path) -> None:
    from harness.scenario.bundle import PARTS, write_bundle
    from harness.scenario.load import parse_scenario
    from harness.scenario.report import validate_report
    from harness.scenario.runner import ScenarioRun

    scenario = parse_scenario(SCENARIO)
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "etcd.log").write_text(f"listening on unix://{run_dir}/etcd.sock\n")
    (run_dir / "pki").mkdir()
    (run_dir / "pki" / "ca.log").write_text("never copied")
    run = ScenarioRun(scenario, run_dir)
    run.error = f"environment failed to start: etcd: no such file {run_dir}/etcd"
    run.failure = {"kind": "start", "step": None, "detail": f"{run_dir}/etcd missing"}
    report = run.report(None, [])
    bundle = write_bundle(tmp_path / "b", scenario=scenario, report=report, run_dirs=[run_dir])
    assert report["bundle"] == str(bundle)
    validate_report(report)
    manifest = json.loads((bundle / "bundle.json").read_text())
    parts = manifest["parts"]
    assert set(parts) == set(PARTS)
    absent = {k for k, v in parts.items() if not v["present"]}
    assert absent == {"ec2_requests", "ec2_state", "hns", "introspection", "pictures"}
    assert "environment failed to start" in (bundle / "report.html").read_text()
    assert "did not start" in parts["ec2_requests"]["why"]
    assert parts["logs"]["files"] == ["logs/etcd.log"]  # pki/ is never copied
    assert (bundle / "logs/etcd.log").read_text() == "listening on unix://<run-dir>/etcd.sock\n"
    inner = json.loads((bundle / "report.json").read_text())
    assert inner["failure"]["detail"] == "<run-dir>/etcd missing" and inner["bundle"] == "."
    for f in bundle.rglob("*"):
        assert not f.is_file() or str(tmp_path).encode() not in f.read_bytes(), f
    assert replay_scenario(read_bundle(bundle)).spec.to_dict() == scenario.spec.to_dict()
