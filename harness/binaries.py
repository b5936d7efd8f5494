"""Find the local control-plane binaries, each one on its own.

Lookup order for every binary (ARCHITECTURE.md, "Cluster backends"):
1. the directory named by ``EKSWIN_K8S_BIN``;
2. ``KUBEBUILDER_ASSETS`` (envtest assets hold only etcd and kube-apiserver);
3. ``PATH``;
4. the cache ``~/.cache/ekswin/bin`` filled by ``make setup``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

INSTALL_HINT = (
    "On Debian/Ubuntu as root, `make setup` builds them offline from the distribution's "
    "packages into ~/.cache/ekswin. Elsewhere, install envtest assets (setup-envtest) and "
    "set KUBEBUILDER_ASSETS, put the binaries on PATH or in EKSWIN_K8S_BIN, or use the kind "
    "backend (`ekswin up --backend kind`) on a machine with Docker."
)


class MissingBinaries(Exception):
    """Raised when one or more control-plane binaries are found nowhere."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"control-plane binaries not found: {', '.join(missing)}. {INSTALL_HINT}")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The ekswin cache directory (``EKSWIN_CACHE`` or ``$XDG_CACHE_HOME/ekswin``)."""
    env = os.environ if env is None else env
    if env.get("EKSWIN_CACHE"):
        return Path(env["EKSWIN_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
    return Path(base) / "ekswin"


@dataclass(frozen=True)
class Resolved:
    """Where a binary was found and by which rule."""

    name: str
    path: Path
    source: str  # "EKSWIN_K8S_BIN" | "KUBEBUILDER_ASSETS" | "PATH" | "cache"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def resolve(name: str, env: Mapping[str, str] | None = None) -> Resolved | None:
    """Find one binary by the documented lookup order, or None."""
    env = os.environ if env is None else env
    for var in ("EKSWIN_K8S_BIN", "KUBEBUILDER_ASSETS"):
        if env.get(var):
            candidate = Path(env[var]) / name
            if _executable(candidate):
                return Resolved(name, candidate, var)
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found:
        return Resolved(name, Path(found), "PATH")
    candidate = cache_dir(env) / "bin" / name
    if _executable(candidate):
        return Resolved(name, candidate, "cache")
    return None


def resolve_all(
    names: tuple[str, ...] = CONTROL_PLANE, env: Mapping[str, str] | None = None
) -> dict[str, Resolved]:
    """Resolve every binary; raise MissingBinaries naming all that are missing."""
    found: dict[str, Resolved] = {}
    missing: list[str] = []
    for name in names:
        r = resolve(name, env)
        if r is None:
            missing.append(name)
        else:
            found[name] = r
    if missing:
        raise MissingBinaries(missing)
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.binaries [--check]`: print where each binary comes from."""
    parser = argparse.ArgumentParser(prog="python -m harness.binaries")
    parser.add_argument("--check", action="store_true", help="exit 1 when one is missing")
    parser.add_argument(
        "--uses-cache", action="store_true", help="exit 0 when any comes from the cache, else 1"
    )
    args = parser.parse_args(argv)
    if args.uses_cache:
        return 0 if any((r := resolve(n)) and r.source == "cache" for n in CONTROL_PLANE) else 1
    missing = []
    for name in CONTROL_PLANE:
        r = resolve(name)
        if r is None:
            missing.append(name)
            print(f"{name}: MISSING", file=sys.stderr)
        else:
            print(f"{name}: {r.path} ({r.source})", file=sys.stderr)
    if missing and args.check:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
