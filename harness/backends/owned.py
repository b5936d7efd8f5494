"""Objects an environment installs into a cluster it does not own, and how `down` finds them.

Every object the harness creates in an `existing` (or `kind`) cluster is labelled
``app.kubernetes.io/managed-by: ekswin`` and ``ekswin.dev/environment: <name>`` and is
recorded in the run directory's ``owned.json`` *before* it is created, so a `down`
after a crashed `up` still removes it. Objects that other processes create under an
identity this environment issued (the Nodes its node agent registers, their node
Leases, the controller's leader Lease) are recorded by name: their writers do not
keep labels. An object that already exists and is neither labelled nor recorded as
this environment's is foreign: `up` refuses rather than take it over.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "ekswin"
ENVIRONMENT = "ekswin.dev/environment"
LEDGER_FILE = "owned.json"
# Read-modify-write of owned.json: the join service records joined nodes from its own
# thread while the pipeline may record others.
_LEDGER_LOCK = threading.RLock()


def owner_labels(environment: str) -> dict[str, str]:
    """The labels that mark an object as owned by `environment`."""
    return {MANAGED_BY: MANAGER, ENVIRONMENT: environment}


@dataclass(frozen=True)
class ObjectRef:
    """A Kubernetes object's identity (namespace '' when cluster-scoped)."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        """The identity of a manifest (a plain dict)."""
        meta = manifest.get("metadata") or {}
        return cls(
            manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace", "")
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Refused(Exception):
    """`up` will not go on against this cluster; the message says why (exit status 2)."""


class ForeignObjects(Refused):
    """Objects the pipeline needs exist and belong to someone else."""

    def __init__(self, environment: str, found: list[tuple[ObjectRef, str]]) -> None:
        self.found = found
        listed = "; ".join(f"{ref} ({why})" for ref, why in found)
        super().__init__(
            f"the cluster already has objects environment {environment!r} would install and "
            f"does not own: {listed}. The pipeline uses fixed names, so one environment runs "
            "per cluster: remove them (e.g. an active VPC Resource Controller's), or use "
            "another cluster"
        )


class Ledger:
    """The run directory's record of objects this environment created (owned.json)."""

    def __init__(self, run_dir: Path, environment: str) -> None:
        self.path = run_dir / LEDGER_FILE
        self.environment = environment

    def refs(self) -> list[ObjectRef]:
        """Recorded objects, in creation order ([] when there is no ledger)."""
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [ObjectRef(**o) for o in data.get("objects", [])]

    def _write(self, refs: list[ObjectRef]) -> None:
        if not refs:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        doc = {"environment": self.environment, "objects": [asdict(r) for r in refs]}
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.path)

    def record(self, *refs: ObjectRef) -> None:
        """Remember `refs` (call before creating them)."""
        with _LEDGER_LOCK:
            known = self.refs()
            seen = set(known)
            new = [r for r in dict.fromkeys(refs) if r not in seen]
            if new:
                self._write([*known, *new])

    def forget(self, *refs: ObjectRef) -> None:
        """Drop `refs` (they were deleted)."""
        with _LEDGER_LOCK:
            gone = set(refs)
            self._write([r for r in self.refs() if r not in gone])

    def __contains__(self, ref: object) -> bool:
        return ref in self.refs()


def _resource(dyn: Any, ref: ObjectRef) -> Any:
    return dyn.resources.get(api_version=ref.api_version, kind=ref.kind)


def _get(dyn: Any, ref: ObjectRef) -> Any | None:
    from kubernetes.client.rest import ApiException

    res = _resource(dyn, ref)
    try:
        return res.get(name=ref.name, namespace=ref.namespace or None)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def labelled_by(obj: Any, environment: str) -> bool:
    """True when a live object (dynamic client result) carries `environment`'s labels."""
    labels = dict((obj.metadata.labels or {}) if obj is not None else {})
    return labels.get(MANAGED_BY) == MANAGER and labels.get(ENVIRONMENT) == environment


def foreign(
    dyn: Any, refs: Iterable[ObjectRef], environment: str, ledger: Ledger
) -> list[tuple[ObjectRef, str]]:
    """Those of `refs` that exist and are not this environment's, with a reason each."""
    recorded = set(ledger.refs())
    out = []
    for ref in refs:
        obj = _get(dyn, ref)
        if obj is None or ref in recorded or labelled_by(obj, environment):
            continue
        labels = dict(obj.metadata.labels or {})
        other = labels.get(ENVIRONMENT) if labels.get(MANAGED_BY) == MANAGER else None
        why = f"owned by ekswin environment {other!r}" if other else "not created by ekswin"
        if ref.kind == "Lease":
            holder = (obj.spec.holderIdentity if obj.spec else None) or "nobody"
            why += f", held by {holder}"
        out.append((ref, why))
    return out


def install(
    api: Any, manifests: Iterable[Mapping[str, Any]], environment: str, ledger: Ledger
) -> list[str]:
    """Create each object labelled as `environment`'s (recorded first); replace it when it is
    already this environment's; raise ForeignObjects when it belongs to someone else."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient

    dyn = DynamicClient(api)
    done = []
    for manifest in manifests:
        ref = ObjectRef.of(manifest)
        meta = dict(manifest.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **owner_labels(environment)}
        body = {**manifest, "metadata": meta}
        res = _resource(dyn, ref)
        ns = ref.namespace or None
        was_ours = ref in ledger  # recorded by an earlier, crashed run of this environment
        ledger.record(ref)
        try:
            res.create(body=body, namespace=ns)
        except ApiException as e:
            if e.status != 409:
                raise
            current = res.get(name=ref.name, namespace=ns)
            if not labelled_by(current, environment) and not was_ours:
                ledger.forget(ref)
                raise ForeignObjects(environment, [(ref, "not created by ekswin")]) from None
            body["metadata"] = {**meta, "resourceVersion": current.metadata.resourceVersion}
            res.replace(body=body, namespace=ns)
        done.append(str(ref))
    return done


def delete_owned(api: Any, ledger: Ledger) -> list[str]:
    """Delete every recorded object, newest first; forget each once gone. Returns errors."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient

    refs = ledger.refs()
    if not refs:
        return []
    dyn = DynamicClient(api)
    errors = []
    for ref in reversed(refs):
        try:
            _resource(dyn, ref).delete(name=ref.name, namespace=ref.namespace or None)
        except ApiException as e:
            if e.status != 404:
                errors.append(f"{ref}: {e.status} {e.reason}")
                continue
        except Exception as e:  # e.g. the kind is no longer served: keep going
            errors.append(f"{ref}: {e}")
            continue
        ledger.forget(ref)
    return errors
