"""Write controller/instance_types.txt from the upstream controller's limits table.

Usage: python scripts/upstream-instance-types.py PATH/TO/pkg/aws/vpc/limits.go [--check]

Reads only facts from the Go table (per instance type: interfaces, IPv4 addresses per
interface, hypervisor, bare metal, interfaces of the default network card) and writes
one line per type. --check exits 1 when the committed file differs (the upstream
workflow runs it against the pinned checkout).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "controller" / "instance_types.txt"
HEADER = (
    "# Instance types of the upstream controller's table pkg/aws/vpc/limits.go at the\n"
    "# commit FACTS.md pins: name, interfaces, IPv4 addresses per interface, hypervisor\n"
    "# ('-' when empty), bare metal, interfaces of the default network card. The\n"
    "# controller's instance limits (controller/limits.py). Written by\n"
    "# scripts/upstream-instance-types.py.\n"
)
_ENTRY = re.compile(r'^\t"(?P<name>[a-z0-9.\-]+)": \{(?P<body>.*?)^\t\},', re.M | re.S)


def _field(body: str, name: str) -> str:
    m = re.search(rf"^\t\t{name}:\s+(\S+?),?$", body, re.M)
    if m is None:
        raise ValueError(f"no {name} in an entry")
    return m.group(1).strip('"')


def _default_card_interfaces(body: str) -> str:
    """MaximumNetworkInterfaces of the card DefaultNetworkCardIndex names ('0': none).

    An absent index or card index is Go's zero value, 0."""
    m = re.search(r"^\t\tDefaultNetworkCardIndex:\s+(\d+)", body, re.M)
    index = m.group(1) if m else "0"
    for card in re.finditer(r"\{(?P<card>[^{}]*)\}", body):
        text = card.group("card")
        idx = re.search(r"NetworkCardIndex:\s+(\d+)", text)
        most = re.search(r"MaximumNetworkInterfaces:\s+(\d+)", text)
        if most is not None and (idx.group(1) if idx else "0") == index:
            return most.group(1)
    return "0"


def table(go_source: str) -> str:
    """The instance_types.txt text for one limits.go."""
    lines = [HEADER.rstrip("\n")]
    for m in _ENTRY.finditer(go_source):
        body = m.group("body")
        lines.append(
            " ".join(
                [
                    m.group("name"),
                    _field(body, "Interface"),
                    _field(body, "IPv4PerInterface"),
                    _field(body, "Hypervisor") or "-",
                    _field(body, "IsBareMetal"),
                    _default_card_interfaces(body),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write (or --check) the file."""
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    text = table(Path(argv[0]).read_text())
    if "--check" in argv[1:]:
        if OUT.read_text() != text:
            print(f"{OUT.name} differs from {argv[0]}: re-run without --check", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10)) - HEADER.count(chr(10))} types)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
