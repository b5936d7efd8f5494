"""Pod allocation: a Windows pod bound to a managed node gets an IP from the node's pool.

Mirrors pkg/handler/warm.go (HandleCreate / HandleDelete, the retry intervals and the
Event texts) and controllers/core/pod_controller.go (which pool a pod uses, when it is
re-queued) of the real controller @ b8d42511. Every pod not yet annotated has a
`PodWait` saying why and when it is retried, for the introspection.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from controller.config import RESOURCE_NAME_IP
from controller.goparse import go_duration
from controller.kube import EventRecorder, KubeClient
from controller.nodes import NodeManager, NodeState, Observer
from controller.pool import (
    InsufficientCidrBlocks,
    PoolAtMaxCapacity,
    PoolError,
    ResourceAlreadyAssigned,
    ResourcesAreBeingCooledDown,
    ResourcesAreBeingCreated,
    WarmPoolEmpty,
)
from controller.workqueue import ControllerRateLimiter, TimerScheduler, WorkQueue

log = logging.getLogger(__name__)

RESOURCE = RESOURCE_NAME_IP
REASON_ALLOCATED = "ResourceAllocated"
REASON_ALLOCATION_FAILED = "ResourceAllocationFailed"
# pkg/handler/warm.go requeue intervals; controllers/core/pod_controller.go PodRequeueRequest.
REQUEUE_PREFIX_NOT_AVAILABLE_S = 120.0
REQUEUE_WARM_POOL_EMPTY_S = 0.6
REQUEUE_RESOURCE_COOLING_S = 20.0
REQUEUE_NODE_NOT_READY_S = 1.0


class WaitReason(enum.StrEnum):
    """Why a pod has no IP yet (the value is what the introspection shows)."""

    QUEUED = "queued"  # seen, not reconciled yet
    NODE_NOT_READY = "node_not_ready"  # the node is not initialised yet
    NODE_NOT_MANAGED = "node_not_managed"
    COOLING = "cooling"  # every free IP is cooling down
    CREATING = "creating"  # the rest of the capacity is being created
    POOL_EMPTY = "pool_empty"
    NO_CIDR = "no_cidr"  # the subnet has no free /28
    AT_CAPACITY = "at_capacity"
    ANNOTATE_FAILED = "annotate_failed"
    ERROR = "error"


@dataclass
class PodWait:
    """A pod the allocator has not annotated yet, and why."""

    namespace: str
    name: str
    uid: str
    node: str
    reason: WaitReason
    message: str
    since: float  # wall time first seen waiting
    attempts: int = 0
    retry_at: float | None = None  # monotonic; None: on the next node/pod/config change


def trim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """Keep only what the controller reads, to keep a large pod cache small."""
    md = pod.get("metadata", {})
    ann = md.get("annotations") or {}
    return {
        "metadata": {
            "name": md.get("name"),
            "namespace": md.get("namespace"),
            "uid": md.get("uid"),
            "annotations": {RESOURCE: ann[RESOURCE]} if RESOURCE in ann else {},
        },
        "spec": {"nodeName": pod.get("spec", {}).get("nodeName", "")},
        "status": {"phase": pod.get("status", {}).get("phase", "")},
        "wantsIP": pod_requests_ip(pod),
    }


def pod_requests_ip(pod: dict[str, Any]) -> bool:
    """getAggregateResources: a container requests the IP resource (limits imply requests)."""
    for c in pod.get("spec", {}).get("containers") or []:
        res = c.get("resources") or {}
        if RESOURCE in (res.get("requests") or {}) or RESOURCE in (res.get("limits") or {}):
            return True
    return False


def pod_ref(pod: dict[str, Any]) -> dict[str, Any]:
    """The ObjectReference of a pod for Events."""
    md = pod["metadata"]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": md["name"],
        "namespace": md["namespace"],
        "uid": md["uid"],
    }


class PodAllocator:
    """Reconciles pods (a work queue keyed by namespace/name, or deleted:<uid>)."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        events: EventRecorder,
        nodes: NodeManager,
        retry_scale: float,
        workers: int,
        node_lookup: Callable[[str], dict[str, Any] | None],
        pod_lookup: Callable[[str], dict[str, Any] | None],
        observer: Observer,
        timers: TimerScheduler,
        next_resync: Callable[[], float | None],
    ) -> None:
        self._kube = kube
        self._events = events
        self._nodes = nodes
        self._retry_scale = retry_scale
        self._node_lookup = node_lookup
        self._pod_lookup = pod_lookup
        self._obs = observer
        self._next_resync = next_resync
        self._lock = threading.Lock()
        self._deleted: dict[str, dict[str, Any]] = {}
        self._first_seen: dict[str, tuple[float, bool]] = {}  # key -> (monotonic, warm hit)
        self._waits: dict[str, PodWait] = {}
        # custom_controller.go: an error or a bare Requeue goes through AddRateLimited;
        # a RequeueAfter (or success) Forgets the key's failures first.
        self._limiter = ControllerRateLimiter(scale=retry_scale, clock=timers.now)
        self.queue = WorkQueue("pods", self.reconcile, workers=workers, timers=timers)

    def _retry(self, seconds: float) -> float:
        return seconds * self._retry_scale

    # ------------------------------------------------------------------ events
    def on_pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        """Queue a (trimmed) pod that wants an IP and is bound to a node."""
        md = pod["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        if not pod.get("wantsIP") or not pod["spec"].get("nodeName"):
            return
        if kind == "DELETED":
            dkey = f"deleted:{md['uid']}"
            with self._lock:
                self._deleted[dkey] = pod
                self._waits.pop(key, None)
            self.queue.add(dkey)
            return
        if RESOURCE not in md["annotations"]:
            with self._lock:
                if key not in self._first_seen:
                    self._first_seen[key] = (time.monotonic(), True)
                if key not in self._waits:
                    self._waits[key] = PodWait(
                        md["namespace"],
                        md["name"],
                        md["uid"],
                        pod["spec"]["nodeName"],
                        WaitReason.QUEUED,
                        "waiting for the pod controller",
                        time.time(),
                    )
        self.queue.add(key)

    def waiting(self) -> list[PodWait]:
        """Every pod not annotated yet, oldest first."""
        with self._lock:
            return sorted(self._waits.values(), key=lambda w: w.since)

    def waiting_keys(self) -> list[str]:
        """namespace/name of every pod not annotated yet."""
        with self._lock:
            return list(self._waits)

    def _done(self, key: str) -> None:
        self._limiter.forget(key)
        with self._lock:
            self._waits.pop(key, None)
            self._first_seen.pop(key, None)

    def _after(self, seconds: float, key: str) -> float:
        """RequeueAfter: a fixed interval; the key's rate-limit failures are forgotten."""
        self._limiter.forget(key)
        return seconds

    def _rate_limited(self, key: str) -> float:
        """AddRateLimited: exponential per key (5 ms x 2^n, cap 1000 s) and the bucket."""
        return self._limiter.when(key)

    def _wait(
        self, pod: dict[str, Any], key: str, reason: WaitReason, message: str, delay: float | None
    ) -> float | None:
        """Record why the pod waits (unless it is annotated already); return the requeue delay."""
        md = pod["metadata"]
        if RESOURCE in md["annotations"]:
            # Upstream requeues it all the same; warm.go then finds the annotation.
            self._done(key)
            return delay
        retry_at = time.monotonic() + delay if delay is not None else self._next_resync()
        with self._lock:
            w = self._waits.get(key)
            if w is None or w.uid != md["uid"]:
                w = PodWait(
                    md["namespace"],
                    md["name"],
                    md["uid"],
                    pod["spec"]["nodeName"],
                    reason,
                    message,
                    time.time(),
                )
                self._waits[key] = w
            w.reason, w.message, w.retry_at = reason, message, retry_at
            w.node = pod["spec"]["nodeName"]
            w.attempts += 1
        return delay

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, key: Hashable) -> float | None:
        """One pod: allocate, free, or wait."""
        k = str(key)
        if k.startswith("deleted:"):
            with self._lock:
                gone = self._deleted.pop(k, None)
            if gone is not None:
                self._handle_delete(gone)
            return None
        pod = self._pod_lookup(k)
        if pod is None:
            self._done(k)
            return None
        node_name = pod["spec"].get("nodeName")
        if not node_name or not pod.get("wantsIP"):
            self._done(k)
            return None
        phase = pod["status"].get("phase")
        log.debug("pod %s: reconcile on node %s phase %s", k, node_name, phase)
        node_exists = self._node_lookup(node_name) is not None
        st = self._nodes.get(node_name)
        if phase in ("Succeeded", "Failed") or not node_exists:
            self._done(k)
            if st is not None:
                self._handle_delete(pod)
            return None
        if st is None:
            why = self._nodes.unmanaged_reason(node_name)
            log.debug("pod %s: node %s not managed (%s)", k, node_name, why or "not initialised")
            if why is not None:
                # pod_controller: not requeued; the next resync or pod update retries it.
                return self._wait(pod, k, WaitReason.NODE_NOT_MANAGED, why, None)
            return self._wait(
                pod,
                k,
                WaitReason.NODE_NOT_READY,
                "node not initialised",
                self._after(REQUEUE_NODE_NOT_READY_S, k),
            )
        if not st.ready:
            return self._wait(
                pod,
                k,
                WaitReason.NODE_NOT_READY,
                "node not ready",
                self._after(REQUEUE_NODE_NOT_READY_S, k),
            )
        return self._handle_create(st, pod, k)

    def _handle_create(self, st: NodeState, pod: dict[str, Any], key: str) -> float | None:
        md = pod["metadata"]
        if RESOURCE in md["annotations"]:
            self._done(key)
            return None
        mode = self._nodes.active_mode(st)
        pool = st.providers[mode].pool
        uid = md["uid"]
        try:
            res_id, should_reconcile = pool.assign(uid)
        except PoolError as exc:
            if exc.should_reconcile:
                self._nodes.submit(st.name, mode, pool.reconcile())
            return self._allocation_failed(pod, key, exc)
        if should_reconcile:
            self._nodes.submit(st.name, mode, pool.reconcile())
        err: Exception | None = None
        try:
            self._kube.annotate_pod(md["namespace"], md["name"], uid, RESOURCE, res_id)
        except Exception as exc:
            err = exc
            with contextlib.suppress(PoolError):
                pool.free(uid, res_id)
        self._obs.annotate(RESOURCE, ok=err is None)
        # Upstream broadcasts ResourceAllocated even when the annotation failed.
        self._events.event(
            pod_ref(pod),
            "Normal",
            REASON_ALLOCATED,
            f"Allocated Resource {RESOURCE}: {res_id} to the pod",
        )
        self._nodes.observe(st)
        if err is not None:
            log.warning("pod %s: annotate failed: %s", key, err)
            # warm.go returns the error: the pod controller requeues it rate-limited.
            return self._wait(
                pod, key, WaitReason.ANNOTATE_FAILED, str(err), self._rate_limited(key)
            )
        log.debug("pod %s: annotated %s", key, res_id)
        with self._lock:
            first = self._first_seen.pop(key, None)
            self._waits.pop(key, None)
        if first is not None:
            self._obs.allocation(time.monotonic() - first[0], first[1])
        return None

    def _allocation_failed(self, pod: dict[str, Any], key: str, exc: PoolError) -> float | None:
        log.debug("pod %s: allocation failed: %s", key, type(exc).__name__)
        with self._lock:
            first = self._first_seen.get(key)
            if first is not None:
                self._first_seen[key] = (first[0], False)  # a warm-pool miss
        ref = pod_ref(pod)
        if isinstance(exc, ResourcesAreBeingCooledDown):
            d = self._after(self._retry(REQUEUE_RESOURCE_COOLING_S), key)
            msg = f"Resource {RESOURCE} are being cooled down, will retry in {go_duration(d)}"
            self._events.event(ref, "Warning", REASON_ALLOCATION_FAILED, msg)
            return self._wait(pod, key, WaitReason.COOLING, msg, d)
        if isinstance(exc, ResourcesAreBeingCreated | WarmPoolEmpty):
            d = self._after(self._retry(REQUEUE_WARM_POOL_EMPTY_S), key)
            msg = (
                f"Warm pool for resource {RESOURCE} is currently empty, will retry "
                f"in {go_duration(d)}"
            )
            self._events.event(ref, "Warning", REASON_ALLOCATION_FAILED, msg)
            reason = (
                WaitReason.CREATING
                if isinstance(exc, ResourcesAreBeingCreated)
                else WaitReason.POOL_EMPTY
            )
            return self._wait(pod, key, reason, msg, d)
        if isinstance(exc, InsufficientCidrBlocks):
            d = self._after(self._retry(REQUEUE_PREFIX_NOT_AVAILABLE_S), key)
            msg = (
                f"Warm pool for resource {RESOURCE} is currently empty because the "
                "specified subnet does not have enough free cidr blocks, will retry "
                f"in {go_duration(d)}"
            )
            self._events.event(ref, "Warning", REASON_ALLOCATION_FAILED, msg)
            return self._wait(pod, key, WaitReason.NO_CIDR, msg, d)
        if isinstance(exc, ResourceAlreadyAssigned):
            fresh = self._kube.get_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
            if fresh and RESOURCE in (fresh["metadata"].get("annotations") or {}):
                self._done(key)
                return None
        # ErrPoolAtMaxCapacity and others: warm.go returns the error; the pod controller
        # requeues with the rate limiter's exponential back-off.
        log.info("pod %s: %s", key, exc)
        reason = WaitReason.AT_CAPACITY if isinstance(exc, PoolAtMaxCapacity) else WaitReason.ERROR
        return self._wait(pod, key, reason, str(exc), self._rate_limited(key))

    def _handle_delete(self, pod: dict[str, Any]) -> None:
        """HandleDelete: return the IP through the cool-down queue of the pool that gave it."""
        st = self._nodes.get(pod["spec"].get("nodeName") or "")
        if st is None:
            return
        uid = pod["metadata"]["uid"]
        # The pool that holds the pod's IP, whichever mode is active now.
        mode = next(
            (m for m, p in st.providers.items() if p.pool.get_assigned(uid) is not None),
            None,
        )
        if mode is None:
            return
        pool = st.providers[mode].pool
        res_id = pod["metadata"]["annotations"].get(RESOURCE) or pool.get_assigned(uid)
        if res_id is None:
            return
        try:
            pool.free(uid, res_id)
        except PoolError:
            return
        self._nodes.submit(st.name, mode, pool.reconcile())
        self._nodes.observe(st)

    def stop(self) -> None:
        """Stop the pod queue."""
        self.queue.stop()
