"""`make soak` / `python -m harness.soak`: the soak with its options; prints the table,
writes the JSON report. Exit status: 0 passed, 1 failed (a violation, a fault not
recovered from, an operation that failed), 2 bad options or a missing prerequisite."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.soak.plan import FAULT_KINDS, PlanError, make_plan


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="make soak",
        description="Seeded pod creates/deletes across Windows nodes while faults fire at "
        "random; fails on any invariant violation or a fault not recovered from.",
    )
    p.add_argument("--pods", type=int, default=2000, help="pod operations, creates + deletes")
    p.add_argument("--nodes", type=int, default=5, help="Windows nodes")
    p.add_argument("--seed", type=int, default=1, help="seed of the plan and the environment")
    p.add_argument("--duration", type=float, default=600.0, help="seconds the operations span")
    p.add_argument("--faults", type=int, default=16, help="how many faults fire")
    p.add_argument(
        "--kinds",
        default=",".join(FAULT_KINDS),
        help=f"fault kinds to draw from (default all: {','.join(FAULT_KINDS)})",
    )
    p.add_argument("--max-pods", type=int, default=0, help="pods alive at most (0: 20 per node)")
    p.add_argument("--prefix-instance-type", default="m5.large", help="Nitro nodes' type")
    p.add_argument(
        "--secondary-instance-type", default="m4.2xlarge", help="Xen (secondary-IP) nodes' type"
    )
    p.add_argument("--timing", choices=("fast", "real"), default="fast")
    p.add_argument("--recovery-deadline", type=float, default=180.0, help="seconds per fault")
    p.add_argument("--json", type=Path, default=Path("results/soak.json"), help="report file")
    p.add_argument("--summary", type=Path, help="also write the table as Markdown here")
    p.add_argument("--run-dir", type=Path, help="run directory (default: a temporary one)")
    p.add_argument("--plan", action="store_true", help="print the plan and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the soak; the exit status as documented above."""
    args = parser().parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if args.nodes < 1:
        print(f"make soak: --nodes {args.nodes}: expected at least 1", file=sys.stderr)
        return 2
    try:
        plan = make_plan(
            args.seed,
            ops=args.pods,
            duration_s=args.duration,
            max_pods=args.max_pods or 20 * args.nodes,
            faults=args.faults,
            kinds=kinds,
        )
    except PlanError as e:
        print(f"make soak: {e}", file=sys.stderr)
        return 2
    if args.plan:
        print(json.dumps(plan.to_dict(), indent=1))
        return 0
    from harness.backends import BackendUnavailable, choose
    from harness.soak.figures import table
    from harness.soak.run import Options, Soak

    try:
        choose("local")  # the soak starts its own local control plane
    except BackendUnavailable as e:
        print(f"make soak: {e}", file=sys.stderr)
        return 2

    options = Options(
        nodes=args.nodes,
        prefix_instance_type=args.prefix_instance_type,
        secondary_instance_type=args.secondary_instance_type,
        timing=args.timing,
        recovery_deadline_s=args.recovery_deadline,
    )
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ekswin-soak-"))
    run_dir.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    report = Soak(plan, options, run_dir, say).run()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    lines = table(report)
    print("\n".join(lines))
    if args.summary is not None:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        verdict = "passed" if report["ok"] else "FAILED"
        args.summary.write_text(f"### Soak: {verdict}\n\n```\n" + "\n".join(lines) + "\n```\n")
    print(f"report: {args.json}")
    if report["ok"] and args.run_dir is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"run directory (logs): {run_dir}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
