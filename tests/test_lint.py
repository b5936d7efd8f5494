"""Static checks as tests, so `make test` (and CI) keeps the code ruff/mypy clean and layered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ["harness", "fake_ec2", "fake_hns", "controller"]


def _run(
    argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


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


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        pytest.param(
            "fake_hns/_layering_probe.py",
            "import fake_ec2  # noqa: F401",
            "fake_hns._layering_probe -> fake_ec2",
            id="component-imports-component",
        ),
        pytest.param(
            "harness/nodes/launch.py",
            "import harness.pipeline  # noqa: F401",
            "harness.nodes.launch -> harness.pipeline",
            id="node-launch-imports-pipeline",
        ),
    ],
)
def test_layering_contract_catches_a_violation(
    tmp_path: Path, module: str, line: str, expected: str
) -> None:
    """The import-linter contracts are real: a component importing another one, or the
    node launch importing the pipeline (the old cycle), fails them.

    Checked on a copy of the packages with the probe added to the copy (first on the
    path, the contracts from a copy of pyproject.toml): the source tree is never written."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    text = target.read_text() if target.exists() else '"""probe"""\n'
    target.write_text(text + line + "\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = _run([str(BIN / "lint-imports"), "--no-cache"], cwd=tmp_path, env=env)
    assert r.returncode != 0
    assert expected in r.stdout
