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


def test_instance_table_script_reads_the_go_table_format(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "upstream_instance_types", ROOT / "scripts" / "upstream-instance-types.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    go = (
        "var Limits = map[string]*VPCLimits{\n"
        '\t"m5.large": {\n\t\tInterface:               3,\n\t\tIPv4PerInterface:        10,\n'
        "\t\tIsTrunkingCompatible:    true,\n\t\tDefaultNetworkCardIndex: 1,\n"
        "\t\tNetworkCards: []NetworkCard{\n\t\t\t{\n"
        "\t\t\t\tMaximumNetworkInterfaces: 3,\n\t\t\t},\n\t\t\t{\n"
        "\t\t\t\tMaximumNetworkInterfaces: 2,\n\t\t\t\tNetworkCardIndex:         1,\n"
        "\t\t\t},\n\t\t},\n"
        '\t\tHypervisor:  "nitro",\n\t\tIsBareMetal: false,\n\t},\n'
        '\t"c5.metal": {\n\t\tInterface:               15,\n\t\tIPv4PerInterface:        50,\n'
        '\t\tHypervisor:  "",\n\t\tIsBareMetal: true,\n\t},\n}\n'
    )
    rows = [line for line in mod.table(go).splitlines() if not line.startswith("#")]
    # The default card's interfaces: card 1's 2; no card listed: 0 (Go's zero value).
    assert rows == ["m5.large 3 10 nitro false 2", "c5.metal 15 50 - true 0"]
    shipped = (ROOT / "controller" / "instance_types.txt").read_text().splitlines()
    assert "m5.large 3 10 nitro false 3" in shipped and "t3.2xlarge 4 15 nitro false 4" in shipped
