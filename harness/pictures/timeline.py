"""A scenario report's timeline as plain series (no plotting): per node pods running /
pending and IPs used / warm / cooling, cluster-wide unscheduled pods, EC2 calls by
action (cumulative, as the report counts them), the steps with the faults among them,
and EC2's error answers from the event log.

The input is the report document (SCENARIOS.md, report v1): ``timeline`` samples
``{t, step, pods_pending, nodes: {node: {pods_running, pods_pending, ips_used, ips_warm,
ips_cooling, prefixes}}, ec2_calls: {action: count}}``, ``steps`` ``{index, kind,
description, t, duration_s, ok}`` and ``events`` ``{t, source, reason, ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Step kinds drawn as faults: what injects EC2 faults or stops / restarts components.
FAULT_KINDS = ("faults", "restart", "stop", "start")
NODE_FIELDS = ("pods_running", "pods_pending", "ips_used", "ips_warm", "ips_cooling", "prefixes")
NAN = math.nan


@dataclass(frozen=True)
class NodeSeries:
    """One node's values at each sample time (NaN where a sample lacks the node)."""

    name: str
    pods_running: tuple[float, ...]
    pods_pending: tuple[float, ...]
    ips_used: tuple[float, ...]
    ips_warm: tuple[float, ...]
    ips_cooling: tuple[float, ...]
    prefixes: tuple[float, ...]


@dataclass(frozen=True)
class StepMark:
    """A step boundary; ``fault`` for the kinds in FAULT_KINDS."""

    index: int
    kind: str
    description: str
    t: float
    duration_s: float
    ok: bool = True

    @property
    def fault(self) -> bool:
        """Whether this step injects a fault (EC2 faults, a component stop / restart)."""
        return self.kind in FAULT_KINDS


@dataclass(frozen=True)
class Timeline:
    """The series the timeline picture draws."""

    scenario: str
    t: tuple[float, ...]
    pods_unscheduled: tuple[float, ...]
    nodes: tuple[NodeSeries, ...]
    ec2_calls: Mapping[str, tuple[float, ...]]  # action -> cumulative count per sample
    steps: tuple[StepMark, ...]
    ec2_errors: tuple[tuple[float, str], ...]  # (t, error code) of EC2's error answers


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def timeline_from_report(report: Mapping[str, Any]) -> Timeline:
    """The report's timeline as series, samples in time order. A malformed report is a
    ValueError naming the field (``report.timeline[3].nodes.win.ips_used: ...``)."""
    report = _mapping(report, "report")
    samples = [
        _mapping(s, f"report.timeline[{i}]")
        for i, s in enumerate(_list(report.get("timeline"), "report.timeline"))
    ]
    times = [_number(s.get("t"), f"report.timeline[{i}].t") for i, s in enumerate(samples)]
    order = sorted(range(len(samples)), key=lambda i: times[i])
    samples = [samples[i] for i in order]
    where = [f"report.timeline[{i}]" for i in order]
    node_names: set[str] = set()
    actions: set[str] = set()
    for s, w in zip(samples, where, strict=True):
        node_names.update(_mapping(s.get("nodes", {}), f"{w}.nodes"))
        actions.update(_mapping(s.get("ec2_calls", {}), f"{w}.ec2_calls"))
    nodes = []
    for name in sorted(node_names):
        values: dict[str, list[float]] = {f: [] for f in NODE_FIELDS}
        for s, w in zip(samples, where, strict=True):
            row = s["nodes"].get(name) if s.get("nodes") else None
            for f in NODE_FIELDS:
                if row is None:
                    values[f].append(NAN)
                else:
                    row = _mapping(row, f"{w}.nodes.{name}")
                    values[f].append(_number(row.get(f, 0), f"{w}.nodes.{name}.{f}"))
        nodes.append(NodeSeries(name, *(tuple(values[f]) for f in NODE_FIELDS)))
    calls: dict[str, tuple[float, ...]] = {}
    for action in sorted(actions):
        calls[action] = tuple(
            _number((s.get("ec2_calls") or {}).get(action, 0), f"{w}.ec2_calls.{action}")
            for s, w in zip(samples, where, strict=True)
        )
    steps = []
    for i, st in enumerate(_list(report.get("steps"), "report.steps")):
        st = _mapping(st, f"report.steps[{i}]")
        w = f"report.steps[{i}]"
        kind = st.get("kind")
        if not isinstance(kind, str):
            raise ValueError(f"{w}.kind: expected a step kind, got {kind!r}")
        steps.append(
            StepMark(
                index=int(_number(st.get("index", i), f"{w}.index")),
                kind=kind,
                description=str(st.get("description", kind)),
                t=_number(st.get("t"), f"{w}.t"),
                duration_s=_number(st.get("duration_s", 0.0), f"{w}.duration_s"),
                ok=bool(st.get("ok", True)),
            )
        )
    errors = []
    for i, ev in enumerate(_list(report.get("events"), "report.events")):
        ev = _mapping(ev, f"report.events[{i}]")
        if ev.get("source") == "ec2":
            errors.append((_number(ev.get("t"), f"report.events[{i}].t"), str(ev.get("reason"))))
    return Timeline(
        scenario=str(report.get("scenario") or "scenario"),
        t=tuple(times[i] for i in order),
        pods_unscheduled=tuple(
            _number(s.get("pods_pending", 0), f"{w}.pods_pending")
            for s, w in zip(samples, where, strict=True)
        ),
        nodes=tuple(nodes),
        ec2_calls=calls,
        steps=tuple(sorted(steps, key=lambda m: m.t)),
        ec2_errors=tuple(sorted(errors)),
    )


def total(series: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """Element-wise sum of equally long series, NaN counted as 0 (a node not yet there)."""
    if not series:
        return ()
    return tuple(sum(0.0 if math.isnan(v) else v for v in col) for col in zip(*series, strict=True))
