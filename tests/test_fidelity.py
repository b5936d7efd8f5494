"""docs/fidelity.md has a sourced row for every Event reason the controller records, every
EC2 error code fake_ec2 returns, every HRESULT fake_hns returns and every controller flag.

The sets are collected from the code, not listed here, so a new reason, code, HRESULT or
flag without a row fails this test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "fidelity.md"
STATUSES = ("matches", "deliberate difference", "unverified")


def _rows() -> list[list[str]]:
    """Every table row of the doc (header and rule rows dropped), as stripped cells."""
    out = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("behaviour", "reason", "flag", "code", "HRESULT"):
            continue
        out.append(cells)
    return out


def _row_for(item: str) -> list[str]:
    hits = [r for r in _rows() if f"`{item}`" in r[0]]
    assert hits, f"docs/fidelity.md has no row for `{item}`"
    return hits[0]


def _assert_sourced(item: str) -> None:
    row = _row_for(item)
    source, status = row[-2], row[-1]
    assert source and source not in ("—", "-"), f"`{item}`: the source cell is empty"
    assert status.startswith(STATUSES), f"`{item}`: status {status!r}, expected {STATUSES}"


def event_reasons() -> set[str]:
    """Reasons of every `.event(...)` call in the controller package (REASON_* constants)."""
    reasons: set[str] = set()
    for path in sorted((ROOT / "controller").rglob("*.py")):
        tree = ast.parse(path.read_text())
        consts = {
            t.id: n.value.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for t in n.targets
            if isinstance(t, ast.Name) and t.id.startswith("REASON_")
        }
        reasons.update(consts.values())
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "event"
                and len(call.args) >= 3
                and isinstance(call.args[2], ast.Constant)
            ):
                reasons.add(call.args[2].value)  # a literal reason: it needs a row too
    return reasons


def ec2_codes() -> set[str]:
    """The code of every error class fake_ec2 raises."""
    from fake_ec2 import exceptions

    return {
        c.code
        for c in vars(exceptions).values()
        if isinstance(c, type) and issubclass(c, exceptions.Ec2Error)
    }


def hresults() -> set[str]:
    """Every HRESULT constant of fake_hns.errors, as 0x-lowercase hex."""
    from fake_hns import errors

    return {hex(v) for k, v in vars(errors).items() if k.isupper() and isinstance(v, int)}


def controller_flags() -> set[str]:
    """The first long name of every `python -m controller` option."""
    from controller.__main__ import build_parser

    return {a.option_strings[0] for a in build_parser()._actions if a.option_strings[0] != "-h"}


def test_the_sets_are_collected() -> None:
    # Guards the collectors themselves: each must find what is known to exist.
    assert {"ResourceAllocated", "InsufficientCidrBlocks", "NoFreeAddressSlot"} <= event_reasons()
    assert {"InsufficientCidrBlocks", "PrivateIpAddressLimitExceeded"} <= ec2_codes()
    assert {"0x803b0013", "0x490"} <= hresults()
    assert {"--cidr-exhaustion", "--enable-windows-prefix-delegation"} <= controller_flags()


@pytest.mark.parametrize("reason", sorted(event_reasons()))
def test_every_event_reason_has_a_sourced_row(reason: str) -> None:
    _assert_sourced(reason)


@pytest.mark.parametrize("code", sorted(ec2_codes()))
def test_every_ec2_error_code_has_a_sourced_row(code: str) -> None:
    _assert_sourced(code)


@pytest.mark.parametrize("hresult", sorted(hresults()))
def test_every_hresult_has_a_sourced_row(hresult: str) -> None:
    _assert_sourced(hresult)


@pytest.mark.parametrize("flag", sorted(controller_flags()))
def test_every_controller_flag_has_a_sourced_row(flag: str) -> None:
    _assert_sourced(flag)


def test_every_row_has_a_known_status_and_the_readme_links_the_doc() -> None:
    for row in _rows():
        assert row[-1].startswith(STATUSES), row
    assert "docs/fidelity.md" in (ROOT / "README.md").read_text()
    # Citations name a file and a line (file.go:N), never a machine path.
    text = DOC.read_text()
    assert re.search(r"\.go:\d+", text)
    assert not re.search(r"/(work|root|tmp)/", text)
