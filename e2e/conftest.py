"""Fixtures for the end-to-end suite: everything runs as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


class User:
    """Runs `ekswin`, `kubectl` and `aws` the way a person at a terminal would."""

    def __init__(self, tmp: Path) -> None:
        self.env = dict(os.environ)
        self.env["EKSWIN_STATE_DIR"] = str(tmp / "state")
        self.env["KUBECONFIG"] = str(tmp / "kube" / "config")
        self.env["AWS_ACCESS_KEY_ID"] = "testing"
        self.env["AWS_SECRET_ACCESS_KEY"] = "testing"
        self.env["AWS_DEFAULT_REGION"] = "us-west-2"
        self.env.pop("EKSWIN_BACKEND", None)
        self.bin = Path(sys.executable).parent

    def run(
        self, argv: list[str], *, check: bool = True, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command; on failure show its output."""
        r = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, input=stdin
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def ekswin(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """`ekswin ARGS` from this installation."""
        return self.run([str(self.bin / "ekswin"), *args], **kw)

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """`kubectl ARGS` with the merged kubeconfig."""
        return self.run(["kubectl", *args], **kw)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A terminal user; any environment they leave running is stopped afterwards."""
    u = User(tmp_path_factory.mktemp("user"))
    try:
        yield u
    finally:
        state = Path(u.env["EKSWIN_STATE_DIR"])
        if state.exists():
            for run_dir in state.iterdir():
                u.ekswin("down", "--name", run_dir.name, check=False)
