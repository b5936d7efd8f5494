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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
