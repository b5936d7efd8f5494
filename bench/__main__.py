"""`make bench`: run every benchmark module (or those named) and print their figures.

Each module in this package exposes ``NAME`` and ``run() -> list[str]`` returning printable
lines; figures and ratios are measured in one run, never compared to wall-clock constants.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import bench


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; exit 1 when any failed."""
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("only", nargs="*", help="benchmark module names (default: all)")
    parser.add_argument(
        "--spec",
        type=Path,
        help="environment spec (YAML) the whole-environment benchmarks start "
        "(default: each benchmark's own)",
    )
    parser.add_argument(
        "--nodes", help="scale: node counts, comma-separated (default 100,300,1000)"
    )
    parser.add_argument("--pods", type=int, help="scale: pods per environment (default 10/node)")
    parser.add_argument("--timing", help="scale: timing profiles, comma-separated (default fast)")
    parser.add_argument("--idle-s", type=float, help="scale: idle window in seconds (default 60)")
    args = parser.parse_args(argv)
    try:
        _scale_sizes(args)
    except ValueError as e:
        print(f"make bench: {e}", file=sys.stderr)
        return 2
    if args.spec is not None:
        from harness.spec import SpecError, load_spec

        try:
            bench.BASE_SPEC = load_spec(args.spec)
        except SpecError as e:
            print(f"make bench: invalid environment spec:\n{e}", file=sys.stderr)
            return 2
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")
    )
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(
                f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        names = [n for n in names if n in args.only]
    else:  # modules with DEFAULT = False run only when named (bench.scale)
        names = [n for n in names if getattr(importlib.import_module(f"bench.{n}"), "DEFAULT", 1)]
    print(f"ekswin bench — {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    failed = 0
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        title = getattr(mod, "NAME", name)
        print(f"\n== {title}")
        t0 = time.perf_counter()
        try:
            for line in mod.run():
                print(f"   {line}", flush=True)
        except Exception:
            failed += 1
            traceback.print_exc()
        print(f"   ({time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0


def _scale_sizes(args: argparse.Namespace) -> None:
    """bench.scale's sizes from --nodes/--pods/--timing/--idle-s (ValueError names one)."""
    from bench import scale

    sizes = scale.SIZES
    if args.nodes:
        try:
            sizes.nodes = tuple(int(n) for n in args.nodes.split(","))
        except ValueError:
            raise ValueError(f"--nodes {args.nodes!r}: expected counts like 100,300") from None
        if any(n < 1 for n in sizes.nodes):
            raise ValueError(f"--nodes {args.nodes!r}: expected counts of at least 1")
    if args.pods is not None:
        if args.pods < 0:
            raise ValueError(f"--pods {args.pods}: expected 0 or more")
        sizes.pods = args.pods
    if args.timing:
        sizes.profiles = tuple(args.timing.split(","))
        bad = [p for p in sizes.profiles if p not in ("real", "fast")]
        if bad:
            raise ValueError(f"--timing {args.timing!r}: expected real and/or fast")
    if args.idle_s is not None:
        if args.idle_s <= 0:
            raise ValueError(f"--idle-s {args.idle_s}: expected more than 0")
        sizes.idle_s = args.idle_s


if __name__ == "__main__":
    sys.exit(main())
