"""One upstream environment per host: its webhook and health ports are fixed.

A flock in the state directory names the environment that holds the ports (the kernel
drops it when that process dies); a bind probe also catches anything else on them.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from harness.rundir import RunDirLock, state_root
from harness.upstream.plan import FIXED_PORTS, UpstreamUnavailable


def lock_dir() -> Path:
    """Where the host-wide upstream lock lives (created on demand)."""
    d = state_root() / "_upstream"
    d.mkdir(parents=True, exist_ok=True)
    return d


def busy_ports(ports: tuple[int, ...] = FIXED_PORTS) -> list[int]:
    """The ports of `ports` something already listens on (all interfaces, as the binary)."""
    busy = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("", port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                busy.append(port)
        finally:
            s.close()
    return busy


def acquire(directory: Path | None = None) -> RunDirLock:
    """Hold the host's upstream lock (UpstreamUnavailable naming the holder / busy port)."""
    lock = RunDirLock(directory or lock_dir())
    if not lock.acquire():
        holder = lock.holder()
        raise UpstreamUnavailable(
            "another environment with --controller upstream runs on this host"
            + (f" (pid {holder})" if holder else "")
            + ": the controller's ports 9443 and 61779 are fixed, so only one can; "
            "stop it with `ekswin down`"
        )
    busy = busy_ports()
    if busy:
        lock.release()
        raise UpstreamUnavailable(
            f"port {', '.join(map(str, busy))} is in use on this host; the upstream controller "
            "needs 9443 (webhook) and 61779 (health) free"
        )
    return lock


def check_free(directory: Path | None = None) -> None:
    """Refuse early (UpstreamUnavailable) when another upstream environment holds the host."""
    acquire(directory).release()
