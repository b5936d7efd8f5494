"""Choosing the controller implementation for a run: the spec's field, a --controller
override, and the checks an upstream run needs before anything starts."""

from __future__ import annotations

import os
from pathlib import Path

from harness.spec import EnvSpec, parse_spec
from harness.upstream.plan import BINARY_ENV, resolve_binary


def with_controller(spec: EnvSpec, implementation: str | None) -> EnvSpec:
    """`spec` with its controller implementation replaced (re-validated, since the
    upstream table limits the instance types; SpecError names the field)."""
    if implementation is None or implementation == spec.controller.implementation:
        return spec
    doc = spec.to_dict()
    doc.setdefault("controller", {})["implementation"] = implementation
    return parse_spec(doc, f"--controller {implementation}")


def prepare(spec: EnvSpec, given: str | Path | None, check_host: bool = True) -> Path | None:
    """For an upstream spec: the binary (checked) exported as $EKSWIN_UPSTREAM_CONTROLLER,
    so the pipeline finds it (also in a detached supervisor), and the host checked free.
    UpstreamUnavailable says why not. None for the Python controller."""
    if spec.controller.implementation != "upstream":
        return None
    from harness.upstream import host

    binary = resolve_binary(str(given) if given else None)
    if check_host:
        host.check_free()
    os.environ[BINARY_ENV] = str(binary)
    return binary
