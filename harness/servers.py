"""Start a standalone server that announces itself with a first `listening on URL` line.

The convention every component follows (`python -m <pkg> --port 0`): the server picks a
free port and prints `listening on <scheme>://127.0.0.1:PORT` as its first stdout line;
logs go to stderr; SIGTERM stops it. `ListeningServer` starts one in its own process
group, checks that first line, and stops the group (SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.process import ManagedProcess

LISTENING_PREFIX = "listening on "
_FIRST_LINE = r"\A(.*)\n"  # the first complete stdout line


class ListeningServer:
    """One server process: `.url` / `.address` once started; `.stop()` or use `with`.

    Stderr goes to ``<log_dir>/<name>.log``, stdout to ``<log_dir>/<name>.stdout``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_dir: Path,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        stop_grace_s: float = 5.0,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.process = ManagedProcess(
            name,
            list(argv),
            log_dir,
            env=env,
            stop_grace_s=stop_grace_s,
            stdout_path=log_dir / f"{name}.stdout",
        )
        self.start_timeout_s = start_timeout_s
        self.url = ""

    @classmethod
    def module(
        cls,
        module: str,
        args: Sequence[str],
        log_dir: Path,
        name: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        stop_grace_s: float = 5.0,
        start_timeout_s: float = 60.0,
    ) -> ListeningServer:
        """A server run as `python -m <module> ARGS` with this interpreter (not started)."""
        return cls(
            [sys.executable, "-m", module, *args],
            log_dir,
            name or module,
            env=env,
            stop_grace_s=stop_grace_s,
            start_timeout_s=start_timeout_s,
        )

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`: the URL without its scheme."""
        return self.url.split("://", 1)[-1]

    @property
    def log_path(self) -> Path:
        """The server's log (its stderr)."""
        return self.process.log_path

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        """The running `subprocess.Popen` (for signals and exit codes)."""
        assert self.process.popen is not None, "server not started"
        return self.process.popen

    def start(self) -> ListeningServer:
        """Start the process and wait for its first line; stop it again if that fails."""
        self.process.start()
        try:
            line = self.process.wait_for_line(_FIRST_LINE, self.start_timeout_s).group(1)
            if not line.startswith(LISTENING_PREFIX):
                raise self.process.failed(
                    f"printed {line.strip()!r} instead of '{LISTENING_PREFIX}URL' first"
                )
        except BaseException:
            self.process.stop()
            raise
        self.url = line.removeprefix(LISTENING_PREFIX).strip()
        return self

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after the grace period (idempotent)."""
        self.process.stop()

    def __enter__(self) -> Self:
        if self.process.popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerGroup(contextlib.ExitStack):
    """Servers started together and stopped together, newest first (a fixture's teardown).

    Each logs under `log_dir` as ``<module>-<n>`` (or the name given).
    """

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.started = 0

    def start(
        self,
        module: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> ListeningServer:
        """Start `python -m <module> ARGS`, wait for its first line; stopped by stop_all."""
        server = ListeningServer.module(
            module, args, self.log_dir, name or f"{module}-{self.started}", env=env
        )
        self.started += 1
        return self.enter_context(server)

    def stop_all(self) -> None:
        """Stop every server started, newest first."""
        self.close()
