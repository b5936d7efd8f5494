"""The GitHub Actions workflows and the composite action: GitHub's schemas (the vendored
copies check-jsonschema ships, offline), a zizmor audit (offline) with no finding, and
every make target, script, `ekswin` flag and action input a step uses exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / "action.yml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run `make setup` (dev extras)")
    return str(path)


def _run_blocks() -> list[tuple[str, str]]:
    """(file name, run script) of every step of every workflow and of the action."""
    out = []
    for path in [*WORKFLOWS, ACTION]:
        doc = yaml.safe_load(path.read_text())
        jobs = doc.get("jobs", {}).values() if "jobs" in doc else [doc["runs"]]
        for job in jobs:
            for step in job.get("steps", []):
                if "run" in step:
                    out.append((path.name, str(step["run"])))
    return out


def test_there_are_workflows_and_an_action() -> None:
    assert WORKFLOWS and ACTION.exists()
    jobs = set(yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"])
    assert {"lint-unit", "local", "local-current", "kind"} <= jobs


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path: Path) -> None:
    r = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_action_matches_githubs_schema() -> None:
    r = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_zizmor_finds_nothing() -> None:
    r = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", *map(str, WORKFLOWS), str(ACTION)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No findings to report" in r.stdout + r.stderr


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", text, re.M))


def test_every_make_target_a_step_uses_exists() -> None:
    targets = _make_targets()
    used = {
        (name, m.group(1))
        for name, script in _run_blocks()
        for m in re.finditer(r"(?:^|&&|;|\|\|)\s*make\s+([a-zA-Z0-9_-]+)", script, re.M)
    }
    assert used, "no step runs make"
    missing = sorted(f"{name}: make {t}" for name, t in used if t not in targets)
    assert not missing


def test_every_script_a_step_uses_exists() -> None:
    used = {
        (name, m.group(1))
        for name, script in _run_blocks()
        for m in re.finditer(r"(scripts/[\w.-]+)", script)
    }
    assert used
    assert not sorted(f"{n}: {s}" for n, s in used if not (ROOT / s).is_file())


def _ekswin_calls() -> list[tuple[str, list[str]]]:
    calls = []
    for name, script in _run_blocks():
        joined = script.replace("\\\n", " ")
        for line in joined.splitlines():
            m = re.search(r"(?:^|[\s\"/!])(?:\"\$EKSWIN\"|ekswin)\s+(.*)$", line)
            if m:
                calls.append((name, shlex.split(m.group(1).split(";")[0])))
    return calls


def _subparser(parser: Any, words: list[str]) -> tuple[Any, list[str]]:
    import argparse

    while words:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or words[0] not in actions[0].choices:
            break
        parser, words = actions[0].choices[words[0]], words[1:]
    return parser, words


def test_every_ekswin_flag_a_step_uses_exists() -> None:
    from harness.cli import build_parser

    calls = _ekswin_calls()
    assert calls, "no step runs ekswin"
    for name, words in calls:
        parser, rest = _subparser(build_parser(), words)
        assert parser.prog != "ekswin", f"{name}: unknown ekswin command in {words}"
        known = {s for a in parser._actions for s in a.option_strings}
        flags = [w.split("=", 1)[0] for w in rest if w.startswith("--")]
        unknown = [f for f in flags if f not in known]
        assert not unknown, f"{name}: `{parser.prog}` has no {unknown}"


def test_every_action_input_a_step_uses_is_declared() -> None:
    doc = yaml.safe_load(ACTION.read_text())
    declared = set(doc["inputs"])
    used = set(re.findall(r"inputs\.([a-z0-9-]+)", ACTION.read_text()))
    assert used and used <= declared, used - declared
    assert {"scenarios", "backend", "kubernetes-version", "timing"} <= declared
