"""Memory and CPU of an environment: every process in the process groups its supervisor
recorded (``<run_dir>/pids.json``), read from /proc; memory sampled in a thread."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """What one /proc/<pid>/stat line says that the benchmarks use."""

    pgid: int
    cpu_ticks: int  # utime + stime, plus cutime + cstime of children it reaped
    rss_pages: int


def parse_stat(line: str) -> ProcStat:
    """Parse a /proc/<pid>/stat line. The command name (field 2) is in parentheses and
    may hold spaces or ')', so fields are counted after the last ')' (field 3 first)."""
    rest = line[line.rindex(")") + 2 :].split()
    # fields 5 pgrp, 14-17 utime stime cutime cstime, 24 rss
    return ProcStat(int(rest[2]), sum(int(v) for v in rest[11:15]), int(rest[21]))


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


@dataclass
class Usage:
    """One component's processes at one moment."""

    rss: int = 0  # bytes resident, summed over its processes
    processes: int = 0
    leader_rss: int = 0  # of the process the supervisor started (children excluded)
    cpu_s: float = 0.0  # CPU seconds so far, reaped children included


def usage_by_component(groups: dict[int, str]) -> dict[str, Usage]:
    """Usage per component: every live process whose group is one of `groups` (a
    component's children, e.g. the node agent's exec'd CNI plugins, count)."""
    out = {name: Usage() for name in groups.values()}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = parse_stat(Path(f"/proc/{entry.name}/stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        if st.pgid not in groups:
            continue
        u = out[groups[st.pgid]]
        u.rss += st.rss_pages * PAGE
        u.processes += 1
        u.cpu_s += st.cpu_ticks / TICK
        if int(entry.name) == st.pgid:
            u.leader_rss = st.rss_pages * PAGE
    return out


def pss_bytes(groups: dict[int, str]) -> int:
    """Proportional set size over the groups' processes: pages shared between processes
    (the interpreter, libraries) split between them instead of counted in each."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if parse_stat(Path(f"/proc/{entry.name}/stat").read_text()).pgid not in groups:
                continue
            for line in Path(f"/proc/{entry.name}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICK


def dir_bytes(path: Path) -> int:
    """Bytes allocated to the files under `path` (the etcd data dir lives on tmpfs, so
    its files, preallocated WAL segments included, are memory too)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


@dataclass
class CpuWindow:
    """CPU seconds spent between `begin()` and `end()`: per component, by this process,
    and by the whole machine (the rest is other work on it)."""

    run_dir: Path
    wall_s: float = 0.0
    components: dict[str, float] = field(default_factory=dict)
    own_s: float = 0.0
    machine_s: float = 0.0
    _t: tuple[float, dict[str, float], float, float] | None = None

    @staticmethod
    def _now(run_dir: Path) -> tuple[float, dict[str, float], float, float]:
        usage = usage_by_component(recorded_groups(run_dir))
        own = os.times()
        return (
            time.monotonic(),
            {n: u.cpu_s for n, u in usage.items()},
            own.user + own.system,
            machine_busy_s(),
        )

    def begin(self) -> CpuWindow:
        """Take the starting readings."""
        self._t = self._now(self.run_dir)
        return self

    def end(self) -> CpuWindow:
        """Take the closing readings; a component (re)started meanwhile counts from 0."""
        assert self._t is not None, "end() before begin()"
        t0, comp0, own0, machine0 = self._t
        t1, comp1, own1, machine1 = self._now(self.run_dir)
        self.wall_s = t1 - t0
        self.components = {n: max(0.0, s - comp0.get(n, 0.0)) for n, s in comp1.items()}
        self.own_s = own1 - own0
        self.machine_s = machine1 - machine0
        return self

    @property
    def others_s(self) -> float:
        """Busy CPU of the machine not spent by the environment nor by this process."""
        return max(0.0, self.machine_s - self.own_s - sum(self.components.values()))


class MemorySampler:
    """Samples the environment's RSS every `interval_s`; keeps the peak per phase."""

    def __init__(
        self, run_dir: Path, exclude: frozenset[str] = frozenset(), interval_s: float = 0.5
    ) -> None:
        self.run_dir = run_dir
        self.exclude = exclude
        self.interval_s = interval_s
        self.phase = ""
        # phase -> (peak total bytes, the per-component usage at that peak)
        self.peaks: dict[str, tuple[int, dict[str, Usage]]] = {}
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
        by = usage_by_component(groups)
        total = sum(u.rss for u in by.values())
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
