"""The index of named environments: which run directory each name lives in.

``ekswin up --name N --run-dir D`` records ``N -> D`` in ``<state root>/environments.json``
so ``ekswin status --name N`` and ``ekswin down --name N`` find D without the flag. An
entry stays after ``down`` (a second ``down`` of a known name is a no-op, not an
error); ``up`` of the same name elsewhere re-points it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.privfiles import private_dir, write_private
from harness.rundir import RunDirError, state_root

INDEX = "environments.json"


def _paths() -> tuple[Path, Path]:
    root = state_root()
    return root / INDEX, root / f"{INDEX}.lock"


def _read(index: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(index.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # an unreadable index knows nothing; `up` rewrites it
    envs = data.get("environments") if isinstance(data, dict) else None
    return {k: v for k, v in (envs or {}).items() if isinstance(v, dict)}


def lookup(name: str) -> Path | None:
    """The run directory registered for `name`, if any."""
    index, _ = _paths()
    entry = _read(index).get(name)
    return Path(entry["run_dir"]) if entry and entry.get("run_dir") else None


def names() -> list[str]:
    """Every registered name, sorted."""
    index, _ = _paths()
    return sorted(_read(index))


def register(name: str, run_dir: Path) -> None:
    """Record that environment `name` lives in `run_dir` (RunDirError when the state
    directory cannot be written)."""
    root = state_root()
    index, lock = _paths()
    try:
        private_dir(root)
        with FileLock(str(lock)):
            envs = _read(index)
            envs[name] = {"run_dir": str(run_dir), "registered_at": time.time()}
            write_private(index, json.dumps({"version": 1, "environments": envs}, indent=1))
    except OSError as e:
        raise RunDirError(f"state directory {root}: {e.strerror or e}") from None


def forget(name: str) -> None:
    """Drop `name` from the index (quietly when the state directory is not writable)."""
    index, lock = _paths()
    if not index.exists():
        return
    try:
        with FileLock(str(lock)):
            envs = _read(index)
            if envs.pop(name, None) is not None:
                write_private(index, json.dumps({"version": 1, "environments": envs}, indent=1))
    except OSError:
        pass
