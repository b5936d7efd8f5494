"""`ekswin inspect [--node N] [--png FILE | --svg FILE]`: a running environment's
address map, as a picture file or as a coloured grid in the terminal (exit 0 drawn, 1
the environment could not be read, 2 bad usage)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add `inspect` to the `ekswin` subcommands; returns its parser (for --name/--run-dir)."""
    ins = sub.add_parser("inspect", help="draw a running environment's address map")
    ins.add_argument("--node", metavar="N", help="only node N (default: every Windows node)")
    out = ins.add_mutually_exclusive_group()
    out.add_argument("--png", type=Path, metavar="FILE", help="write the map as a PNG picture")
    out.add_argument(
        "--svg", type=Path, metavar="FILE", help="write the map as SVG (cells carry their state)"
    )
    return ins


def _target(args: argparse.Namespace) -> tuple[Path, str] | None:
    for fmt in ("png", "svg"):
        path = getattr(args, fmt, None)
        if path is not None:
            if path.suffix.lower() != f".{fmt}":
                raise ValueError(f"--{fmt} {path}: expected a file name ending in .{fmt}")
            return path, fmt
    return None


def _fail(msg: str, status: int) -> int:
    print(f"ekswin: error: {msg}", file=sys.stderr)
    return status


def cmd_inspect(args: argparse.Namespace) -> int:
    """`ekswin inspect`: draw the address map of the environment `--name` / `--run-dir`."""
    from harness import rundir
    from harness.pictures.gather import InspectError, node_map_from_run_dir

    try:
        rundir.check_name(args.name)
        target = _target(args)
    except ValueError as e:
        return _fail(str(e), EXIT_USAGE)
    run_dir = (args.run_dir or rundir.default_run_dir(args.name)).resolve()
    if not run_dir.exists():
        return _fail(
            f"environment {args.name!r} is not running ({run_dir} does not exist)", EXIT_FAIL
        )
    try:
        node_map = node_map_from_run_dir(run_dir, node=args.node)
    except InspectError as e:
        return _fail(f"{e}; is it running? (ekswin status --name {args.name})", EXIT_FAIL)
    except ValueError as e:  # --node names no node of the environment
        return _fail(f"--node: {e}", EXIT_USAGE)
    if target is None:
        from harness.pictures.terminal import print_node_map

        print_node_map(node_map)
        return EXIT_OK
    from harness.pictures.render import render_node_map

    path, fmt = target
    written = render_node_map(node_map, path, fmt)
    print(f"wrote {written}", file=sys.stderr)
    return EXIT_OK
