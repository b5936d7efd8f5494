"""Wait until a scenario's environment settles after a step.

Settled: for a window W (`fast` 1 s, `real` 3 s) nothing changed in pod phases, node
assignments, IP annotations, node capacity, ENI IPs and prefixes or HNS object counts,
and the controller's introspection reports no pending EC2 create/delete. Pods and nodes
are followed with watches; EC2, HNS and the controller, which offer none, are asked
every quarter second. Cooling IPs, read-only EC2 calls and a waiting pod's retries
(Events, condition messages) are not changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.scenario.live import Live
from harness.scenario.snapshot import get_json, hns_counts
from harness.scenario.watch import list_and_watch
from harness.scenario.workload import NAMESPACE
from harness.spec import REGION

POLL_S = 0.25


@dataclass(frozen=True)
class SettleResult:
    """How a step's settle ended."""

    settled: bool
    waited_s: float
    still_changing: tuple[str, ...] = ()


def window_s(profile: str) -> float:
    """The quiet window W of a timing profile."""
    return 1.0 if profile == "fast" else 3.0


def _pod_key(obj: Any) -> tuple[Any, ...]:
    annotations = obj.metadata.annotations or {}
    return (
        obj.status.phase if obj.status else None,
        obj.spec.node_name,
        annotations.get("vpc.amazonaws.com/PrivateIPv4Address"),
        obj.metadata.deletion_timestamp is not None,
    )


def _node_key(obj: Any) -> tuple[Any, ...]:
    cap = (obj.status.capacity or {}) if obj.status else {}
    return (cap.get("vpc.amazonaws.com/PrivateIPv4Address"),)


class _Watch:
    """One watch (pods of the scenario, or nodes) stamping the time of the last change."""

    def __init__(
        self, name: str, lister: Callable[..., Any], key: Callable[[Any], Any], **kw: Any
    ) -> None:
        self.name = name
        self.lister = lister
        self.key = key
        self.kw = kw
        self.last_change = time.monotonic()
        self.seen: dict[str, Any] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"settle-{name}", daemon=True)
        self.thread.start()

    def _touch(self, uid: str, value: Any) -> None:
        if self.seen.get(uid) != value:
            self.seen[uid] = value
            self.last_change = time.monotonic()

    def _handle(self, etype: str, obj: Any) -> None:
        if etype == "DELETED":
            self.seen.pop(obj.metadata.uid, None)
            self.last_change = time.monotonic()
        else:
            self._touch(obj.metadata.uid, self.key(obj))

    def _run(self) -> None:
        list_and_watch(self.lister, self._handle, self._stop, **self.kw)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()


class Settler:
    """Follows an environment's changes for the whole scenario; `wait` after each step."""

    def __init__(self, live: Live) -> None:
        from kubernetes import client

        self.live = live
        core = client.CoreV1Api(live.api)
        self.watches = [
            _Watch(
                "pods",
                core.list_namespaced_pod,
                _pod_key,
                namespace=NAMESPACE,
            ),
            _Watch("nodes", core.list_node, _node_key, label_selector="kubernetes.io/os=windows"),
        ]
        self.window = window_s(live.env.spec.timing.profile)

    def _polled(self) -> dict[str, Any]:
        """The parts no watch covers: ENI IPs/prefixes, HNS counts, controller pending."""
        from fake_hns.client import HnsClient
        from harness.nodes.ec2 import ec2_client

        pipe = self.live.pipeline
        if pipe is None or not pipe.nodes:
            return {}
        out: dict[str, Any] = {}
        enis = [n["eni_id"] for n in pipe.nodes]
        described = ec2_client(pipe.ec2_url, REGION).describe_network_interfaces(
            NetworkInterfaceIds=enis
        )["NetworkInterfaces"]
        out["ec2"] = sorted(
            (
                e["NetworkInterfaceId"],
                tuple(sorted(a["PrivateIpAddress"] for a in e.get("PrivateIpAddresses", []))),
                tuple(sorted(p["Ipv4Prefix"] for p in e.get("Ipv4Prefixes", []))),
            )
            for e in described
        )
        with HnsClient(pipe.hns_target, host="") as hns:
            dump = json.loads(hns.dump_state(all_hosts=True))
        out["hns"] = sorted(hns_counts(dump).items())
        intro = (
            get_json(f"{pipe.controllers[0].url}/introspect/summary") if pipe.controllers else None
        )
        out["controller"] = bool((intro or {}).get("pending", False))
        return out

    def wait(self, deadline_s: float) -> SettleResult:
        """Block until settled or `deadline_s` passed."""
        start = time.monotonic()
        last: dict[str, Any] = {}
        changed_at: dict[str, float] = {w.name: w.last_change for w in self.watches}
        while True:
            now = time.monotonic()
            try:
                polled = self._polled()
            except Exception:  # a component restarting: that is a change too
                polled = {"unreachable": now}
            for key, value in polled.items():
                if last.get(key) != value:
                    changed_at[key] = now
            last = polled
            for w in self.watches:
                changed_at[w.name] = w.last_change
            if polled.get("controller"):
                changed_at["controller"] = now  # pending work counts as not settled
            busy = tuple(sorted(k for k, t in changed_at.items() if now - t < self.window))
            if not busy and now - start >= self.window:
                return SettleResult(True, now - start)
            if now - start >= deadline_s:
                return SettleResult(False, now - start, busy)
            time.sleep(POLL_S)

    def close(self) -> None:
        """Stop the watches."""
        for w in self.watches:
            w.close()
