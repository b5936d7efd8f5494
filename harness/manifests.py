"""Apply Kubernetes manifests (plain dicts) like `kubectl apply` would: create or replace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def apply(api: Any, manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """Create each object, replacing it when it exists; return 'kind/name' of each."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(api)
    applied = []
    for obj in manifests:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj.get("metadata", {})
        ns = meta.get("namespace") if resource.namespaced else None
        try:
            resource.create(body=dict(obj), namespace=ns)
        except ApiException as e:
            if e.status != 409:
                raise
            current = resource.get(name=meta["name"], namespace=ns)
            body = dict(obj)
            body["metadata"] = {**meta, "resourceVersion": current.metadata.resourceVersion}
            resource.replace(body=body, namespace=ns)
        applied.append(f"{obj['kind']}/{meta['name']}")
    return applied


def ensure_namespace(api: Any, name: str, timeout_s: float = 30.0) -> None:
    """Create namespace `name` (if absent) and wait until pods can be created in it.

    On Kubernetes 1.20 a pod is refused ("No API token found for service account
    \\"default\\"") until the token controller has given the new namespace's default
    ServiceAccount its token; a dry-run create tells when that has happened.
    """
    import time

    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    except ApiException as e:
        if e.status != 409:
            raise
    probe = client.V1Pod(
        metadata=client.V1ObjectMeta(name="ekswin-readiness-probe"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="probe")]),
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            core.create_namespaced_pod(name, probe, dry_run="All")
            return
        except ApiException as e:
            if e.status != 500 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)
