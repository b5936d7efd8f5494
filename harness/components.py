"""Every process the harness starts, as one object: ``start`` / ``wait_ready`` / ``stop``.

A :class:`Component` is a supervised process plus its one readiness rule:
:class:`ListeningLine` for the harness's own servers (fake_ec2, fake_hns, the
controller, the node agent: their first stdout line is ``listening on URL``), or
:class:`Probe` for third-party binaries (etcd, kube-apiserver, scheduler,
controller-manager) that are asked over HTTP. testcontainers-style: the wait names
what it waited for, and a component that exits or times out raises ComponentFailed
with the tail of its log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.process import ManagedProcess, Supervisor

LISTENING = r"(?m)^listening on (\S+)"


def python_module(module: str, *args: str) -> list[str]:
    """argv running a module of this installation with the current interpreter."""
    return [sys.executable, "-m", module, *args]


class Readiness(Protocol):
    """How a component tells it is ready; returns the URL it serves ('' when none)."""

    def wait(self, proc: ManagedProcess, timeout_s: float) -> str:
        """Block until ready (ComponentFailed on exit or timeout)."""
        ...


@dataclass(frozen=True)
class ListeningLine:
    """Ready once stdout carries ``listening on URL`` (or another line `pattern`)."""

    pattern: str = LISTENING

    def wait(self, proc: ManagedProcess, timeout_s: float) -> str:
        """Wait for the line; the URL is its first group."""
        m = proc.wait_for_line(self.pattern, timeout_s)
        return m.group(1) if m.groups() else ""


@dataclass(frozen=True)
class Probe:
    """Ready once `check()` returns true (errors count as not yet)."""

    check: Callable[[], bool]
    what: str
    url: str = ""

    def wait(self, proc: ManagedProcess, timeout_s: float) -> str:
        """Poll the check with back-off until it holds."""
        proc.wait_ready(self.check, timeout_s, self.what)
        return self.url


@dataclass
class Component:
    """One supervised process of an environment."""

    name: str
    argv: Sequence[str]
    readiness: Readiness
    env: Mapping[str, str] | None = None
    stop_grace_s: float = 3.0
    url: str = field(default="", init=False)
    process: ManagedProcess | None = field(default=None, init=False)
    _sup: Supervisor | None = field(default=None, init=False, repr=False)

    def start(self, sup: Supervisor) -> Component:
        """Start the process under `sup` (logged, recorded in pids.json)."""
        self._sup = sup
        self.process = sup.start(self.name, self.argv, env=self.env, stop_grace_s=self.stop_grace_s)
        return self

    def wait_ready(self, timeout_s: float) -> str:
        """Wait by this component's readiness rule; return (and keep) its URL."""
        if self.process is None:
            raise RuntimeError(f"{self.name}: wait_ready before start")
        self.url = self.readiness.wait(self.process, timeout_s)
        return self.url

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after the grace)."""
        if self._sup is not None and self.process is not None:
            self._sup.stop(self.name)
            self.process = None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.alive()

    def restart(self, timeout_s: float, argv: Sequence[str] | None = None) -> str:
        """Stop (if running), start again (with `argv` when given) and wait until ready."""
        if self._sup is None:
            raise RuntimeError(f"{self.name}: restart before start")
        sup = self._sup
        if self.process is not None:
            self.stop()
        if argv is not None:
            self.argv = list(argv)
        self.start(sup)
        return self.wait_ready(timeout_s)
