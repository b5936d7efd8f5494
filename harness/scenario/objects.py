"""The `apply`, `scale` and `delete_*` (by object name) steps: any Kubernetes object,
as `kubectl apply --server-side`, `kubectl scale` and `kubectl delete` do it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.workload import NAMESPACE

FIELD_MANAGER = "ekswin"


class ManifestError(ValueError):
    """A manifest that is not a list of Kubernetes objects (names the source)."""


def documents(text: str, source: str) -> list[dict[str, Any]]:
    """The objects of YAML manifest text (documents split by ---, `kind: List` expanded)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ManifestError(f"{source}: not YAML: {e}") from None
    return flatten(docs, source)


def flatten(docs: Any, source: str) -> list[dict[str, Any]]:
    """One object or a list of them (a `kind: List` expanded), each checked for
    apiVersion, kind and metadata.name."""
    items = docs if isinstance(docs, list) else [docs]
    out: list[dict[str, Any]] = []
    for i, obj in enumerate(items):
        if isinstance(obj, Mapping) and obj.get("kind") == "List":
            out.extend(flatten(list(obj.get("items") or []), f"{source} (List item)"))
            continue
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        if not (
            isinstance(obj, Mapping)
            and isinstance(obj.get("apiVersion"), str)
            and isinstance(obj.get("kind"), str)
            and isinstance(meta, Mapping)
            and isinstance(meta.get("name"), str)
        ):
            raise ManifestError(
                f"{source}: object {i}: expected a Kubernetes object with apiVersion, kind "
                "and metadata.name"
            )
        out.append(dict(obj))
    if not out:
        raise ManifestError(f"{source}: no objects")
    return out


def manifest_objects(args: Mapping[str, Any], base_dir: Path) -> list[dict[str, Any]]:
    """The objects an apply step names: `manifest` (object, list or YAML text) or `file`."""
    if "file" in args:
        path = Path(args["file"])
        path = path if path.is_absolute() else base_dir / path
        try:
            text = path.read_text()
        except OSError as e:
            raise ManifestError(f"apply.file {path}: {e.strerror or e}") from None
        return documents(text, str(path))
    manifest = args["manifest"]
    if isinstance(manifest, str):
        return documents(manifest, "apply.manifest")
    return flatten(manifest, "apply.manifest")


def apply_objects(api: Any, objs: list[dict[str, Any]]) -> list[str]:
    """Server-side apply each object (field manager ekswin, conflicts forced: the step
    is the user's intent); namespaced ones without a namespace go to `default`."""
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(api)
    done = []
    for obj in objs:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = dict(obj["metadata"])
        ns = (meta.get("namespace") or NAMESPACE) if resource.namespaced else None
        if ns is not None:
            meta["namespace"] = ns
        body = {**obj, "metadata": meta}
        resource.server_side_apply(
            body=body,
            name=meta["name"],
            namespace=ns,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        done.append(f"{obj['kind']}/{meta['name']}")
    return done


def apply_step(api: Any, args: Mapping[str, Any], base_dir: Path) -> str:
    """The apply step: every object of the manifest applied; a one-line summary."""
    done = apply_objects(api, manifest_objects(args, base_dir))
    return "applied " + ", ".join(done)


def scale(api: Any, args: Mapping[str, Any]) -> str:
    """The scale step: a Deployment's spec.replicas through its scale subresource."""
    from kubernetes import client

    ns = args.get("namespace", NAMESPACE)
    replicas = int(args["replicas"])
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        args["name"], ns, {"spec": {"replicas": replicas}}
    )
    return f"deployment {ns}/{args['name']} scaled to {replicas}"


def delete_object(api: Any, kind: str, args: Mapping[str, Any]) -> str:
    """Delete one object by name (`object`, `namespace`); one already gone is no error."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ns = args.get("namespace", NAMESPACE)
    name = args["object"]
    delete = {
        "Pod": client.CoreV1Api(api).delete_namespaced_pod,
        "Service": client.CoreV1Api(api).delete_namespaced_service,
        "Deployment": client.AppsV1Api(api).delete_namespaced_deployment,
    }[kind]
    try:
        delete(name, ns)
    except ApiException as e:
        if e.status != 404:
            raise
        return f"{kind} {ns}/{name} was already gone"
    return f"{kind} {ns}/{name} deleted"
