"""Benchmarks run by `make bench`: each module exposes NAME and run() -> list of lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.spec import EnvSpec

#: The spec given with ``--spec FILE`` (whole-environment benchmarks start it), else None.
BASE_SPEC: EnvSpec | None = None
