"""Every shipped scenario (e2e/scenarios/*.yaml) runs to a passing report.

Each report is written to results/<scenario>.json (and as a page, results/<scenario>.html,
listed in results/index.html) and checked against the report's JSON Schema; a failing
scenario leaves its repro bundle in results/<scenario>-bundle; the summary table at the
end of `make e2e` lists them all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.scenario import load_scenario
from harness.scenario.report import validate_report
from harness.scenario.shared import share_key

HERE = Path(__file__).parent


def _by_spec(path: Path) -> tuple[str, str]:
    """Scenarios with equal environment specs run one after another, so they share one
    (reset) environment instead of starting their own."""
    return (share_key(load_scenario(path).spec), path.name)


SCENARIOS = sorted((HERE / "scenarios").glob("*.yaml"), key=_by_spec)
RESULTS = HERE.parent / "results"

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.slow]


def test_scenarios_are_shipped() -> None:
    assert len(SCENARIOS) >= 15, [p.name for p in SCENARIOS]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_passes(path: Path, run_scenario: Any) -> None:
    RESULTS.mkdir(exist_ok=True)
    shutil.rmtree(RESULTS / f"{path.stem}-bundle", ignore_errors=True)  # an earlier run's
    report = run_scenario(
        path, html=RESULTS / f"{path.stem}.html", bundle=RESULTS / f"{path.stem}-bundle"
    )
    (RESULTS / f"{path.stem}.json").write_text(json.dumps(report, indent=1, default=str))
    validate_report(report)
    failed = [e for e in report["expectations"] if not e["ok"]]
    broken = [v for v in report["invariants"]["violations"] if not v["expected"]]
    assert report["ok"], f"{path.name}: {report['failure']}\nexpectations: {failed}\n{broken}"
