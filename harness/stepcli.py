"""`ekswin step`, `ekswin bundle` and `ekswin scenario export`: drive and capture a
running environment (exit 0 ok, 1 a failed step or expect / not running, 2 bad usage)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEFAULT_TIMEOUT_S = 900.0


def _err(msg: str) -> None:
    print(f"ekswin: error: {msg}", file=sys.stderr)


def add_parsers(sub: Any, where: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `step` and `bundle` (`where` adds --name / --run-dir)."""
    st = sub.add_parser(
        "step",
        help="run scenario steps against a running environment (docs/scenarios.md)",
        description="Run one step (`ekswin step KIND key=value ...`, dotted keys nest, "
        "values are YAML scalars; `ekswin step set_dsr true`) or a file of steps (-f), "
        "validated like a scenario's. Exit 0 ok, 1 a step or expect failed, 2 bad input. "
        "Kinds and keys: docs/scenarios.md#steps (a wrong kind lists them).",
    )
    where(st)
    st.add_argument("kind", nargs="?", metavar="KIND", help="the step kind")
    st.add_argument("words", nargs="*", metavar="KEY=VALUE", help="the step's keys")
    st.add_argument("-f", "--file", type=Path, help="a YAML list of steps (or `steps:`)")
    st.add_argument("--no-settle", action="store_true", help="do not wait for the system to settle")
    st.add_argument("--json", action="store_true", help="print the step records as JSON")
    st.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for the steps",
    )
    bd = sub.add_parser(
        "bundle", help="write a repro bundle of a running environment now (with its export)"
    )
    where(bd)
    bd.add_argument(
        "out",
        nargs="?",
        type=Path,
        metavar="OUT",
        help="bundle directory (default: <state dir>/_bundles/<name>-<UTC time>)",
    )
    bd.add_argument("--zip", action="store_true", help="also write OUT.zip")
    bd.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for it")


def add_export_parser(scsub: Any, where: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `scenario export`."""
    ex = scsub.add_parser(
        "export",
        help="write a running (or stopped) local environment's history as a scenario file",
    )
    where(ex)
    ex.add_argument("out", type=Path, metavar="OUT.yaml", help="the scenario file to write")


# -- step -------------------------------------------------------------------------------
def _step_documents(args: argparse.Namespace) -> tuple[list[Any], str, Any]:
    """(steps, source, lines) from the words or the file; raises StepArgError/SpecError."""
    from harness.scenario.steparg import StepArgError, read_step_file, step_from_words

    if args.file is not None:
        if args.kind is not None:
            raise StepArgError("give either -f FILE or KIND key=value ..., not both")
        steps, lines = read_step_file(args.file)
        return steps, str(args.file), lines
    if args.kind is None:
        raise StepArgError("expected KIND key=value ... or -f FILE")
    return [step_from_words(args.kind, args.words)], "<command line>", None


def _inline_files(steps: list[Any], base: Path) -> list[Any]:
    """apply: {file: F} read here (the owner's current directory is another) and sent,
    and journalled, as the manifest's objects."""
    from harness.scenario.objects import manifest_objects

    out = []
    for s in steps:
        if isinstance(s, dict) and isinstance(s.get("apply"), dict) and "file" in s["apply"]:
            objs = manifest_objects(s["apply"], base)
            s = {**s, "apply": {"manifest": objs}}
        out.append(s)
    return out


def _owner_live(run_dir: Path) -> bool:
    from harness.supervision import is_live
    from harness.supervision import read_state as read_supervision

    return (run_dir / "ready").exists() and is_live(read_supervision(run_dir))


def _ask(run_dir: Path, what: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Drop a request for the environment's owner, echo its progress, return its result
    ({"ok": False, "error": ...} when it does not answer in time or stops)."""
    from harness.supervision import REQUESTS_DIR, post_request

    rid = post_request(run_dir, what, body)
    folder = run_dir / REQUESTS_DIR
    result_file = folder / f"result-{rid}.json"
    progress = folder / f"progress-{rid}.log"
    shown = 0
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if progress.exists():
                text = progress.read_text()
                if len(text) > shown:
                    sys.stderr.write(text[shown:])
                    sys.stderr.flush()
                    shown = len(text)
            if result_file.exists():
                return dict(json.loads(result_file.read_text()))
            if time.monotonic() > deadline:
                return {"ok": False, "error": f"no answer within {timeout_s:g} s"}
            if not _owner_live(run_dir):
                return {"ok": False, "error": "the environment stopped"}
            time.sleep(0.2)
    finally:
        for f in (result_file, progress):
            f.unlink(missing_ok=True)


def cmd_step(args: argparse.Namespace) -> int:
    """`ekswin step`: validate, hand the steps to the environment's owner, wait."""
    from harness.cli import _run_dir
    from harness.scenario.objects import ManifestError
    from harness.scenario.session import journal_steps, spec_document
    from harness.scenario.steparg import StepArgError, describe_problems, schema_check, validate
    from harness.spec import SpecError

    words = args.file is None
    try:
        steps, source, lines = _step_documents(args)
        schema_check(steps, source, lines)  # bad keys: exit 2 with no environment needed
        steps = _inline_files(steps, Path.cwd())
    except StepArgError as e:
        _err(str(e))
        return EXIT_USAGE
    except ManifestError as e:
        _err(str(e))
        return EXIT_USAGE
    except SpecError as e:
        _err("invalid step:\n" + describe_problems(e, words))
        return EXIT_USAGE
    run_dir = _run_dir(args)
    if not _owner_live(run_dir):
        _err(f"ekswin {args.name!r} is not running ({run_dir}); start it with `ekswin up`")
        return EXIT_FAIL
    try:
        validate(spec_document(run_dir), journal_steps(run_dir), steps, source, lines)
    except SpecError as e:
        _err("invalid step:\n" + describe_problems(e, words))
        return EXIT_USAGE
    result = _ask(run_dir, "step", {"steps": steps, "no_settle": args.no_settle}, args.timeout)
    if "usage" in result:
        _err("invalid step:\n" + str(result["usage"]))
        return EXIT_USAGE
    if result.get("error"):
        _err(str(result["error"]))
        return EXIT_FAIL
    records = result.get("records") or []
    if args.json:
        sys.stdout.write(json.dumps(records, indent=1) + "\n")
    else:
        for r in records:
            mark = "✓" if r["ok"] else "✗"
            print(f"{mark} {r['description']}: {r.get('error') or r['detail']}")
    return EXIT_OK if result.get("ok") else EXIT_FAIL


# -- bundle -----------------------------------------------------------------------------
def cmd_bundle(args: argparse.Namespace) -> int:
    """`ekswin bundle [OUT]`: the owner writes the bundle of the environment now."""
    from harness.cli import _run_dir
    from harness.scenario.bundle import default_bundle_dir, zip_bundle

    run_dir = _run_dir(args)
    if not _owner_live(run_dir):
        _err(f"ekswin {args.name!r} is not running ({run_dir}); nothing to capture")
        return EXIT_FAIL
    out = (args.out or default_bundle_dir(args.name)).resolve()
    result = _ask(run_dir, "bundle", {"out": str(out)}, args.timeout)
    if not result.get("ok"):
        _err(f"could not write the bundle: {result.get('error')}")
        return EXIT_FAIL
    path = Path(str(result["bundle"]))
    print(path)
    if args.zip:
        print(zip_bundle(path))
    print(f"  replay it with: ekswin scenario replay {path}", file=sys.stderr)
    return EXIT_OK


# -- scenario export ---------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """`ekswin scenario export OUT.yaml`: the environment's spec and history as a
    scenario, validated before it is written."""
    import yaml

    from harness.cli import _run_dir
    from harness.kube import audit
    from harness.scenario.export import export, render
    from harness.scenario.load import parse_scenario
    from harness.spec import SpecError

    run_dir = _run_dir(args)
    try:
        exp = export(run_dir)
    except ValueError as e:
        _err(str(e))
        return EXIT_FAIL
    if not (run_dir / audit.LOG_FILE).exists():
        print(
            "ekswin: warning: no API server audit log (the local backend writes one): "
            "changes made through the Kubernetes API are not in the export",
            file=sys.stderr,
        )
    text = render(exp, args.name)
    try:
        parse_scenario(yaml.safe_load(text), str(args.out))
    except SpecError as e:  # a bug of the export, never the user's
        _err(f"the exported scenario does not validate:\n{e}")
        return EXIT_FAIL
    args.out.write_text(text)
    steps = len(exp.document["steps"])
    print(f"{args.out}: {steps} step(s) exported from {args.name!r}", file=sys.stderr)
    for s in exp.skipped:
        print(f"  not replayed: {s}", file=sys.stderr)
    return EXIT_OK
