"""harness.scenario.write: scenario files written from steps are valid, or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.write import dump_scenario, scenario_document, write_scenario
from harness.spec import SpecError

ENV = {
    "version": 1,
    "name": "ignored",
    "timing": "fast",
    "configmap": {"enable-windows-ipam": "true"},
    "nodes": [{"name": "win", "instance_type": "m5.large", "count": 2}],
}


def test_written_file_loads_back_with_comment_and_steps(tmp_path: Path) -> None:
    steps = [
        {"create_pods": {"count": 1, "name": "a", "node": "win-0"}},
        {"restart": "controller"},
        {"delete_pods": {"name": "a", "count": 1}},
    ]
    doc = scenario_document(ENV, steps, name="found")
    scenario = write_scenario(tmp_path / "found.yaml", doc, "first line\nsecond line")
    text = (tmp_path / "found.yaml").read_text()
    assert text.startswith("# first line\n# second line\nversion: 1\nname: found\n")
    assert scenario.name == "found"
    assert [s.kind for s in scenario.steps] == ["create_pods", "restart", "delete_pods"]
    assert scenario.spec.node_names() == ["win-0", "win-1"]


def test_an_invalid_sequence_is_refused_before_it_is_written(tmp_path: Path) -> None:
    doc = scenario_document(ENV, [{"delete_pods": {"name": "never", "count": 1}}], name="bad")
    with pytest.raises(SpecError, match=r"steps\[0\]\.delete_pods\.name"):
        dump_scenario(doc)
    with pytest.raises(SpecError):
        write_scenario(tmp_path / "bad.yaml", doc)
    assert not (tmp_path / "bad.yaml").exists()
