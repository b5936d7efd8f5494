"""List+watch loops over the official Kubernetes client for the scenario runner's
threads (the harness's own informer, harness.kube.informer, feeds an asyncio loop)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Handler = Callable[[str, Any], None]


def list_and_watch(
    lister: Callable[..., Any], handle: Handler, stop: threading.Event, **kw: Any
) -> None:
    """Call `handle(type, obj)` for every listed object (type ``ADDED``) and every watch
    event, until `stop` is set. An expired watch or an API restart lists again."""
    from kubernetes import watch

    rv = ""
    while not stop.is_set():
        try:
            if not rv:
                listed = lister(**kw)
                for obj in listed.items:
                    handle("ADDED", obj)
                rv = listed.metadata.resource_version
            w = watch.Watch()
            for item in w.stream(lister, resource_version=rv, timeout_seconds=5, **kw):
                obj = item["object"]
                rv = obj.metadata.resource_version or rv
                handle(item["type"], obj)
                if stop.is_set():
                    w.stop()
                    break
        except Exception:  # an expired watch or an API restart: list again
            rv = ""
            stop.wait(0.5)
