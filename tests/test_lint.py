"""Static checks as tests, so `make test` (and CI) keeps the code ruff/mypy clean and layered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ["harness", "fake_ec2", "fake_hns", "controller"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([str(BIN / "ruff"), "check", "."], id="ruff-check"),
        pytest.param([str(BIN / "ruff"), "format", "--check", "."], id="ruff-format"),
        pytest.param([str(BIN / "lint-imports")], id="import-linter"),
        pytest.param([sys.executable, "-m", "mypy", *PACKAGES], id="mypy"),
    ],
)
def test_static_check_clean(argv: list[str]) -> None:
    r = _run(argv)
    assert r.returncode == 0, f"{' '.join(argv)} failed:\n{r.stdout}\n{r.stderr}"


def test_layering_contract_catches_a_violation(tmp_path: Path) -> None:
    """The import-linter contract is real: a component importing another one fails it."""
    bad = ROOT / "fake_hns" / "_layering_probe.py"
    bad.write_text('"""probe"""\nimport fake_ec2  # noqa: F401\n')
    try:
        r = _run([str(BIN / "lint-imports"), "--no-cache"])
    finally:
        bad.unlink()
    assert r.returncode != 0
    assert "fake_hns._layering_probe -> fake_ec2" in r.stdout
