"""Compare two scenario reports (report v1, report.schema.json): the same scenario run
with the Python controller and with the upstream binary (`ekswin scenario run --compare`).

Plain data in, plain data out: :func:`summary` keeps what the comparison looks at (pods
by phase, per-node IPs / prefixes / capacity / mode, events by reason, EC2 calls by
action), :func:`compare` lists the keys whose values differ, :func:`table_rows` lays
them out for a terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

COMPARE_VERSION = 1
LABELS = ("python", "upstream")


def summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of one report the comparison looks at."""
    pods = report.get("pods") or {}
    phases = Counter(str(p.get("phase", "")) for p in pods.get("items") or [])
    nodes = {}
    for name, n in sorted((report.get("nodes") or {}).items()):
        eni = n.get("eni") or {}
        nodes[name] = {
            "mode": n.get("mode"),
            "capacity": n.get("capacity"),
            "secondary_ips": len(eni.get("secondary_ips") or []),
            "prefixes": len(eni.get("prefixes") or []),
            "assigned_ips": n.get("assigned_ips"),
            "free_ips": n.get("free_ips"),
        }
    events = Counter(str(e.get("reason", "")) for e in report.get("events") or [])
    timeline = report.get("timeline") or []
    calls = dict(timeline[-1].get("ec2_calls") or {}) if timeline else {}
    return {
        "ok": bool(report.get("ok")),
        "pods_by_phase": dict(sorted(phases.items())),
        "pods_container_creating": int(pods.get("container_creating", 0)),
        "nodes": nodes,
        "events_by_reason": dict(sorted(events.items())),
        "ec2_calls_by_action": dict(sorted(calls.items())),
    }


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value


def _missing_zero(key: str) -> Any:
    """What an absent key means: counts are 0, anything else is absent (None)."""
    counted = ("pods_by_phase.", "events_by_reason.", "ec2_calls_by_action.")
    return 0 if key.startswith(counted) else None


def compare(
    first: Mapping[str, Any], second: Mapping[str, Any], labels: Sequence[str] = LABELS
) -> dict[str, Any]:
    """Both summaries and every key (dotted path) whose value differs between them."""
    a_label, b_label = labels
    a, b = summary(first), summary(second)
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _flatten(a, "", flat_a)
    _flatten(b, "", flat_b)
    differences = []
    for key in sorted(set(flat_a) | set(flat_b)):
        va = flat_a.get(key, _missing_zero(key))
        vb = flat_b.get(key, _missing_zero(key))
        if va != vb:
            row: dict[str, Any] = {"key": key, a_label: va, b_label: vb}
            if _number(va) and _number(vb):
                row["delta"] = vb - va
            differences.append(row)
    return {
        "compare_version": COMPARE_VERSION,
        "scenario": first.get("scenario") or second.get("scenario"),
        "labels": [a_label, b_label],
        "same": not differences,
        "summaries": {a_label: a, b_label: b},
        "differences": differences,
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def table_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The differences as table rows: header, then key, each side, delta."""
    a_label, b_label = result["labels"]
    rows = [["what", a_label, b_label, "delta"]]
    for d in result["differences"]:
        delta = d.get("delta")
        rows.append(
            [
                d["key"],
                _text(d[a_label]),
                _text(d[b_label]),
                "" if delta is None else f"{delta:+}",
            ]
        )
    return rows


def render(result: Mapping[str, Any]) -> str:
    """A plain-text table of the differences (for logs and the README format)."""
    rows = table_rows(result)
    if len(rows) == 1:
        both = " and ".join(result["labels"])
        return f"scenario {result['scenario']}: no differences between {both}\n"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return (
        f"scenario {result['scenario']}: {len(rows) - 1} difference(s)\n" + "\n".join(lines) + "\n"
    )
