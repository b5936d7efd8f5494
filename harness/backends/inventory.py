"""Every object a cluster serves, found through discovery: to show that `down` left a
cluster as `up` found it.

Each API group's preferred version is listed once (so a kind served by two groups,
like Events, is not counted twice); resources without the `list` verb and
subresources are skipped. Objects are keyed by group, resource, namespace and name,
with their uid and resourceVersion, so a deleted-and-recreated or modified object
shows as a difference too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

# Written continuously by the cluster itself, whatever runs on it.
VOLATILE = frozenset(
    {("", "events"), ("events.k8s.io", "events"), ("coordination.k8s.io", "leases")}
)

Key = tuple[str, str, str, str]  # group, resource, namespace, name


def _group_versions(api: Any) -> list[tuple[str, str]]:
    from kubernetes import client

    out = [("", "v1")]
    for group in client.ApisApi(api).get_api_versions().groups:
        out.append((group.name, group.preferred_version.group_version))
    return out


def _resources(api: Any, group_version: str) -> list[dict[str, Any]]:
    import json

    path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    resp = api.call_api(
        path,
        "GET",
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    return list(json.loads(resp.data).get("resources", []))


def inventory(api: Any, skip: Collection[tuple[str, str]] = VOLATILE) -> dict[Key, tuple[str, str]]:
    """{(group, resource, namespace, name): (uid, resourceVersion)} of every listable object,
    without the (group, resource) pairs in `skip`."""
    import json

    objects: dict[Key, tuple[str, str]] = {}
    for group, group_version in _group_versions(api):
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        for res in _resources(api, group_version):
            name = res["name"]
            if "/" in name or "list" not in res.get("verbs", []) or (group, name) in skip:
                continue
            resp = api.call_api(
                f"{base}/{name}",
                "GET",
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
            )
            for item in json.loads(resp.data).get("items") or []:
                meta = item.get("metadata") or {}
                key = (group, name, meta.get("namespace", ""), meta.get("name", ""))
                objects[key] = (meta.get("uid", ""), meta.get("resourceVersion", ""))
    return objects


def difference(
    before: dict[Key, tuple[str, str]], after: dict[Key, tuple[str, str]]
) -> dict[str, list[Key]]:
    """What was added, removed or changed (other uid or resourceVersion) between two
    inventories; all lists empty when the cluster is as it was."""
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
    }
