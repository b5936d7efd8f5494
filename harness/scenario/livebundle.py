"""`ekswin bundle`: the repro bundle of a running environment at this moment, its
scenario.yaml the exported history (so `scenario replay` re-runs what was done)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.invariants import check
from harness.scenario.bundle import capture, write_bundle
from harness.scenario.export import export, render
from harness.scenario.load import parse_scenario
from harness.scenario.snapshot import take

if TYPE_CHECKING:
    from harness.scenario.session import Session


def session_report(session: Session, final: Any) -> dict[str, Any]:
    """The report v1 of what the session did so far: its steps, the state now, the
    invariants now (cool-down not assumed), the events since the first step."""
    from harness.scenario.runner import ScenarioRun

    scenario = exported_scenario(session.run_dir, session.env.name)
    run = ScenarioRun(scenario, session.run_dir)
    run.records = list(session.records)
    if final is not None:
        run.violations = check(final.state)
    return run.report(final, [], session.live)


def exported_scenario(run_dir: Path, name: str) -> Any:
    """The exported history as a parsed Scenario (its document is what was exported)."""
    import yaml

    exp = export(run_dir)
    doc = yaml.safe_load(render(exp, name))
    return parse_scenario(doc, f"<export of {name}>")


def write_live_bundle(session: Session, dest: Path, say: Callable[[str], None]) -> Path:
    """Capture the components now and write the bundle to `dest`."""
    live = session.live
    say("capturing introspection, HNS and EC2 state")
    cap = capture(live, "end")
    final = None
    with contextlib.suppress(Exception):  # a stopped component: the bundle says what it has
        final = take(live)
    report = session_report(session, final)
    cooling: dict[str, set[str]] = {}
    if live.pipeline is not None:
        from harness.pictures.gather import cooling_ips

        with contextlib.suppress(Exception):
            cooling = cooling_ips([c.url for c in live.pipeline.controllers if c.url])
    say("writing the bundle")
    return write_bundle(
        dest,
        scenario=exported_scenario(session.run_dir, session.env.name),
        report=report,
        run_dirs=[session.run_dir],
        live=live,
        captures=[cap],
        final=final,
        cooling=cooling,
    )
