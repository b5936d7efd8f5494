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


def _backend_missing(spec: Any) -> bool:
    """True (message printed) when the backend the run would use cannot start here:
    EKSWIN_BACKEND, else the spec's backend (`auto` by default) — so a kind run does
    not need the local control-plane binaries."""
    from harness.backends import BackendUnavailable, choose, requested_backend

    try:
        choose(requested_backend(None, spec.backend))
    except (BackendUnavailable, ValueError) as e:
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


def _controller_variant(args: argparse.Namespace, scenario: Any, implementation: str | None) -> Any:
    """`scenario` with its controller implementation set (None: the file's), the upstream
    binary and host checked; None (message printed) when that cannot run."""
    from dataclasses import replace

    from harness.spec import SpecError
    from harness.upstream.plan import UpstreamUnavailable
    from harness.upstream.select import prepare, with_controller

    try:
        spec = with_controller(scenario.spec, implementation)
        prepare(spec, getattr(args, "controller_binary", None))
    except SpecError as e:
        print(f"ekswin: error: invalid scenario:\n{e}", file=sys.stderr)
        return None
    except UpstreamUnavailable as e:
        print(f"ekswin: error: {e}", file=sys.stderr)
        return None
    return replace(scenario, spec=spec)


def _run(args: argparse.Namespace, scenario: Any) -> int:
    if getattr(args, "compare", False):
        return _compare(args, scenario)
    scenario = _controller_variant(args, scenario, getattr(args, "controller", None))
    if scenario is None:
        return EXIT_USAGE
    if _backend_missing(scenario.spec):
        return EXIT_USAGE
    err = _console()
    report, run_dir = _run_once(args, scenario, args.run_dir, args.bundle_dir)
    _write_json(report, args.json)
    _after(args, report, run_dir, err)
    return EXIT_OK if report["ok"] else EXIT_FAIL


def _run_once(
    args: argparse.Namespace, scenario: Any, run_dir_arg: Path | None, bundle_dir: Path | None
) -> tuple[dict[str, Any], Path]:
    """Run `scenario` once in a fresh run directory; its report and that directory."""
    from harness.scenario.bundle import default_bundle_dir
    from harness.scenario.runner import Outputs, run_scenario

    err = _console()
    run_dir = _fresh_run_dir(run_dir_arg, scenario.name)
    impl = scenario.spec.controller.implementation
    err.print(
        f"[bold]scenario {scenario.name}[/] ({args.file}, {impl} controller), run dir {run_dir}"
    )
    outputs = Outputs(
        bundle=(bundle_dir or default_bundle_dir(scenario.name)).resolve(),
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
    return report, run_dir


def _after(args: argparse.Namespace, report: dict[str, Any], run_dir: Path, err: Any) -> None:
    from harness.scenario.summary import print_summary

    print_summary(report, err)
    if report["bundle"]:
        err.print(f"bundle: {report['bundle']}", markup=False)
        err.print(f"  replay it with: ekswin scenario replay {report['bundle']}", markup=False)
    if report["ok"] and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)


def _compare(args: argparse.Namespace, scenario: Any) -> int:
    """Run `scenario` with each controller implementation; print the differences (a
    table on stderr, JSON on stdout or to --json OUT). Exit 0: both runs held and no
    difference; 1: a difference or a failed run; 2: usage."""
    from harness.scenario.compare import LABELS, compare, render

    if getattr(args, "controller", None):
        print("ekswin: error: --compare runs both controllers; drop --controller", file=sys.stderr)
        return EXIT_USAGE
    if args.html is not None:
        print("ekswin: error: --compare writes no HTML page; drop --html", file=sys.stderr)
        return EXIT_USAGE
    variants = [_controller_variant(args, scenario, impl) for impl in LABELS]
    if any(v is None for v in variants) or _backend_missing(scenario.spec):
        return EXIT_USAGE
    err = _console()
    base = (args.run_dir or default_run_dir(scenario.name)).resolve()
    reports = []
    for label, variant in zip(LABELS, variants, strict=True):
        bundle = args.bundle_dir.resolve() / label if args.bundle_dir else None
        report, run_dir = _run_once(args, variant, base / label, bundle)
        _after(args, report, run_dir, err)
        reports.append(report)
    result = compare(reports[0], reports[1], LABELS)
    result["ok"] = {label: r["ok"] for label, r in zip(LABELS, reports, strict=True)}
    err.print(render(result), markup=False, highlight=False)
    _write_json(result, args.json or "-")
    return EXIT_OK if result["same"] and all(r["ok"] for r in reports) else EXIT_FAIL


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
            recorded = replay_scenario(read_bundle(root))
            name = recorded.name
        except BundleError as e:
            print(f"ekswin: error: bad bundle: {e}", file=sys.stderr)
            return EXIT_USAGE
        if _backend_missing(recorded.spec):
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
