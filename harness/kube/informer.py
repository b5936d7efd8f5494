"""A list+watch cache (client-go informer in miniature) running in one thread.

Events are handed to the asyncio loop with ``call_soon_threadsafe``; the cache holds the
latest object per ``namespace/name``. On watch expiry (410) or error it relists and
synthesises DELETED for objects that vanished meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.kube.api import ApiError
from harness.kube.rest import RestClient

log = logging.getLogger("ekswin.kube.informer")

Handler = Callable[[str, dict[str, Any]], None]


def obj_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


class Informer:
    """Keeps `cache` in sync with `path` and calls `handler(type, obj)` on `loop`."""

    def __init__(
        self,
        client: RestClient,
        path: str,
        loop: asyncio.AbstractEventLoop,
        handler: Handler,
        query: Mapping[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.client = client
        self.path = path
        self.query = dict(query or {})
        self.loop = loop
        self.handler = handler
        self.cache: dict[str, dict[str, Any]] = {}
        self.synced = threading.Event()
        self.stopped = threading.Event()
        self.name = name or path
        self.thread = threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True)

    def start(self) -> Informer:
        """Start the list/watch thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop (it ends at the next event or watch timeout)."""
        self.stopped.set()

    def _emit(self, etype: str, obj: dict[str, Any]) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.handler, etype, obj)

    def _relist(self) -> str:
        items, rv = self.client.list_objects(self.path, self.query)
        fresh = {obj_key(o): o for o in items}
        for key in list(self.cache):
            if key not in fresh:
                self._emit("DELETED", self.cache.pop(key))
        for key, obj in fresh.items():
            etype = "MODIFIED" if key in self.cache else "ADDED"
            self.cache[key] = obj
            self._emit(etype, obj)
        return rv

    def _run(self) -> None:
        rv = ""
        while not self.stopped.is_set():
            try:
                if not rv:
                    rv = self._relist()
                    self.synced.set()
                for event in self.client.watch(self.path, rv, self.query, timeout_s=240):
                    if self.stopped.is_set():
                        return
                    etype, obj = event.get("type", ""), event.get("object") or {}
                    if etype == "ERROR":
                        rv = ""  # 410 Gone and friends: relist
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if etype == "BOOKMARK":
                        continue
                    key = obj_key(obj)
                    if etype == "DELETED":
                        self.cache.pop(key, None)
                    else:
                        self.cache[key] = obj
                    self._emit(etype, obj)
            except (ApiError, OSError, ValueError) as e:
                if self.stopped.is_set():
                    return
                log.warning("%s: watch failed (%s); relisting", self.name, e)
                rv = ""
                time.sleep(1.0)
            except Exception as e:  # urllib3 protocol errors etc.
                if self.stopped.is_set():
                    return
                log.warning("%s: watch error %r; relisting", self.name, e)
                rv = ""
                time.sleep(1.0)
