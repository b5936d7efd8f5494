"""Resident memory of an environment: every process in the process groups its supervisor
recorded (``<run_dir>/pids.json``), read from /proc, sampled in a thread."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def stat_pgid(stat_line: str) -> int:
    """The process group id in a /proc/<pid>/stat line. The command name (field 2) is
    in parentheses and may hold spaces or ')', so fields are counted after the last ')'."""
    rest = stat_line[stat_line.rindex(")") + 2 :].split()
    return int(rest[2])  # state, ppid, pgrp


def recorded_groups(run_dir: Path) -> dict[int, str]:
    """pgid -> component name of each group in pids.json (each leader started its own)."""
    try:
        data = json.loads((run_dir / "pids.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {
        int(info["pid"]): name
        for name, info in data.items()
        if isinstance(info, dict) and isinstance(info.get("pid"), int)
    }


def _pids() -> Iterable[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def rss_by_component(groups: dict[int, str]) -> dict[str, tuple[int, int]]:
    """(bytes resident, processes) per component: the sum over every live process whose
    group is one of `groups` (a component's children, e.g. exec'd CNI plugins, count)."""
    out: dict[str, tuple[int, int]] = dict.fromkeys(groups.values(), (0, 0))
    for pid in _pids():
        try:
            pgid = stat_pgid(Path(f"/proc/{pid}/stat").read_text())
            if pgid not in groups:
                continue
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        rss, procs = out[groups[pgid]]
        out[groups[pgid]] = (rss + resident * PAGE, procs + 1)
    return out


def dir_bytes(path: Path) -> int:
    """Bytes allocated to the files under `path` (the etcd data dir lives on tmpfs, so
    its files, preallocated WAL segments included, are memory too)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


class MemorySampler:
    """Samples the environment's RSS every `interval_s`; keeps the peak per phase."""

    def __init__(self, run_dir: Path, exclude: Iterable[str] = (), interval_s: float = 0.5):
        self.run_dir = run_dir
        self.exclude = set(exclude)
        self.interval_s = interval_s
        self.phase = ""
        # phase -> (peak total bytes, the per-component (bytes, processes) at that peak)
        self.peaks: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self, phase: str) -> MemorySampler:
        """Start sampling, attributing samples to `phase`."""
        self.phase = phase
        self._thread.start()
        return self

    def sample(self) -> int:
        """Take one sample now (attributed to the current phase); return its total."""
        groups = {g: n for g, n in recorded_groups(self.run_dir).items() if n not in self.exclude}
        by = rss_by_component(groups)
        total = sum(rss for rss, _ in by.values())
        phase = self.phase
        if total > self.peaks.get(phase, (0, {}))[0]:
            self.peaks[phase] = (total, by)
        return total

    def overall(self) -> tuple[str, int]:
        """(phase, bytes) of the highest sample."""
        if not self.peaks:
            return "", 0
        phase = max(self.peaks, key=lambda p: self.peaks[p][0])
        return phase, self.peaks[phase][0]

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - t0)))

    def stop(self) -> None:
        """Stop the thread (one last sample first)."""
        self.sample()
        self._stop.set()
        self._thread.join(5)
