"""The readable end of a scenario run: verdict, nodes, pods, expectations, invariants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def print_summary(report: Mapping[str, Any], console: Console) -> None:
    """Print the summary of a report."""
    verdict = "[green]PASSED[/]" if report["ok"] else "[red]FAILED[/]"
    console.print(
        f"\nscenario [bold]{report['scenario']}[/]: {verdict} in {report['duration_s']:.1f} s "
        f"(seed {report['seed']}, timing {report['timing']})"
    )
    if report.get("error"):
        console.print(f"[red]{report['error']}[/]")
    nodes = report.get("nodes") or {}
    if nodes:
        t = Table("node", "type", "mode", "capacity", "secondary", "prefixes", "used", "free",
                  "cooling", "HNS ep", "LBs", "LB fail")  # fmt: skip
        for name, n in sorted(nodes.items()):
            t.add_row(
                name,
                n["instance_type"],
                str(n["mode"]),
                str(n["capacity"]),
                str(len(n["eni"]["secondary_ips"])),
                str(len(n["eni"]["prefixes"])),
                str(n["assigned_ips"]),
                str(n["free_ips"]),
                str(n["cooling_ips"]),
                str(n["hns"]["endpoints"]),
                str(n["hns"]["load_balancers"]),
                str(n["hns"]["lb_failures"]),
            )
        console.print(t)
    pods = report["pods"]
    console.print(
        f"pods: {pods['running']} running, {pods['pending']} pending, "
        f"{pods['container_creating']} container-creating"
    )
    missed = pods.get("missed_by_webhook") or []
    if missed:
        console.print(
            f"[yellow]admitted while the webhook was down[/] (failurePolicy Ignore, no IP "
            f"request, never an IP): {', '.join(missed)}"
        )
    for e in report.get("expectations") or []:
        mark = "[green]✓[/]" if e["ok"] else "[red]✗[/]"
        console.print(f"{mark} step {e['step']}: {e['detail']}", markup=True, highlight=False)
    inv = report["invariants"]
    if not inv["violations"]:
        console.print("[green]invariants hold[/]")
    for v in inv["violations"]:
        tag = "[yellow]expected[/]" if v["expected"] else "[red]BROKEN[/]"
        console.print(f"{tag} {v['id']} ({v['node'] or 'cluster'}): {v['message']}")
    failure = report.get("failure")
    if failure:
        console.print(f"[red]first failure[/]: {failure['kind']} — {failure.get('detail', '')}")
