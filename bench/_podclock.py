"""When each benchmark pod was first seen Running, and gone: one watch in a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.kube.rest import RestClient

LABEL = "bench.ekswin.dev/batch"


class PodClock:
    """Watches the pods labelled :data:`LABEL` in `namespace`; records (monotonic clock)
    the first time each name is Running, and the time each name was deleted."""

    def __init__(self, client: RestClient, namespace: str = "default") -> None:
        self.client = client
        self.path = f"/api/v1/namespaces/{namespace}/pods"
        self.query = {"labelSelector": LABEL}
        self.running: dict[str, float] = {}
        self.present: set[str] = set()
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="pod-clock", daemon=True)

    def start(self) -> PodClock:
        """Start watching; return once the first list is in."""
        self._thread.start()
        if not self.synced.wait(30):
            raise RuntimeError("pod watch did not list within 30 s")
        return self

    def stop(self) -> None:
        """Ask the thread to stop (a daemon: it ends at the next event or watch timeout)."""
        self._stop.set()

    def count_running(self, names: set[str]) -> int:
        """How many of `names` have been seen Running."""
        with self._lock:
            return len(names & self.running.keys())

    def count_present(self, names: set[str]) -> int:
        """How many of `names` still exist."""
        with self._lock:
            return len(names & self.present)

    def _seen(self, etype: str, pod: dict[str, Any], now: float) -> None:
        name = str((pod.get("metadata") or {}).get("name", ""))
        with self._lock:
            if etype == "DELETED":
                self.present.discard(name)
                self.running.pop(name, None)  # a later pod of that name starts afresh
                return
            self.present.add(name)
            if (pod.get("status") or {}).get("phase") == "Running":
                self.running.setdefault(name, now)

    def _relist(self) -> str:
        items, rv = self.client.list_objects(self.path, self.query)
        now = time.monotonic()
        names = {str(p["metadata"]["name"]) for p in items}
        with self._lock:
            for gone in self.present - names:
                self.present.discard(gone)
                self.running.pop(gone, None)
        for pod in items:
            self._seen("ADDED", pod, now)
        return rv

    def _loop(self) -> None:
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self._relist()
                    self.synced.set()
                for event in self.client.watch(self.path, rv, self.query, timeout_s=120):
                    now = time.monotonic()
                    etype, obj = event.get("type", ""), event.get("object") or {}
                    if etype == "ERROR":  # 410 Gone: the window moved on, relist
                        rv = ""
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if etype != "BOOKMARK":
                        self._seen(etype, obj, now)
                    if self._stop.is_set():
                        return
            except Exception:  # ApiError, urllib3 protocol/timeouts, bad JSON
                if self._stop.is_set():
                    return
                rv = ""
                self._stop.wait(0.5)  # the API server is busy or restarting: retry
