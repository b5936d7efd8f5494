"""Control-plane flags per Kubernetes version, and the flags a binary's `--help` lists.

The local backend runs Debian's 1.20 build by default and current releases (envtest
assets, `EKSWIN_K8S_BIN`) too. A flag removed in a later release makes that release's
binary exit at start-up, so each flag that is gone somewhere is passed only to the
versions that still have it.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

Version = tuple[int, int]

# flag -> first minor version without it, per component (release notes of each version).
REMOVED: dict[str, dict[str, Version]] = {
    # --insecure-port: deprecated and hidden from --help in 1.20, where insecure serving
    # is off by default; removed in 1.24. Passed only to versions before 1.20.
    "kube-apiserver": {"--insecure-port": (1, 20)},
    # --port (the insecure HTTP serving port): removed in 1.24 from both.
    "kube-controller-manager": {"--port": (1, 24)},
    "kube-scheduler": {"--port": (1, 24)},
}

_VERSION = re.compile(r"v(\d+)\.(\d+)")
_FLAG = re.compile(r"^\s+(?:-\w, )?(--[a-z0-9][a-z0-9-]*)", re.M)


def parse_version(text: str) -> Version:
    """(major, minor) from `Kubernetes v1.31.0`-style output; ValueError when absent."""
    m = _VERSION.search(text)
    if m is None:
        raise ValueError(f"no Kubernetes version (vMAJOR.MINOR) in {text.strip()[:80]!r}")
    return int(m.group(1)), int(m.group(2))


@functools.lru_cache(maxsize=16)
def binary_version(path: Path) -> Version:
    """The version a Kubernetes binary reports with `--version`."""
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    return parse_version(out.stdout + out.stderr)


def supported(component: str, flags: Iterable[str], version: Version) -> list[str]:
    """`flags` (``--name=value`` or ``--name``) without those `component` lacks at `version`."""
    removed = REMOVED.get(component, {})
    out = []
    for flag in flags:
        name = flag.split("=", 1)[0]
        gone = removed.get(name)
        if gone is None or version < gone:
            out.append(flag)
    return out


def help_flags(text: str) -> set[str]:
    """Every flag name a Kubernetes binary's `--help` output lists."""
    return set(_FLAG.findall(text))


def binary_help_flags(path: Path) -> set[str]:
    """The flags `<path> --help` lists."""
    out = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=30)
    return help_flags(out.stdout + out.stderr)
