"""Supervise the processes a run starts.

Every process runs in its own process group (so a stop reaches its children), logs
to ``<run_dir>/logs/<name>.log``, is recorded in ``<run_dir>/pids.json`` (so
``ekswin down`` can reap what a crashed run left behind), and dies with its parent
(``PR_SET_PDEATHSIG``) so a killed harness leaves no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ComponentFailed(Exception):
    """A component exited or did not become ready; carries its log tail."""

    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"{name} {reason}\n--- last lines of its log ---\n{log_tail}")


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a text file ('' when absent)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One supervised process. Use :meth:`start`, :meth:`wait_ready`, :meth:`stop`."""

    name: str
    argv: Sequence[str]
    log_dir: Path
    env: Mapping[str, str] | None = None
    stop_grace_s: float = 3.0
    # When set, stdout goes to its own file (truncated at start) and the log keeps
    # stderr only, so a caller can read the first stdout line exactly.
    stdout_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        """Where stderr goes, and stdout too unless `stdout_path` is set."""
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        """The process id once started."""
        return self.popen.pid if self.popen else None

    def start(self) -> ManagedProcess:
        """Start the process in a new session (own process group)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log_path.open("ab"))
            # A restarted process appends to its log: its lines start here.
            self._log_offset = log.tell() if self.stdout_path is None else 0
            out = files.enter_context(self.stdout_path.open("wb")) if self.stdout_path else None
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log if out is None else out,
                stderr=subprocess.STDOUT if out is None else log,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                close_fds=True,
            )
        return self

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def failed(self, reason: str) -> ComponentFailed:
        """A ComponentFailed for this process with its log tail."""
        return ComponentFailed(self.name, reason, tail(self.log_path))

    def wait_ready(self, probe: Callable[[], bool], timeout_s: float, what: str = "ready") -> None:
        """Poll `probe` until it is true; raise ComponentFailed on exit or timeout."""
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        while True:
            if not self.alive():
                code = self.popen.returncode if self.popen else None
                raise self.failed(f"exited with code {code} before it was {what}")
            try:
                if probe():
                    return
            except Exception:  # probe errors mean "not yet"
                pass
            if time.monotonic() > deadline:
                raise self.failed(f"was not {what} within {timeout_s:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def signal_and_wait(self, sig: int, reply: str, timeout_s: float) -> None:
        """Send `sig` to the process and wait for its numbered acknowledgement: the
        process prints `REPLY N`, N counting the replies of this run of it."""
        assert self.popen is not None, "not started"
        source = self.stdout_path or self.log_path
        with source.open("rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode(errors="replace")
        seen = len(re.findall(rf"^{re.escape(reply)} \d+$", text, re.M))
        os.kill(self.popen.pid, sig)
        self.wait_for_line(rf"^{re.escape(reply)} {seen + 1}$", timeout_s)

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """Wait until a line of stdout matches `pattern` (e.g. a 'listening on URL' line).

        Without `stdout_path` stdout is the log, so this searches what this run of the
        process wrote to it (a restart appends).
        """
        rx = re.compile(pattern, re.MULTILINE)
        found: list[re.Match[str]] = []
        source = self.stdout_path or self.log_path
        offset = self._log_offset

        def probe() -> bool:
            with source.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            m = rx.search(text)
            if m:
                found.append(m)
            return m is not None

        self.wait_ready(probe, timeout_s, what=f"printing /{pattern}/")
        return found[0]

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL after the grace period."""
        if self.popen is None:
            return
        stop_group(self.popen.pid, self.stop_grace_s, self.popen)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group runs (a zombie leader alone does not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
        return False
    except OSError:
        return True


def stop_group(
    pgid: int, grace_s: float = 3.0, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """Terminate a whole process group, escalating to SIGKILL after `grace_s`."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        if popen is not None:
            popen.wait()
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None and not _group_alive(pgid):
            return
        if popen is None and not _group_alive(pgid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if popen is not None:
        popen.wait()


class PidRegistry:
    """The run directory's record of every process group it started (pids.json)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "pids.json"
        self._lock = FileLock(str(run_dir / ".pids.lock"))

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def add(self, name: str, pid: int, argv: Sequence[str]) -> None:
        """Record a started process group."""
        with self._lock:
            data = self._read()
            data[name] = {"pid": pid, "argv0": os.path.basename(argv[0])}
            self.path.write_text(json.dumps(data, indent=1))

    def remove(self, name: str) -> None:
        """Forget a process group that was stopped."""
        with self._lock:
            data = self._read()
            data.pop(name, None)
            self.path.write_text(json.dumps(data, indent=1))

    def entries(self) -> dict[str, dict[str, object]]:
        """name -> {pid, argv0} of every recorded group."""
        with self._lock:
            return self._read()

    def reap(self, grace_s: float = 2.0) -> list[str]:
        """Stop every recorded group still alive; return the names stopped."""
        stopped = []
        for name, info in self.entries().items():
            pid = info.get("pid")
            if isinstance(pid, int) and _group_alive(pid) and _same_program(pid, info):
                stop_group(pid, grace_s)
                stopped.append(name)
            self.remove(name)
        return stopped


def _same_program(pid: int, info: Mapping[str, object]) -> bool:
    """Guard against pid reuse: the group leader still runs the recorded program."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (or it exited): the group may still hold children
    argv0 = str(info.get("argv0", ""))
    return any(os.path.basename(part.decode(errors="replace")) == argv0 for part in cmdline[:3])


class Supervisor:
    """Starts processes for one run directory and stops them all, newest first."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.registry = PidRegistry(run_dir)
        self.processes: list[ManagedProcess] = []
        self._lock = threading.RLock()  # the supervision thread restarts processes too

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        stop_grace_s: float = 3.0,
    ) -> ManagedProcess:
        """Start and record a process."""
        proc = ManagedProcess(name, argv, self.log_dir, env=env, stop_grace_s=stop_grace_s)
        with self._lock:
            proc.start()
            assert proc.pid is not None
            self.registry.add(name, proc.pid, argv)
            self.processes.append(proc)
        return proc

    def get(self, name: str) -> ManagedProcess:
        """The process started under `name`."""
        with self._lock:
            for proc in self.processes:
                if proc.name == name:
                    return proc
        raise KeyError(name)

    def stop(self, name: str) -> None:
        """Stop one process and forget it (nothing to do when it is not running)."""
        try:
            proc = self.get(name)
        except KeyError:
            return
        proc.stop()
        self.forget(name, proc)

    def forget(self, name: str, proc: ManagedProcess) -> None:
        """Drop a process that exited: stop what is left of its group, unrecord it."""
        if proc.popen is not None:
            stop_group(proc.popen.pid, 0.5, proc.popen)
        with self._lock:
            if proc in self.processes:
                self.processes.remove(proc)
                self.registry.remove(name)

    def reap_exited(self) -> list[ManagedProcess]:
        """waitpid() every child without blocking, so an exited one is no zombie; return
        those that have exited."""
        with self._lock:
            procs = list(self.processes)
        return [p for p in procs if p.popen is not None and p.popen.poll() is not None]

    def stop_all(self) -> None:
        """Stop every process, newest first, then anything else recorded."""
        while True:
            with self._lock:
                if not self.processes:
                    break
                proc = self.processes.pop()
            proc.stop()
            self.registry.remove(proc.name)
        self.registry.reap()
