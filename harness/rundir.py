"""Run directories: where one named environment keeps its state, logs and pids.

The default is ``<user state dir>/ekswin/<name>`` (``$XDG_STATE_HOME`` or
``~/.local/state``), so ``status`` and ``down`` find it without flags.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from platformdirs import user_state_path

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")
SUPERVISOR_PID = "supervisor.pid"


def check_name(name: str) -> str:
    """Validate an environment name (used in kubeconfig contexts and paths)."""
    if not _NAME.match(name):
        raise ValueError(
            f"invalid --name {name!r}: expected lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 42 characters"
        )
    return name


def state_root() -> Path:
    """The user's ekswin state directory (``EKSWIN_STATE_DIR`` overrides it)."""
    base = os.environ.get("EKSWIN_STATE_DIR")
    return Path(base) if base else user_state_path("ekswin")


def default_run_dir(name: str) -> Path:
    """The per-name run directory under the user's state directory."""
    return state_root() / name


def supervisor_pid(run_dir: Path) -> int | None:
    """The pid of the `ekswin up` process that owns this run directory, if alive."""
    try:
        pid = int((run_dir / SUPERVISOR_PID).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"ekswin" in cmd or b"harness" in cmd else None


def signal_supervisor(run_dir: Path, sig: int = signal.SIGTERM) -> int | None:
    """Send `sig` to the owning `ekswin up` process; its pid, or None when none runs."""
    pid = supervisor_pid(run_dir)
    if pid is not None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return None
    return pid


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait until process `pid` has exited (zombies count as exited); False on timeout."""
    import time

    deadline = time.monotonic() + timeout_s
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
