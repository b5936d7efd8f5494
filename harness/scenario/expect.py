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


def evaluate(
    args: Mapping[str, Any],
    snap: Snapshot,
    events: Sequence[Event],
    violations: Sequence[Violation],
) -> list[Outcome]:
    """Every key of one expect step against the snapshot, events and invariants."""
    node = args.get("node")
    out: list[Outcome] = []
    got: Any
    for key, want in args.items():
        if key in ("timeout", "node", "message"):
            continue
        if key == "event":
            text = args.get("message")
            hits = [
                e
                for e in events
                if e.reason == want
                and (text is None or text in e.message)
                and (node is None or e.node == node)
            ]
            got = f"{len(hits)} recorded" if hits else "none recorded"
            want_text = want if text is None else f"{want} containing {text!r}"
            out.append(Outcome(key, bool(hits), got, want_text))
        elif key == "invariant_broken":
            broken = [v for v in violations if v.id == want and (node is None or v.node == node)]
            got = "broken" if broken else "holds"
            out.append(Outcome(key, bool(broken), f"{want} {got}", f"{want} broken"))
        elif node is not None:
            entry = snap.nodes.get(node)
            got = NODE_VALUE[key](entry) if entry is not None else "no such node observed"
            out.append(Outcome(f"{node}.{key}", got == want, got, want))
        elif key == "pods_missed_by_webhook":
            names = snap.missed_by_webhook()
            out.append(Outcome(key, len(names) == want, len(names), want))
        elif key == "components_down":
            down = snap.components_down()
            got = f"{len(down)}: {', '.join(down)}" if down else 0
            out.append(Outcome(key, len(down) == want, got, want))
        elif key == "lb_failures":
            got = snap.lb_failures()
            out.append(Outcome(key, got == want, got, want))
        else:
            phase = key.removeprefix("pods_")
            got = snap.count(phase)
            out.append(Outcome(key, got == want, got, want))
    return out
