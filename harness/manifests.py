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
