"""Controller introspection: JSON views of the IPAM's state, served on the metrics port.

Two families (docs/controller.md has the shapes):

- upstream's (pkg/resource/introspect.go of the real controller @ b8d42511), keyed by
  resource name then node: `/resources/all`, `/resources/summary`, `/node/<name>`;
- this emulation's, for the harness and its tools: `/introspect/summary`,
  `/introspect/node?name=N` and `/introspect/pods[?node=N]` (mode, capacity, targets after
  normalisation, counts, pending EC2 work, the last EC2 error, and why a node or pod waits).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from controller.allocator import PodWait
from controller.config import DISABLED, PoolMode, WarmPoolConfig
from controller.manager import IPAMController
from controller.nodes import Ec2Failure, NodeState
from controller.pool import NUM_IPV4_ADDR_PER_PREFIX, WarmPool

Json = dict[str, Any]
Resolver = Callable[[str, dict[str, list[str]]], tuple[int, Any] | None]

SUMMARY_PATH = "/introspect/summary"
NODE_PATH = "/introspect/node"
PODS_PATH = "/introspect/pods"
# Upstream's paths (GetAllResourcesPath, GetResourcesSummaryPath, GetNodeResourcesPath).
RESOURCES_ALL_PATH = "/resources/all"
RESOURCES_SUMMARY_PATH = "/resources/summary"
NODE_RESOURCES_PATH = "/node/"


def _rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _retry(retry_at: float | None) -> tuple[str | None, float | None]:
    """(wall-clock RFC 3339, seconds from now) of a monotonic due time."""
    if retry_at is None:
        return None, None
    left = max(0.0, retry_at - time.monotonic())
    return _rfc3339(time.time() + left), round(left, 3)


def _ec2_error(e: Ec2Failure | None) -> Json | None:
    if e is None:
        return None
    return {
        "action": e.action,
        "code": e.code,
        "message": e.message,
        "text": e.text,
        "at": _rfc3339(e.at),
    }


def _targets(cfg: WarmPoolConfig) -> Json:
    return {
        "warm_ip_target": cfg.warm_ip_target,
        "minimum_ip_target": cfg.min_ip_target,
        "warm_prefix_target": cfg.warm_prefix_target,
        "desired_size": cfg.desired_size,
        "max_deviation": cfg.max_deviation,
    }


def _prefix_counts(pool: WarmPool) -> Json:
    """Prefixes the pool holds, and how many are wholly free."""
    view = pool.introspect()
    groups = set(view["WarmResources"])
    groups.update(r["GroupID"] for r in view["UsedResources"].values())
    groups.update(c["Resource"]["GroupID"] for c in view["CoolingResources"])
    free = sum(1 for rs in view["WarmResources"].values() if len(rs) == NUM_IPV4_ADDR_PER_PREFIX)
    return {"total": len({g for g in groups if g}), "free": free}


def node_waiting(st: NodeState, mode: PoolMode) -> Json | None:
    """Why the node's active pool cannot serve a new pod at once (None: it can)."""
    if not st.ready:
        return {"reason": "not_ready", "message": "pools are being started"}
    pool = st.providers[mode].pool
    s = pool.stats()
    if s.warm > 0:
        return None
    if pool.resync_required:
        return {"reason": "resync_required", "message": "an EC2 call failed; re-syncing the pool"}
    if s.pending_create:
        return {"reason": "creating", "message": f"{s.pending_create} IP(s) being created"}
    if s.pending_delete:
        return {"reason": "deleting", "message": f"{s.pending_delete} IP(s) being released"}
    if pool.is_pd and not pool.prefix_available and st.last_ec2_error is not None:
        return {"reason": "no_cidr", "message": st.last_ec2_error.message}
    if st.no_free_slot is not None:
        return {"reason": "no_free_slot", "message": st.no_free_slot}
    if s.used >= s.capacity:
        return {"reason": "at_capacity", "message": f"all {s.capacity} IPs are in use"}
    if s.cooling:
        return {"reason": "cooling", "message": f"{s.cooling} IP(s) cooling down"}
    return None


def _counts(pool: WarmPool) -> Json:
    s = pool.stats()
    return {
        "used": s.used,
        "warm": s.warm,
        "cooling": s.cooling,
        "pending_create": s.pending_create,
        "pending_delete": s.pending_delete,
    }


def _row(ctl: IPAMController, st: NodeState) -> Json:
    mode = ctl.nodes.active_mode(st)
    pool = st.providers[mode].pool
    waiting = node_waiting(st, mode)
    return {
        "name": st.name,
        "managed": True,
        "ready": st.ready,
        "mode": mode.value,
        "capacity": pool.capacity,
        **_counts(pool),
        "waiting": waiting["reason"] if waiting else None,
        "last_ec2_error": st.last_ec2_error.code if st.last_ec2_error else None,
        "unmanaged_reason": None,
    }


def _empty_row(name: str, *, managed: bool, waiting: str | None, error: str | None) -> Json:
    return {
        "name": name,
        "managed": managed,
        "ready": False,
        "mode": None,
        "capacity": None,
        "used": 0,
        "warm": 0,
        "cooling": 0,
        "pending_create": 0,
        "pending_delete": 0,
        "waiting": waiting,
        "last_ec2_error": error,
        "unmanaged_reason": None,
    }


def summary(ctl: IPAMController) -> Json:
    """Per-node short rows, the waiting pod count, and whether EC2 work is in flight."""
    rows = [_row(ctl, st) for st in ctl.nodes.managed()]
    for name, f in ctl.nodes.init_failures().items():
        code = f.error.code if f.error is not None else None
        rows.append(_empty_row(name, managed=True, waiting="init_failed", error=code))
    for name, why in ctl.nodes.unmanaged().items():
        row = _empty_row(name, managed=False, waiting=None, error=None)
        row["unmanaged_reason"] = why
        rows.append(row)
    rows.sort(key=lambda r: r["name"])
    return {
        "pending": ctl.pending(),
        "ipam_enabled": ctl.ipam_enabled(),
        "prefix_delegation_enabled": ctl.pd_enabled(),
        "old_controller_present": ctl.old_controller_present(),
        "nodes": rows,
        "waiting_pods": len(ctl.pods.waiting()),
    }


def _pool_view(st: NodeState, mode: PoolMode, active: PoolMode) -> Json:
    prov = st.providers[mode]
    pool = prov.pool
    s = pool.stats()
    return {
        "state": "active" if mode is active else "draining",
        "resource_name": mode.resource_name,
        "capacity": s.capacity,
        "targets": _targets(pool.effective_config()),
        **_counts(pool),
        "groups": s.groups,
        "resync_required": pool.resync_required,
        "prefix_available": pool.prefix_available if pool.is_pd else None,
    }


def node(ctl: IPAMController, name: str) -> tuple[int, Json]:
    """One node in detail; 404 when the controller has never seen it."""
    st = ctl.nodes.get(name)
    if st is None:
        failure = ctl.nodes.init_failure(name)
        if failure is not None:
            at, left = _retry(failure.retry_at)
            return 200, {
                "name": name,
                "managed": True,
                "ready": False,
                "waiting": {
                    "reason": "init_failed",
                    "message": failure.message,
                    "retry_at": at,
                    "retry_in_seconds": left,
                },
                "last_ec2_error": _ec2_error(failure.error),
            }
        why = ctl.nodes.unmanaged_reason(name)
        if why is not None:
            return 200, {"name": name, "managed": False, "mode": DISABLED, "unmanaged_reason": why}
        return 404, {"error": f"node {name!r} is not known to the controller"}
    mode = ctl.nodes.active_mode(st)
    pool = st.providers[mode].pool
    s = pool.stats()
    waiting_pods = [w for w in ctl.pods.waiting() if w.node == name]
    return 200, {
        "name": name,
        "managed": True,
        "ready": st.ready,
        "instance_id": st.instance_id,
        "instance_type": st.instance_type,
        "nitro": st.nitro,
        "subnet_cidr": st.subnet_cidr,
        "mode": mode.value,
        "applied_mode": st.applied.value,
        "capacity": s.capacity,
        "targets": _targets(pool.effective_config()),
        "ips": {"used": s.used, "warm": s.warm, "cooling": s.cooling},
        "prefixes": _prefix_counts(pool) if pool.is_pd else None,
        "pending": {
            "create": s.pending_create,
            "delete": s.pending_delete,
            "jobs": ctl.nodes.jobs.outstanding(name),
        },
        "pools": {m.value: _pool_view(st, m, mode) for m in st.providers},
        "enis": st.ledger.snapshot(),
        "last_ec2_error": _ec2_error(st.last_ec2_error),
        "no_free_slot": st.no_free_slot,
        "waiting": node_waiting(st, mode),
        "waiting_pods": len(waiting_pods),
    }


def _pod(w: PodWait) -> Json:
    at, left = _retry(w.retry_at)
    return {
        "namespace": w.namespace,
        "name": w.name,
        "uid": w.uid,
        "node": w.node,
        "reason": w.reason.value,
        "message": w.message,
        "since": _rfc3339(w.since),
        "attempts": w.attempts,
        "retry_at": at,
        "retry_in_seconds": left,
    }


def pods(ctl: IPAMController, node_name: str | None = None) -> Json:
    """Pods the allocator has not annotated yet, with the reason and the next retry."""
    waits = [w for w in ctl.pods.waiting() if node_name is None or w.node == node_name]
    return {"pods": [_pod(w) for w in waits], "count": len(waits)}


# ------------------------------------------------------------------ upstream shapes
def _pools_by_resource(ctl: IPAMController) -> dict[str, dict[str, WarmPool]]:
    out: dict[str, dict[str, WarmPool]] = {m.resource_name: {} for m in PoolMode}
    for st in ctl.nodes.managed():
        for mode, prov in st.providers.items():
            out[mode.resource_name][st.name] = prov.pool
    return out


def resources_all(ctl: IPAMController) -> Json:
    """GetAllResourcesPath: {resource name: {node: pool Introspect}}."""
    return {
        res: {n: pool.introspect() for n, pool in pools.items()}
        for res, pools in _pools_by_resource(ctl).items()
    }


def resources_summary(ctl: IPAMController) -> Json:
    """GetResourcesSummaryPath: counts per resource and node (warm counts groups, as upstream)."""
    out: Json = {}
    for res, pools in _pools_by_resource(ctl).items():
        out[res] = {}
        for n, pool in pools.items():
            view = pool.introspect()
            out[res][n] = {
                "UsedResourcesCount": len(view["UsedResources"]),
                "WarmResourcesCount": len(view["WarmResources"]),
                "CoolingResourcesCount": len(view["CoolingResources"]),
            }
    return out


def node_resources(ctl: IPAMController, name: str) -> Json:
    """GetNodeResourcesPath: {resource name: the node's pool Introspect, or {}}."""
    st = ctl.nodes.get(name)
    out: Json = {}
    for mode in PoolMode:
        prov = st.providers.get(mode) if st is not None else None
        out[mode.resource_name] = prov.pool.introspect() if prov is not None else {}
    return out


def resolver(current: Callable[[], IPAMController | None]) -> Resolver:
    """(path, query) -> (status, JSON body), or None for a path not served here;
    `current` gives the controller answering now (a reset replaces it)."""

    def resolve(path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        ctl = current()
        if ctl is None:
            return None
        if path == SUMMARY_PATH:
            return 200, summary(ctl)
        if path == NODE_PATH:
            names = query.get("name") or []
            if len(names) != 1 or not names[0]:
                return 400, {"error": "query parameter name: expected one node name (?name=N)"}
            return node(ctl, names[0])
        if path == PODS_PATH:
            nodes = query.get("node") or []
            return 200, pods(ctl, nodes[0] if nodes else None)
        if path == RESOURCES_ALL_PATH:
            return 200, resources_all(ctl)
        if path == RESOURCES_SUMMARY_PATH:
            return 200, resources_summary(ctl)
        if path.startswith(NODE_RESOURCES_PATH):
            return 200, node_resources(ctl, path[len(NODE_RESOURCES_PATH) :])
        return None

    return resolve
