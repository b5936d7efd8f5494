"""The soak's bookkeeping and report, as plain rules over plain data (no servers).

- :class:`Ec2Tally`: fake_ec2's request log rows, counted by action and error code, the
  soak's own reads (signed with :data:`OBSERVER_KEY`) left out.
- :class:`ViolationLog`: invariant checks over time. A violation counts when the same
  one (id, node, message) shows in two checks in a row, because one observation reads
  Kubernetes, EC2 and HNS one after the other and a pod deleted in between may look
  broken once. While a fault is active or not yet recovered from, only the safety
  invariants count (an IP given twice, outside its ENI or not assigned by EC2, invalid
  prefixes, wrong capacity); HNS agreement may lag then, which is what recovery waits
  for. Every violation seen once is kept too (`transient`).
- :func:`pods_to_run`, :func:`waiting_for_ip`: which pods must be Running, which wait.
- :func:`table`: the printed summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.invariants import Violation

OBSERVER_KEY = "ekswin-soak-observer"  # the soak's own EC2 reads are signed with it
IP_RESOURCE = "vpc.amazonaws.com/PrivateIPv4Address"
# Invariants that must hold even during a fault: breaking one is a bug, not a lag.
SAFETY = frozenset(
    {
        "no-duplicate-ip",
        "ip-in-eni",
        "prefixes-valid",
        "ip-assigned-by-ec2",
        "capacity-matches-mode",
    }
)


@dataclass
class Ec2Tally:
    """EC2 requests the components made (the soak's own reads excluded)."""

    by_action: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    observer_calls: int = 0
    last_seq: int = 0

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count request-log rows newer than the last one counted."""
        for r in rows:
            seq = int(r["seq"])
            if seq <= self.last_seq:
                continue
            self.last_seq = seq
            if r.get("access_key") == OBSERVER_KEY:
                self.observer_calls += 1
                continue
            self.by_action[str(r["action"])] += 1
            if r.get("code", "OK") != "OK":
                self.errors[str(r["code"])] += 1

    @property
    def total(self) -> int:
        """Every counted call."""
        return sum(self.by_action.values())

    def to_dict(self, pods: int) -> dict[str, Any]:
        """The report's `ec2`."""
        return {
            "calls": self.total,
            "calls_per_pod": round(self.total / pods, 2) if pods else None,
            "by_action": dict(sorted(self.by_action.items())),
            "errors": dict(sorted(self.errors.items())),
            "observer_calls_excluded": self.observer_calls,
        }


def _key(v: Violation) -> tuple[str, str, str]:
    return (v.id, v.node or "", v.message)


@dataclass
class ViolationLog:
    """Invariant checks in time order; see the module docstring for what counts."""

    checks: int = 0
    confirmed: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    transient: Counter[str] = field(default_factory=Counter)
    _last: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, t: float, violations: Iterable[Violation], *, fault_active: bool) -> None:
        """Record one check at `t` (seconds since the start)."""
        self.checks += 1
        now = {_key(v): v for v in violations}
        for key, v in now.items():
            self.transient[v.id] += 1
            counts = v.id in SAFETY or not fault_active
            if key in self._last and counts and key not in self.confirmed:
                self.confirmed[key] = {
                    "t": round(t, 3),
                    "id": v.id,
                    "node": v.node,
                    "message": v.message,
                }
        self._last = set(now)

    def final(self, t: float, violations: Iterable[Violation]) -> None:
        """The check after the cool-down: anything left is a violation."""
        self.checks += 1
        for v in violations:
            self.confirmed.setdefault(
                _key(v), {"t": round(t, 3), "id": v.id, "node": v.node, "message": v.message}
            )

    def to_dict(self) -> dict[str, Any]:
        """The report's `invariants`."""
        return {
            "checks": self.checks,
            "violations": list(self.confirmed.values()),
            "seen_once": dict(sorted(self.transient.items())),
        }


def requests_ip(pod: Any) -> bool:
    """True when the pod (a V1Pod) asks for a pod IP through the webhook's resource."""
    for c in (pod.spec.containers or []) if pod.spec else []:
        res = c.resources
        if res is None:
            continue
        if IP_RESOURCE in (res.limits or {}) or IP_RESOURCE in (res.requests or {}):
            return True
    return False


@dataclass(frozen=True)
class PodRow:
    """What the soak follows of one pod."""

    name: str
    node: str | None
    phase: str
    annotated: bool  # carries the controller's IP annotation
    requests_ip: bool  # the webhook added the IP resource (False: admitted without it)
    terminating: bool

    def waiting_for_ip(self) -> bool:
        """Scheduled, asking for an IP, none given yet."""
        return (
            bool(self.node)
            and self.requests_ip
            and not self.annotated
            and not self.terminating
            and self.phase == "Pending"
        )


def pod_row(pod: Any) -> PodRow:
    """A V1Pod as a PodRow."""
    annotations = pod.metadata.annotations or {}
    return PodRow(
        name=pod.metadata.name,
        node=pod.spec.node_name if pod.spec else None,
        phase=(pod.status.phase if pod.status else None) or "Pending",
        annotated=bool(annotations.get(IP_RESOURCE)),
        requests_ip=requests_ip(pod),
        terminating=pod.metadata.deletion_timestamp is not None,
    )


def waiting_for_ip(rows: Iterable[PodRow]) -> int:
    """How many pods wait for an IP."""
    return sum(1 for r in rows if r.waiting_for_ip())


def pods_to_run(rows: Iterable[PodRow], created_before: set[str]) -> list[str]:
    """Pods that must be Running but are not: created before the moment asked about, not
    being deleted, and admitted with the IP request (one admitted while the webhook was
    down never gets an IP, as with the real failurePolicy: Ignore)."""
    return sorted(
        r.name
        for r in rows
        if r.name in created_before and not r.terminating and r.requests_ip and r.phase != "Running"
    )


def _fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def table(report: Mapping[str, Any]) -> list[str]:
    """The printed summary: the headline figures, then one row per fault."""
    ops, pods, ec2 = report["ops"], report["pods"], report["ec2"]
    inv, restarts = report["invariants"], report["restarts"]
    rows = [
        f"soak {'PASSED' if report['ok'] else 'FAILED'} — seed {report['seed']}, "
        f"{report['nodes']} nodes, {report['timing']} timing, {report['duration_s']:.0f} s "
        f"(environment start {report['start_s']:.0f} s; {report['cpu']['cores']} cores, "
        f"load {report['cpu']['load_start']:.1f} → {report['cpu']['load_end']:.1f})",
        f"operations   {ops['done']}/{ops['planned']} ({ops['creates']} creates, "
        f"{ops['deletes']} deletes; {ops['retried']} retried, {ops['failed']} failed)",
        f"pods         peak {pods['peak_living']} living, peak {pods['peak_waiting_for_ip']} "
        f"waiting for an IP, {pods['missed_by_webhook']} admitted without the webhook",
        f"EC2          {ec2['calls']} calls, {ec2['calls_per_pod']} per pod; errors "
        + (", ".join(f"{k} {v}" for k, v in ec2["errors"].items()) or "none"),
        f"restarts     {restarts['total']} survived ("
        + ", ".join(f"{k} {v}" for k, v in restarts["by_component"].items() if v)
        + ")",
        f"invariants   {len(inv['violations'])} violations in {inv['checks']} checks",
        "",
        f"{'#':>2}  {'t':>7}  {'fault':<22} {'held':>7} {'EC2 err':>7} {'churn':>5}  "
        f"{'recovered in':>12}",
    ]
    for i, f in enumerate(report["faults"]):
        rec = _fmt_s(f["recovery_s"]) if f["recovered"] else "NOT RECOVERED"
        churn = "yes" if f.get("during_churn", True) else "no"
        rows.append(
            f"{i:>2}  {f['t']:>6.1f}s  {f['kind']:<22} {_fmt_s(f['held_s']):>7} "
            f"{f.get('ec2_errors', 0):>7} {churn:>5}  {rec:>12}"
        )
    times = sorted(f["recovery_s"] for f in report["faults"] if f["recovered"])
    if times:
        rows.append(f"recovery: median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s")
    for v in inv["violations"]:
        rows.append(f"VIOLATION {v['id']} ({v['node'] or 'cluster'}) at {v['t']} s: {v['message']}")
    if report.get("error"):
        rows.append(f"error: {report['error']}")
    return rows
