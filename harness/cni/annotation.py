"""The plugin's wait for the pod's IP annotation, as the vpc-bridge plugin waits for it.

GET the pod; while the annotation is absent, watch that one pod until it appears, the
pod goes away (404) or the deadline passes (None). Standard library only, on
``harness.kube.client``: the exec'd plugin runs this per ADD.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.kube.api import ApiError, pod_path, watch_query
from harness.kube.client import KubeClient


def pod_annotation(pod: Mapping[str, Any] | None, key: str) -> str | None:
    """Annotation `key` of a pod object (None when absent or empty)."""
    value = ((pod or {}).get("metadata", {}).get("annotations") or {}).get(key)
    return str(value) if value else None


def wait_pod_annotation(
    client: KubeClient, namespace: str, name: str, key: str, timeout_s: float
) -> str | None:
    """The value of annotation `key` on the pod, waiting up to `timeout_s` (watch, not poll)."""
    deadline = time.monotonic() + timeout_s
    pod = client.get_pod(namespace, name)
    value = pod_annotation(pod, key)
    rv = pod.get("metadata", {}).get("resourceVersion", "")
    while not value:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        query = watch_query(
            rv,
            max(1, int(remaining + 0.999)),
            bookmarks=False,
            query={"fieldSelector": f"metadata.name={name}"},
        )
        try:
            # The socket timeout bounds one read, so a quiet watch ends at the deadline.
            for event in client.watch(pod_path(namespace), query, remaining):
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    rv = ""  # expired resourceVersion: restart from a fresh GET
                    break
                if event.get("type") == "DELETED":
                    raise ApiError(404, f'pods "{name}" not found')
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                value = pod_annotation(obj, key)
                if value:
                    return value
                if time.monotonic() >= deadline:
                    return None
        except TimeoutError:
            return None
        except ApiError as e:
            if e.status != 0 or "timed out" not in str(e):
                raise
            return None
        if not rv:
            pod = client.get_pod(namespace, name)
            value = pod_annotation(pod, key)
            rv = pod.get("metadata", {}).get("resourceVersion", "")
    return value
