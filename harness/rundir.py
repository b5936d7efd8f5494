"""Run directories: where one named environment keeps its state, logs and pids.

The default is ``<user state dir>/ekswin/<name>`` (``$XDG_STATE_HOME`` or
``~/.local/state``), so ``status`` and ``down`` find it without flags; one started with
``--run-dir`` is found through the registry (harness.registry). A run directory is
owner-only (0700) and owned by one ``ekswin up`` at a time: :class:`RunDirLock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
from pathlib import Path

from platformdirs import user_state_path

from harness.privfiles import FILE_MODE, private_dir

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")
SUPERVISOR_PID = "supervisor.pid"
LOCK_FILE = "up.lock"


class RunDirError(Exception):
    """A run or state directory that cannot be used; the message names the path and the
    reason (exit status 2)."""


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def prepare_run_dir(run_dir: Path) -> Path:
    """Create `run_dir` owner-only (0700) and check that files can be created in it."""
    try:
        private_dir(run_dir)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise RunDirError(f"run directory {run_dir}: {_reason(e)}") from None
    return run_dir


class RunDirLock:
    """Exclusive ownership of a run directory by one ``ekswin up`` (flock on up.lock).

    The kernel drops the lock when the owner dies, so a crashed ``up`` never leaves it
    held. The file holds the owner's pid, so a second ``up`` can name it. A detached
    ``up`` hands its locked descriptor to the supervisor it starts (:meth:`adopt`),
    so the lock is held without a gap from the first check until the supervisor exits.
    """

    def __init__(self, run_dir: Path, fd: int | None = None) -> None:
        self.path = run_dir / LOCK_FILE
        self.fd = fd

    @classmethod
    def adopt(cls, run_dir: Path, fd: int) -> RunDirLock:
        """Take over a descriptor that already holds the lock (inherited)."""
        return cls(run_dir, fd)

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as e:
            raise RunDirError(f"run directory {self.path.parent}: {_reason(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        self.set_owner(os.getpid())
        return True

    def set_owner(self, pid: int) -> None:
        """Record `pid` as the holder (the process that will release it by exiting)."""
        assert self.fd is not None, "lock not held"
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def holder(self) -> int | None:
        """The pid recorded by the current holder (None when unreadable)."""
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        """Close the descriptor (the lock is free once no process holds it open)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def locked_by(run_dir: Path) -> int | None:
    """The pid of the ``ekswin up`` that holds `run_dir`'s lock; None when it is free."""
    if not (run_dir / LOCK_FILE).exists():
        return None
    probe = RunDirLock(run_dir)
    try:
        if probe.acquire():
            probe.release()  # nobody held it (our pid was written; harmless)
            return None
    except RunDirError:
        return None
    return probe.holder() or -1


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
