"""Markdown for a GitHub Actions job summary: JUnit results and scenario reports.

    python scripts/ci_summary.py junit FILE.xml [TITLE]   # totals and failed tests
    python scripts/ci_summary.py scenarios DIR            # one row per report DIR/*.json

Prints to stdout (the workflow appends it to $GITHUB_STEP_SUMMARY). Standard library
only, so it runs before (or without) the project's virtualenv.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def junit_markdown(path: Path, title: str = "Tests") -> str:
    """Totals of a JUnit XML file and a table of its failures and errors."""
    if not path.exists():
        return f"### {title}\n\nno JUnit results ({path.name} was not written)\n"
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {
        k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")
    }
    seconds = sum(float(s.get("time", 0)) for s in suites)
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    ok = total["failures"] == 0 and total["errors"] == 0
    lines = [
        f"### {title}: {'passed' if ok else 'FAILED'}",
        "",
        f"{passed} passed, {total['failures']} failed, {total['errors']} errors, "
        f"{total['skipped']} skipped in {seconds:.0f} s",
    ]
    bad = []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                message = (node.get("message") or "").splitlines()[0:1]
                bad.append((f"{case.get('classname')}::{case.get('name')}", kind, *message))
    if bad:
        lines += ["", "| test | result | message |", "| --- | --- | --- |"]
        for test, kind, *message in bad:
            text = (message[0] if message else "")[:200].replace("|", "\\|")
            lines.append(f"| `{test}` | {kind} | {text} |")
    return "\n".join(lines) + "\n"


def scenarios_markdown(directory: Path) -> str:
    """One row per scenario report (ekswin scenario run --json)."""
    lines = [
        "### ekswin scenarios",
        "",
        "| scenario | result | duration | pods running / pending | invariants | failure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    reports = sorted(directory.glob("*.json"))
    for path in reports:
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            lines.append(f"| {path.stem} | unreadable | | | | {e} |")
            continue
        pods = r.get("pods") or {}
        inv = (r.get("invariants") or {}).get("ok")
        failure = str(r.get("failure") or r.get("error") or "")[:160].replace("|", "\\|")
        lines.append(
            f"| {r.get('scenario', path.stem)} | {'pass' if r.get('ok') else 'FAIL'} "
            f"| {r.get('duration_s', 0):.1f} s | {pods.get('running', 0)} / "
            f"{pods.get('pending', 0)} | {'hold' if inv else 'violated'} | {failure} |"
        )
    if not reports:
        lines.append(f"| (no reports in {directory}) | | | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Entry point (see the module docstring)."""
    if len(argv) >= 2 and argv[0] == "junit":
        sys.stdout.write(junit_markdown(Path(argv[1]), argv[2] if len(argv) > 2 else "Tests"))
        return 0
    if len(argv) == 2 and argv[0] == "scenarios":
        sys.stdout.write(scenarios_markdown(Path(argv[1])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
