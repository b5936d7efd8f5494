"""`ekswin why POD` / `ekswin why --stuck [--json]` (exit 0 answered, 1 the environment or
pod could not be read, 2 bad usage)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `why` to the `ekswin` subcommands; returns its parser (for --name/--run-dir)."""
    why = sub.add_parser(
        "why",
        help="why is a pod not Running: the pipeline's first broken link, with evidence",
    )
    why.add_argument("pod", nargs="?", metavar="POD", help="pod name, or NAMESPACE/NAME")
    why.add_argument("-n", "--namespace", default="default", help="namespace of POD")
    why.add_argument(
        "--stuck",
        action="store_true",
        help="every Windows pod not Running for longer than the timing profile's CNI "
        "annotation wait (cni_annotation_wait_s)",
    )
    why.add_argument("--json", action="store_true", help="machine-readable output")
    return why


def cmd_why(args: argparse.Namespace, run_dir: Any) -> int:
    """Diagnose one pod or every stuck one of the environment in `run_dir`."""
    from harness.why import WhyError, diagnose, render, stuck

    if bool(args.pod) == bool(args.stuck):
        print("ekswin: error: why: give a POD or --stuck (not both)", file=sys.stderr)
        return EXIT_USAGE
    if not (run_dir / "env.json").exists():
        print(f"ekswin: error: environment {args.name!r} is not running ({run_dir})",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAIL
    try:
        result = stuck(run_dir) if args.stuck else diagnose(run_dir, args.pod, args.namespace)
    except WhyError as e:
        print(f"ekswin: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    if args.stuck:
        if not result["pods"]:
            print(f"no stuck pods (none not Running for longer than {result['wait_s']:g} s)")
        for d in result["pods"]:
            print(render(d))
    else:
        print(render(result))
    return EXIT_OK
