"""`ekswin scenario run|validate|replay` (exit 0: holds / valid, 1: failed, 2: bad file or
usage; replay: 0 the recorded failure showed again, 1 it did not, 2 a bad bundle)."""

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
    """Dispatch `scenario validate` / `scenario run` / `scenario replay`."""
    if args.scenario_command == "replay":
        return _replay(args)
    if args.scenario_command == "export":
        from harness.stepcli import cmd_export

        return cmd_export(args)
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


def _console() -> Any:
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        err = Console(stderr=True, highlight=False, width=140)  # CI logs: wide tables
    return err


def _backend_missing() -> bool:
    from harness.backends import BackendUnavailable, choose

    try:
        choose("local")
    except BackendUnavailable as e:
        print(f"ekswin: error: {e}", file=sys.stderr)
        return True
    return False


def _fresh_run_dir(path: Path | None, name: str) -> Path:
    run_dir = (path or default_run_dir(name)).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    return run_dir


def _write_json(report: dict[str, Any], out: str | None) -> None:
    text = json.dumps(report, indent=1, default=str)
    if out == "-":
        sys.stdout.write(text + "\n")
    elif out:
        Path(out).write_text(text + "\n")


def _run(args: argparse.Namespace, scenario: Any) -> int:
    from harness.scenario.bundle import default_bundle_dir
    from harness.scenario.runner import Outputs, run_scenario
    from harness.scenario.summary import print_summary

    if _backend_missing():
        return EXIT_USAGE
    err = _console()
    run_dir = _fresh_run_dir(args.run_dir, scenario.name)
    err.print(f"[bold]scenario {scenario.name}[/] ({args.file}), run dir {run_dir}")
    outputs = Outputs(
        bundle=(args.bundle_dir or default_bundle_dir(scenario.name)).resolve(),
        bundle_on_success=args.keep,
        html=args.html.resolve() if args.html else None,
        zip=args.zip,
    )
    report = run_scenario(
        scenario,
        run_dir,
        seed=args.seed,
        timing=args.timing,
        progress=lambda m: err.print(m, markup=False),
        outputs=outputs,
    )
    _write_json(report, args.json)
    print_summary(report, err)
    if report["bundle"]:
        err.print(f"bundle: {report['bundle']}", markup=False)
        err.print(f"  replay it with: ekswin scenario replay {report['bundle']}", markup=False)
    if report["ok"] and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return EXIT_OK if report["ok"] else EXIT_FAIL


def _unzipped(path: Path, into: Path) -> Path:
    """A zipped bundle extracted into `into` (its one top folder), else `path`."""
    import zipfile

    if path.is_dir() or path.suffix != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as z:
            z.extractall(into)
    except (OSError, zipfile.BadZipFile) as e:
        from harness.scenario.bundle import BundleError

        raise BundleError(f"{path}: not a readable zip file ({e})") from None
    tops = [p for p in into.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else into


def _replay(args: argparse.Namespace) -> int:
    import tempfile

    from harness.scenario.bundle import BundleError, read_bundle, replay_scenario
    from harness.scenario.replay import describe, replay
    from harness.scenario.summary import print_summary

    err = _console()
    with tempfile.TemporaryDirectory(prefix="ekswin-bundle-") as tmp:
        try:
            root = _unzipped(args.bundle, Path(tmp))
            name = replay_scenario(read_bundle(root)).name
        except BundleError as e:
            print(f"ekswin: error: bad bundle: {e}", file=sys.stderr)
            return EXIT_USAGE
        if _backend_missing():
            return EXIT_USAGE
        run_dir = _fresh_run_dir(args.run_dir, name)
        err.print(f"[bold]replay {name}[/] ({args.bundle}), run dir {run_dir}")
        result = replay(root, run_dir, progress=lambda m: err.print(m, markup=False))
    _write_json(result.report, args.json)
    print_summary(result.report, err)
    err.print(f"recorded: {describe(result.recorded)}", markup=False)
    err.print(f"replayed: {describe(result.replayed)}", markup=False)
    if result.reproduced:
        err.print("[bold]reproduced[/]: the same first failure")
        shutil.rmtree(run_dir, ignore_errors=True)
        return EXIT_OK
    err.print("[bold red]not reproduced[/]: the first failure differs")
    return EXIT_FAIL
