"""How far the Windows nodes of a start are: registered (the Node exists), initialised
(the controller advertises its pod IPs) and Ready (the kubelet's Ready condition).

:func:`count_nodes` is a plain rule over Node objects; :class:`NodeProgress` polls the
API server in a thread while nodes start and reports each change through the start's
progress callback (`ekswin up` prints it), at most every few seconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.nodes.spec import IP_RESOURCE

WINDOWS = "kubernetes.io/os=windows"


@dataclass(frozen=True)
class NodeCounts:
    """How many of the nodes asked for are at each stage."""

    wanted: int
    registered: int = 0
    initialised: int = 0
    ready: int = 0
    schedulable: int = 0  # Ready and (when IPs are needed) initialised

    def line(self, needs_ip: bool) -> str:
        """`12/100 registered, 10 initialised, 9 Ready`."""
        init = f", {self.initialised} initialised" if needs_ip else ""
        return f"nodes: {self.registered}/{self.wanted} registered{init}, {self.ready} Ready"


def count_nodes(nodes: Iterable[Mapping[str, Any]], names: set[str], needs_ip: bool) -> NodeCounts:
    """Count the Node objects (API JSON) among `names` at each stage."""
    registered = initialised = ready = schedulable = 0
    for node in nodes:
        if (node.get("metadata") or {}).get("name") not in names:
            continue
        status = node.get("status") or {}
        registered += 1
        init = IP_RESOURCE in (status.get("allocatable") or {})
        is_ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        initialised += init
        ready += is_ready
        schedulable += is_ready and (init or not needs_ip)
    return NodeCounts(len(names), registered, initialised, ready, schedulable)


def wait_schedulable(
    nodes_now: Callable[[], Iterable[Mapping[str, Any]]],
    names: set[str],
    needs_ip: bool,
    timeout_s: float,
    what: str,
    say: Callable[[str], object],
    ip_from: str = "",
) -> None:
    """Wait until every node of `names` in `nodes_now()` is Ready and (when `needs_ip`)
    advertises its pod IPs (`ip_from`: who advertises them, for the message); a timeout
    says how far the nodes got."""
    from harness.waiting import WaitTimeout, wait_until

    last: list[NodeCounts] = []

    def schedulable() -> bool:
        last[:] = [count_nodes(nodes_now(), names, needs_ip)]
        return last[0].schedulable == len(names)

    if needs_ip:
        what += f" with {IP_RESOURCE} allocatable" + (f" ({ip_from})" if ip_from else "")
    try:
        # A list of thousands of Nodes is megabytes: poll large starts less often.
        wait_until(schedulable, timeout_s, what, max_interval_s=max(0.5, len(names) / 500))
    except WaitTimeout as e:
        seen = f"; {last[0].line(needs_ip)}" if last else ""
        raise WaitTimeout(f"{e}{seen}") from None
    say(f"    {len(names)} node(s) {'schedulable' if needs_ip else 'Ready'}")


def list_windows_nodes(api: Any) -> list[dict[str, Any]]:
    """Every Windows Node as plain JSON (no model objects: cheap for thousands), read
    from the API server's watch cache (resourceVersion 0)."""
    from kubernetes import client

    resp = client.CoreV1Api(api).list_node(
        label_selector=WINDOWS, resource_version="0", _preload_content=False
    )
    return list(json.loads(resp.data).get("items") or [])


class NodeProgress:
    """A thread reporting :class:`NodeCounts` changes while nodes start (context manager)."""

    def __init__(
        self, api: Any, names: set[str], needs_ip: bool, say: Callable[[str], None]
    ) -> None:
        self.api, self.names, self.needs_ip, self.say = api, names, needs_ip, say
        # Large starts are polled less often: a list of 1,000 Nodes is megabytes.
        self.interval_s = max(2.0, len(names) / 250)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-progress", daemon=True)
        self.last: NodeCounts | None = None

    def __enter__(self) -> NodeProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                counts = count_nodes(list_windows_nodes(self.api), self.names, self.needs_ip)
            except Exception:  # the API server is busy: try again next round
                continue
            if counts != self.last and counts.schedulable < counts.wanted:
                self.say(f"    {counts.line(self.needs_ip)}")
            self.last = counts
