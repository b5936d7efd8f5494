"""`ekswin scenario run|validate` (exit 0: holds / valid, 1: failed, 2: bad file or usage)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _load(path: Path) -> Any:
    from harness.scenario.load import load_scenario
    from harness.spec import SpecError

    try:
        return load_scenario(path)
    except SpecError as e:
        print(f"ekswin: error: invalid scenario:\n{e}", file=sys.stderr)
        return None


def cmd_scenario(args: argparse.Namespace) -> int:
    """Dispatch `scenario validate` / `scenario run`."""
    scenario = _load(args.file)
    if scenario is None:
        return EXIT_USAGE
    if args.scenario_command == "validate":
        print(f"{args.file}: valid scenario {scenario.name!r}, {len(scenario.steps)} step(s)")
        return EXIT_OK
    return _run(args, scenario)


def default_run_dir(name: str) -> Path:
    """Where a scenario's environment runs: <state dir>/_scenarios/<name> (no environment
    name starts with `_`, so the two never meet)."""
    from harness import rundir

    return rundir.state_root() / "_scenarios" / name


def _run(args: argparse.Namespace, scenario: Any) -> int:
    from rich.console import Console

    from harness.backends import BackendUnavailable, choose
    from harness.scenario.runner import run_scenario
    from harness.scenario.summary import print_summary

    try:
        choose("local")
    except BackendUnavailable as e:
        print(f"ekswin: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        err = Console(stderr=True, highlight=False, width=140)  # CI logs: wide tables
    run_dir = (args.run_dir or default_run_dir(scenario.name)).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    err.print(f"[bold]scenario {scenario.name}[/] ({args.file}), run dir {run_dir}")
    report = run_scenario(
        scenario,
        run_dir,
        seed=args.seed,
        timing=args.timing,
        progress=lambda m: err.print(m, markup=False),
    )
    text = json.dumps(report, indent=1, default=str)
    if args.json == "-":
        sys.stdout.write(text + "\n")
    elif args.json:
        Path(args.json).write_text(text + "\n")
    print_summary(report, err)
    if report["ok"] and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return EXIT_OK if report["ok"] else EXIT_FAIL
