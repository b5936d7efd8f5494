"""`expect` steps: each key compared with a snapshot (plain functions over plain data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.invariants import Violation
from harness.scenario.live import Event
from harness.scenario.snapshot import Snapshot


@dataclass(frozen=True)
class Outcome:
    """The result of one expect key."""

    key: str
    ok: bool
    got: Any
    want: Any

    def text(self) -> str:
        """`key: got X (expected Y)`."""
        return f"{self.key}: {self.got!r}" + ("" if self.ok else f", expected {self.want!r}")


NODE_VALUE = {
    "mode": lambda n: n["mode"],
    "capacity": lambda n: n["capacity"],
    "secondary_ips": lambda n: len(n["eni"]["secondary_ips"]),
    "prefixes": lambda n: len(n["eni"]["prefixes"]),
    "assigned_ips": lambda n: n["assigned_ips"],
    "free_ips": lambda n: n["free_ips"],
    "cooling_ips": lambda n: n["cooling_ips"],
    "hns_endpoints": lambda n: n["hns"]["endpoints"],
    "load_balancers": lambda n: n["hns"]["load_balancers"],
    "lb_failures": lambda n: n["hns"]["lb_failures"],
}


#: Keys that qualify others rather than check something themselves.
QUALIFIERS = ("timeout", "node", "message", "source")


def _matching(args: Mapping[str, Any], reason: str, events: Sequence[Event]) -> list[Event]:
    """Events of `reason` that pass the step's message / source / node filters."""
    text, source, node = args.get("message"), args.get("source"), args.get("node")
    return [
        e
        for e in events
        if e.reason == reason
        and (text is None or text in e.message)
        and (source is None or e.source == source)
        and (node is None or e.node == node)
    ]


def _event_text(args: Mapping[str, Any], reason: str) -> str:
    out = reason
    if args.get("source") is not None:
        out += f" from {args['source']}"
    if args.get("message") is not None:
        out += f" containing {args['message']!r}"
    return out


def _calls_ok(got: int, bounds: Mapping[str, int]) -> bool:
    return got >= bounds.get("min", 0) and ("max" not in bounds or got <= bounds["max"])


def evaluate(
    args: Mapping[str, Any],
    snap: Snapshot,
    events: Sequence[Event],
    violations: Sequence[Violation],
    ec2_calls: Mapping[str, int] | None = None,
) -> list[Outcome]:
    """Every key of one expect step against the snapshot, events, invariants and the
    EC2 requests by action since the scenario started."""
    node = args.get("node")
    out: list[Outcome] = []
    got: Any
    for key, want in args.items():
        if key in QUALIFIERS:
            continue
        if key == "event":
            hits = _matching(args, want, events)
            got = f"{len(hits)} recorded" if hits else "none recorded"
            out.append(Outcome(key, bool(hits), got, _event_text(args, want)))
        elif key == "no_event":
            hits = _matching(args, want, events)
            got = f"{len(hits)} recorded" if hits else "none recorded"
            out.append(Outcome(key, not hits, got, f"no {_event_text(args, want)}"))
        elif key == "ec2_calls":
            for action, bounds in want.items():
                n = (ec2_calls or {}).get(action, 0)
                out.append(Outcome(f"ec2_calls.{action}", _calls_ok(n, bounds), n, dict(bounds)))
        elif key == "invariant_broken":
            broken = [v for v in violations if v.id == want and (node is None or v.node == node)]
            got = "broken" if broken else "holds"
            out.append(Outcome(key, bool(broken), f"{want} {got}", f"{want} broken"))
        elif node is not None:
            entry = snap.nodes.get(node)
            got = NODE_VALUE[key](entry) if entry is not None else "no such node observed"
            out.append(Outcome(f"{node}.{key}", got == want, got, want))
        elif key == "lb_failures":
            got = snap.lb_failures()
            out.append(Outcome(key, got == want, got, want))
        else:
            phase = key.removeprefix("pods_")
            got = snap.count(phase)
            out.append(Outcome(key, got == want, got, want))
    return out
