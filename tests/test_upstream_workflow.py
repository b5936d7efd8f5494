"""The upstream workflow builds and runs what harness/upstream/plan.py pins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.upstream.plan import PINNED_COMMIT, REPOSITORY

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "upstream.yml"


def _steps() -> list[dict[str, Any]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps: list[dict[str, Any]] = doc["jobs"]["compare"]["steps"]
    return steps


def test_workflow_pins_the_same_commit() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["env"]["UPSTREAM_COMMIT"] == PINNED_COMMIT
    assert doc["env"]["UPSTREAM_REPOSITORY"] == REPOSITORY
    checkouts = [s for s in _steps() if str(s.get("uses", "")).startswith("actions/checkout@")]
    upstream = [s["with"] for s in checkouts if s.get("with", {}).get("repository")]
    assert upstream == [
        {
            "repository": REPOSITORY,
            "ref": PINNED_COMMIT,
            "path": "upstream-src",
            "persist-credentials": False,
        }
    ]


def test_go_comes_from_the_upstream_go_mod_and_the_binary_is_cached() -> None:
    steps = _steps()
    (go,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-go@")]
    assert go["with"]["go-version-file"] == "upstream-src/go.mod"
    (cache,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert PINNED_COMMIT in cache["with"]["key"] or "UPSTREAM_COMMIT" in cache["with"]["key"]
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    assert "--controller upstream" in runs and "scripts/upstream-compare.sh" in runs
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["if"] == "always()"


def test_compare_script_runs_both_modes() -> None:
    text = (ROOT / "scripts" / "upstream-compare.sh").read_text()
    assert "--controller upstream" in text and "--compare" in text
