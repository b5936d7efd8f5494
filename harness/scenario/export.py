"""`scenario export`: a running (or stopped) environment's history as a scenario file.

The environment spec it was started with (env.json), then, in time order with `wait`
steps for the gaps, the steps carried out through `ekswin step` (the session's
journal) and the changes the user made through the Kubernetes API (the API server's
audit log, harness.kube.audit): `apply` for a create / update / patch of a pod,
Deployment or Service, `scale` for a Deployment's scale subresource, `delete_pods` /
`delete_services` / `delete_deployments` (by object) for a delete, and
`set_configmap` / `replace_configmap` / `delete_configmap` for amazon-vpc-cni. Steps
from the audit log do not settle (the user's commands did not wait either); the
waits keep their pace. Rules are plain functions over plain data."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.kube import audit
from harness.scenario.live import CONFIGMAP

MIN_WAIT_S = 0.5
#: Server-set metadata a manifest never carries.
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "vpc.amazonaws.com/PrivateIPv4Address",
)
KINDS = {"pods": "Pod", "services": "Service", "deployments": "Deployment"}


@dataclass
class Timed:
    """One step with when it started and ended (seconds since the epoch)."""

    t_start: float
    t_end: float
    step: dict[str, Any]


@dataclass
class Export:
    """An exported scenario document and what could not be turned into a step."""

    document: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


def _stamp(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def clean_manifest(obj: Mapping[str, Any], from_response: bool) -> dict[str, Any]:
    """An object as a manifest: no status, no server-set metadata; from a response, no
    fields the server allocated (a Service's cluster IPs and node ports, a pod's node)."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = dict(out.get("metadata") or {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    if meta.get("name"):
        meta.pop("generateName", None)
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    spec = out.get("spec")
    if from_response and isinstance(spec, dict):
        if out.get("kind") == "Service":
            for key in ("clusterIP", "clusterIPs"):
                spec.pop(key, None)
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
        if out.get("kind") == "Pod":
            spec.pop("nodeName", None)
    return out


def audit_step(ev: Mapping[str, Any], configmap: dict[str, str] | None) -> dict[str, Any] | None:
    """The step one audit event stands for (None: nothing to replay). `configmap` is the
    amazon-vpc-cni data known before it (set_configmap when only keys were added or
    changed, replace_configmap when some were removed)."""
    ref = ev.get("objectRef") or {}
    resource, sub = ref.get("resource"), ref.get("subresource")
    verb = ev.get("verb")
    ns = ref.get("namespace") or "default"
    name = ref.get("name")
    response = ev.get("responseObject") if isinstance(ev.get("responseObject"), dict) else None
    request = ev.get("requestObject") if isinstance(ev.get("requestObject"), dict) else None
    if resource == "configmaps":
        cm_name = name or ((request or {}).get("metadata") or {}).get("name")
        if (ns, cm_name) != CONFIGMAP:
            return None
        if verb == "delete":
            return {"delete_configmap": None}
        data = {str(k): str(v) for k, v in ((response or request or {}).get("data") or {}).items()}
        if configmap is not None and set(configmap) - set(data):
            return {"replace_configmap": data}
        return {"set_configmap": data}
    if resource not in KINDS:
        return None
    if sub == "scale" and resource == "deployments" and verb in ("update", "patch"):
        replicas = ((response or request or {}).get("spec") or {}).get("replicas")
        if replicas is None:
            return None
        return {"scale": {"name": name, "replicas": int(replicas), "namespace": ns}}
    if sub:
        return None
    if verb == "delete" and name:
        return {f"delete_{resource}": {"object": name, "namespace": ns}}
    if verb in ("create", "update", "patch"):
        # A create's or an update's request is the user's manifest; a patch's is only a
        # patch, so its response (the object after it) is what to apply.
        use_request = verb in ("create", "update") and request is not None
        obj = request if use_request else response
        if not obj:
            return None
        manifest = clean_manifest(obj, from_response=not use_request)
        meta = manifest["metadata"]
        if not meta.get("name") and response:  # generateName: the name it got
            meta["name"] = (response.get("metadata") or {}).get("name")
            meta.pop("generateName", None)
        meta.setdefault("namespace", ns)
        group = ref.get("apiGroup")
        manifest.setdefault("apiVersion", f"{group}/{ref.get('apiVersion')}" if group else "v1")
        manifest.setdefault("kind", KINDS[resource])
        return {"apply": {"manifest": manifest}}
    return None


def audit_steps(events: Iterable[Mapping[str, Any]], since: float) -> tuple[list[Timed], list[str]]:
    """The user's steps from audit events after `since`, and a note per event skipped."""
    out: list[Timed] = []
    skipped: list[str] = []
    configmap: dict[str, str] | None = None
    for ev in events:
        if not audit.by_user(dict(ev)):
            continue
        t = _stamp(ev.get("requestReceivedTimestamp")) or 0.0
        if t < since:
            continue
        step = audit_step(ev, configmap)
        ref = ev.get("objectRef") or {}
        what = f"{ev.get('verb')} {ref.get('resource')}"
        what += f"/{ref['subresource']}" if ref.get("subresource") else ""
        what += f" {ref.get('namespace') or ''}/{ref.get('name') or ''}"
        if step is None:
            skipped.append(what)
            continue
        for key in ("set_configmap", "replace_configmap"):
            if key in step:
                configmap = dict(step[key])
        if "delete_configmap" in step:
            configmap = None
        step["settle"] = False
        end = _stamp(ev.get("stageTimestamp")) or t
        out.append(Timed(t, end, step))
    return out, skipped


def journal_timed(entries: Iterable[Mapping[str, Any]]) -> tuple[list[Timed], list[str]]:
    """The journal's steps that took effect (failed steps and expects are left out)."""
    out: list[Timed] = []
    skipped: list[str] = []
    for e in entries:
        step = dict(e["step"])
        if not e.get("ok"):
            kind = next(k for k in step if k != "settle")
            skipped.append(f"ekswin step {kind} (failed: {e.get('error') or e.get('detail')})")
            continue
        out.append(Timed(float(e["t_start"]), float(e["t_end"]), step))
    return out, skipped


def merge(items: Iterable[Timed]) -> list[dict[str, Any]]:
    """Steps in time order with a `wait` for every gap of at least MIN_WAIT_S between
    one's end and the next one's start (none before the first: a scenario settles
    after the start anyway)."""
    steps: list[dict[str, Any]] = []
    ordered = sorted(items, key=lambda i: i.t_start)
    cursor = ordered[0].t_start if ordered else 0.0
    for item in ordered:
        gap = item.t_start - cursor
        if gap >= MIN_WAIT_S:
            steps.append({"wait": {"seconds": round(gap, 1)}})
        steps.append(item.step)
        cursor = max(cursor, item.t_end)
    return steps


def export(run_dir: Path) -> Export:
    """The scenario of the environment in `run_dir` (ValueError when it has no env.json)."""
    from harness.env import read_state
    from harness.scenario.session import read_journal

    state = read_state(run_dir)
    spec = state.get("spec")
    if not isinstance(spec, dict):
        raise ValueError(f"{run_dir}: no env.json with the environment's spec; was it started?")
    started_at = float(str(state.get("started_at") or 0.0))
    journal, skipped = journal_timed(read_journal(run_dir))
    user, skipped_user = audit_steps(audit.events(run_dir), started_at)
    doc = {k: v for k, v in spec.items() if v is not None}
    doc["steps"] = merge([*journal, *user])
    return Export(doc, [*skipped, *skipped_user])


def render(exp: Export, name: str) -> str:
    """The export as YAML text with a header saying where it came from."""
    import yaml

    lines = [
        f"# Exported by `ekswin scenario export` from environment {name!r}:",
        "# its spec, then the `ekswin step` steps and the Kubernetes API changes in order.",
    ]
    for s in exp.skipped:
        lines.append(f"# not replayed: {s}")
    return "\n".join(lines) + "\n" + yaml.safe_dump(exp.document, sort_keys=False)
