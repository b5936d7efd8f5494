"""Node and pod reconcilers of the Windows IPAM: the runtime around `WarmPool`.

Mirrors the real controller's flow (aws/amazon-vpc-resource-controller-k8s @ b8d42511):
pkg/node/manager (which nodes are managed, init/update/delete), pkg/provider/ip and
pkg/provider/prefix (InitResource, UpdateResourceCapacity, the warm pool jobs),
pkg/provider/ip/eni (ENI-level assign/unassign), pkg/handler/warm.go (pod allocation,
retry intervals, Events) and controllers/core/pod_controller.go (which pool a pod uses).
Each node has two pools, secondary and prefix (Nitro only); one is active, the other
drains, exactly as upstream toggles them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from controller import config as cfgmod
from controller.ec2 import EC2Api, EC2Error, InstanceInfo, InstanceTypeInfo
from controller.kube import EventRecorder, KubeApi
from controller.pool import (
    NUM_IPV4_ADDR_PER_PREFIX,
    InsufficientCidrBlocks,
    JobOp,
    PoolError,
    Resource,
    ResourceAlreadyAssigned,
    ResourcesAreBeingCooledDown,
    ResourcesAreBeingCreated,
    WarmPool,
    WarmPoolEmpty,
    WarmPoolJob,
    deconstruct_ips_from_prefix,
)
from controller.workqueue import TimerScheduler, WorkQueue

log = logging.getLogger(__name__)

RESOURCE = cfgmod.RESOURCE_NAME_IP
REASON_ALLOCATED = "ResourceAllocated"
REASON_ALLOCATION_FAILED = "ResourceAllocationFailed"
REASON_INSUFFICIENT_CIDR = "InsufficientCidrBlocks"
REASON_UNSUPPORTED = "Unsupported"
INSUFFICIENT_CIDR_MSG = (
    "InsufficientCidrBlocks: The specified subnet does not have enough free cidr blocks "
    "to satisfy the request"
)
# pkg/handler/warm.go requeue intervals; controllers/core/pod_controller.go PodRequeueRequest.
REQUEUE_PREFIX_NOT_AVAILABLE_S = 120.0
REQUEUE_WARM_POOL_EMPTY_S = 0.6
REQUEUE_RESOURCE_COOLING_S = 20.0
REQUEUE_NODE_NOT_READY_S = 1.0


def go_duration(seconds: float) -> str:
    """Format a duration like Go's time.Duration.String() (20s, 600ms, 2m0s, 1.5s)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    s = f"{round(secs, 9):g}s"
    if hours:
        return f"{hours}h{minutes}m{s}"
    if minutes:
        return f"{minutes}m{s}"
    return s


@dataclass
class Settings:
    """Runtime settings; the time scaling knobs never patch the clock."""

    cool_down_seconds: float = 30.0
    retry_scale: float = 1.0
    pd_feature_flag: bool = True
    pod_workers: int = 8
    node_workers: int = 4
    job_workers: int = 4


@dataclass
class PoolSlot:
    """One provider's pool on a node (pkg/provider/*: ResourceProviderAndPool)."""

    pool: WarmPool
    capacity: int
    is_prev_pd_enabled: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class NodeState:
    """A managed Windows node: its instance, ENIs and the two pools."""

    name: str
    instance_id: str
    instance: InstanceInfo | None = None
    itype: InstanceTypeInfo | None = None
    subnet_mask: str = ""
    ready: bool = False
    secondary: PoolSlot | None = None
    prefix: PoolSlot | None = None
    eni_lock: threading.Lock = field(default_factory=threading.Lock)
    eni_owner: dict[str, str] = field(default_factory=dict)  # resource (no mask) -> ENI id
    eni_remaining: dict[str, int] = field(default_factory=dict)
    eni_order: list[str] = field(default_factory=list)


def instance_id_from_provider_id(provider_id: str) -> str:
    """GetNodeInstanceID: last path element of aws:///<az>/<instance-id>."""
    return provider_id.split("/")[-1] if provider_id else ""


def node_os(node: dict[str, Any]) -> str:
    """GetNodeOS: kubernetes.io/os, else the beta label."""
    labels = node.get("metadata", {}).get("labels") or {}
    return str(labels.get("kubernetes.io/os") or labels.get("beta.kubernetes.io/os") or "")


def pod_requests_ip(pod: dict[str, Any]) -> bool:
    """getAggregateResources: a container requests the IP resource (limits imply requests)."""
    for c in pod.get("spec", {}).get("containers") or []:
        res = c.get("resources") or {}
        if RESOURCE in (res.get("requests") or {}) or RESOURCE in (res.get("limits") or {}):
            return True
    return False


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


class Observer:
    """Hooks for metrics; the default does nothing."""

    def allocation(self, seconds: float, hit: bool) -> None:
        """An IP was annotated `seconds` after the pod was first seen bound."""

    def pool_changed(self, node: str, mode: str, pool: WarmPool | None) -> None:
        """A pool's counts may have changed (None: node dropped)."""


class IPAMController:
    """Watches nodes, pods and the ConfigMap (via the caller) and runs the IPAM."""

    def __init__(
        self,
        kube: KubeApi,
        ec2: EC2Api,
        events: EventRecorder,
        settings: Settings,
        *,
        node_lookup: Callable[[str], dict[str, Any] | None],
        pod_lookup: Callable[[str], dict[str, Any] | None],
        pods_on_node: Callable[[str], list[dict[str, Any]]],
        observer: Observer | None = None,
    ) -> None:
        self.kube = kube
        self.ec2 = ec2
        self.events = events
        self.s = settings
        self._node_lookup = node_lookup
        self._pod_lookup = pod_lookup
        self._pods_on_node = pods_on_node
        self.obs = observer or Observer()
        self.config_data: dict[str, str] | None = None
        self._config_lock = threading.Lock()
        self.nodes: dict[str, NodeState] = {}
        self._unmanaged: set[str] = set()
        self._nodes_lock = threading.RLock()
        self._deleted_pods: dict[str, dict[str, Any]] = {}
        self._first_seen: dict[str, tuple[float, bool]] = {}
        self.timers = TimerScheduler()
        self.node_queue = WorkQueue(
            "nodes", self._reconcile_node, workers=settings.node_workers, timers=self.timers
        )
        self.pod_queue = WorkQueue(
            "pods", self._reconcile_pod, workers=settings.pod_workers, timers=self.timers
        )
        self.job_queue = WorkQueue(
            "jobs", self._run_job, workers=settings.job_workers, timers=self.timers
        )
        self._jobs: dict[int, tuple[str, str, WarmPoolJob]] = {}
        self._job_seq = 0
        self._jobs_lock = threading.Lock()

    # ================================================================ conditions
    def set_config(self, data: dict[str, str] | None) -> None:
        """ConfigMap changed (None: deleted): re-evaluate every node, as the CM reconciler does."""
        with self._config_lock:
            changed = data != self.config_data
            self.config_data = dict(data) if data is not None else None
        if changed:
            for name in list(self.nodes) + list(self._unmanaged):
                self.node_queue.add(name)

    def _config(self) -> dict[str, str] | None:
        with self._config_lock:
            return self.config_data

    def ipam_enabled(self) -> bool:
        """conditions.IsWindowsIPAMEnabled."""
        return cfgmod.is_windows_ipam_enabled(self._config())

    def pd_enabled(self) -> bool:
        """conditions.IsWindowsPrefixDelegationEnabled."""
        return cfgmod.is_windows_pd_enabled(self._config(), feature_flag=self.s.pd_feature_flag)

    def _retry(self, seconds: float) -> float:
        return seconds * self.s.retry_scale

    # ================================================================ node events
    def on_node_event(self, kind: str, node: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Informer callback for nodes."""
        self.node_queue.add(node["metadata"]["name"])

    def on_pod_event(self, kind: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Informer callback for pods (already trimmed)."""
        md = pod["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        if not pod.get("wantsIP") or not pod["spec"].get("nodeName"):
            return
        if kind == "DELETED":
            dkey = f"deleted:{md['uid']}"
            self._deleted_pods[dkey] = pod
            self.pod_queue.add(dkey)
            return
        if RESOURCE not in md["annotations"] and key not in self._first_seen:
            self._first_seen[key] = (time.monotonic(), True)
        self.pod_queue.add(key)

    def _reconcile_node(self, key: Hashable) -> float | None:
        name = str(key)
        node = self._node_lookup(name)
        with self._nodes_lock:
            state = self.nodes.get(name)
        if node is None:
            if state is not None:
                # DeleteNode: drop the pools, no EC2 calls.
                with self._nodes_lock:
                    self.nodes.pop(name, None)
                state.ready = False
                self.obs.pool_changed(name, "", None)
                log.info("node %s deleted: pools dropped", name)
            self._unmanaged.discard(name)
            return None
        iid = instance_id_from_provider_id(node.get("spec", {}).get("providerID", ""))
        manage = node_os(node) == "windows" and bool(iid) and self.ipam_enabled()
        if not manage:
            if state is not None:
                with self._nodes_lock:
                    self.nodes.pop(name, None)
                state.ready = False
                self.obs.pool_changed(name, "", None)
                log.info("node %s no longer managed", name)
            self._unmanaged.add(name)
            return None
        self._unmanaged.discard(name)
        if state is None:
            state = NodeState(name=name, instance_id=iid)
            try:
                self._init_node(state)
            except EC2Error as exc:
                log.warning("node %s: init failed (%s); will retry", name, exc)
                return self._retry(REQUEUE_NODE_NOT_READY_S * 5)
            with self._nodes_lock:
                self.nodes[name] = state
            # Only now may the pools' jobs run: a job for a node not yet in self.nodes
            # would be dropped and leave its pool's pending_create stuck.
            self._start_pools(state)
        self._update_node(state, node)
        return None

    # ---------------------------------------------------------------- init (InitResource)
    def _init_node(self, st: NodeState) -> None:
        inst = self.ec2.describe_instance(st.instance_id)
        st.instance = inst
        st.itype = self.ec2.instance_type(inst.instance_type)
        st.subnet_mask = self.ec2.subnet_cidr(inst.subnet_id).split("/")[1]
        limit = st.itype.ipv4_per_eni
        secondary_ips: list[str] = []
        prefixes: list[str] = []
        for eni in sorted(inst.enis, key=lambda e: e.device_index):
            remaining = limit - 1 - len(eni.secondary_ips) - len(eni.prefixes)
            st.eni_order.append(eni.eni_id)
            st.eni_remaining[eni.eni_id] = remaining
            for ip in eni.secondary_ips:
                st.eni_owner[ip] = eni.eni_id
                secondary_ips.append(f"{ip}/{st.subnet_mask}")
            for p in eni.prefixes:
                st.eni_owner[p] = eni.eni_id
                prefixes.append(p)
        running = [
            p
            for p in self._pods_on_node(st.name)
            if p["status"].get("phase") not in ("Succeeded", "Failed")
        ]
        pd_now = self.pd_enabled()
        per_eni = limit - 1
        # Secondary IP provider (pkg/provider/ip/provider.go InitResource).
        present = set(secondary_ips)
        used_sec: dict[str, Resource] = {}
        for pod in running:
            ann = pod["metadata"]["annotations"].get(RESOURCE)
            if ann and ann in present:
                used_sec[pod["metadata"]["uid"]] = Resource(ann, ann)
        used_ids = {r.resource_id for r in used_sec.values()}
        warm_sec = {ip: [Resource(ip, ip)] for ip in secondary_ips if ip not in used_ids}
        sec_cfg = (
            cfgmod.WarmPoolConfig()
            if pd_now
            else cfgmod.get_win_warm_pool_config(self._config(), pd_enabled=False)
        )
        st.secondary = PoolSlot(
            WarmPool(
                node_name=st.name,
                capacity=per_eni,
                is_pd=False,
                warm_pool_config=sec_cfg,
                used=used_sec,
                warm=warm_sec,
                cool_down_seconds=self.s.cool_down_seconds,
            ),
            capacity=per_eni,
            is_prev_pd_enabled=pd_now,
        )
        # Prefix provider only on Nitro (IsInstanceSupported).
        if st.itype.nitro:
            ip_to_prefix = {ip: p for p in prefixes for ip in deconstruct_ips_from_prefix(p)}
            used_pd: dict[str, Resource] = {}
            for pod in running:
                ann = pod["metadata"]["annotations"].get(RESOURCE)
                if ann and ann in ip_to_prefix:
                    used_pd[pod["metadata"]["uid"]] = Resource(ip_to_prefix.pop(ann), ann)
            warm_pd: dict[str, list[Resource]] = {}
            for ip, p in ip_to_prefix.items():
                warm_pd.setdefault(p, []).append(Resource(p, ip))
            pd_cfg = (
                cfgmod.get_win_warm_pool_config(self._config(), pd_enabled=True)
                if pd_now
                else cfgmod.WarmPoolConfig()
            )
            cap = per_eni * NUM_IPV4_ADDR_PER_PREFIX
            st.prefix = PoolSlot(
                WarmPool(
                    node_name=st.name,
                    capacity=cap,
                    is_pd=True,
                    warm_pool_config=pd_cfg,
                    used=used_pd,
                    warm=warm_pd,
                    cool_down_seconds=self.s.cool_down_seconds,
                ),
                capacity=cap,
                is_prev_pd_enabled=pd_now,
            )
        else:
            self.events.event(
                self._node_ref(st.name),
                "Warning",
                REASON_UNSUPPORTED,
                f"The instance type {inst.instance_type} is not supported for "
                "Windows prefix delegation",
            )
        log.info(
            "node %s initialised: %s nitro=%s secondary=%d prefixes=%d",
            st.name,
            inst.instance_type,
            st.itype.nitro,
            len(secondary_ips),
            len(prefixes),
        )

    def _start_pools(self, st: NodeState) -> None:
        """First reconcile of each pool and its cool-down job; then pods may be served."""
        for mode, slot in (("secondary", st.secondary), ("prefix", st.prefix)):
            if slot is not None:
                self._submit(st.name, mode, slot.pool.reconcile())
                self._schedule_cool_down(st.name, mode)
        st.ready = True

    # ---------------------------------------------------------------- UpdateResourceCapacity
    def _update_node(self, st: NodeState, node: dict[str, Any]) -> None:
        if not st.ready or st.itype is None:
            return
        pd_now = self.pd_enabled()
        nitro = st.itype.nitro
        advertise: int | None = None
        sec = st.secondary
        if sec is not None:
            with sec.lock:
                if nitro and sec.is_prev_pd_enabled and pd_now:
                    pass  # prefix provider active, nothing to do here
                elif nitro and not sec.is_prev_pd_enabled and pd_now:
                    sec.is_prev_pd_enabled = True
                    self._submit(st.name, "secondary", sec.pool.set_to_draining())
                else:
                    sec.is_prev_pd_enabled = False
                    cfg = cfgmod.get_win_warm_pool_config(
                        self._config(), pd_enabled=pd_now and nitro
                    )
                    self._submit(st.name, "secondary", sec.pool.set_to_active(cfg))
                    advertise = sec.capacity
        pre = st.prefix
        if pre is not None:
            with pre.lock:
                if not pre.is_prev_pd_enabled and not pd_now:
                    pass
                elif pre.is_prev_pd_enabled and not pd_now:
                    pre.is_prev_pd_enabled = False
                    self._submit(st.name, "prefix", pre.pool.set_to_draining())
                else:
                    pre.is_prev_pd_enabled = True
                    cfg = cfgmod.get_win_warm_pool_config(self._config(), pd_enabled=True)
                    self._submit(st.name, "prefix", pre.pool.set_to_active(cfg))
                    advertise = pre.capacity
        if advertise is not None:
            self._advertise(node, advertise)
        self._observe(st)

    def _advertise(self, node: dict[str, Any], capacity: int) -> None:
        """AdvertiseCapacityIfNotSet: patch status.capacity only when it differs."""
        current = (node.get("status", {}).get("capacity") or {}).get(RESOURCE)
        if current is not None and str(current) == str(capacity) and capacity != 0:
            return
        name = node["metadata"]["name"]
        self.kube.patch_node_capacity(name, RESOURCE, capacity)
        log.info("advertised %s=%d on node %s", RESOURCE, capacity, name)

    def _observe(self, st: NodeState) -> None:
        mode = self._active_mode(st)
        slot = st.prefix if mode == "prefix" else st.secondary
        self.obs.pool_changed(st.name, mode, slot.pool if slot else None)

    def _active_mode(self, st: NodeState) -> str:
        return (
            "prefix"
            if (
                self.pd_enabled()
                and st.itype is not None
                and st.itype.nitro
                and st.prefix is not None
            )
            else "secondary"
        )

    def _node_ref(self, name: str) -> dict[str, Any]:
        node = self._node_lookup(name)
        uid = node["metadata"].get("uid", "") if node else ""
        return {"kind": "Node", "name": name, "uid": uid, "apiVersion": "v1"}

    # ================================================================ warm pool jobs
    def _slot(self, node: str, mode: str) -> tuple[NodeState, PoolSlot] | None:
        with self._nodes_lock:
            st = self.nodes.get(node)
        if st is None:
            return None
        slot = st.prefix if mode == "prefix" else st.secondary
        return (st, slot) if slot is not None else None

    def _submit(self, node: str, mode: str, job: WarmPoolJob) -> None:
        if job.op is JobOp.NONE:
            return
        with self._jobs_lock:
            self._job_seq += 1
            seq = self._job_seq
            self._jobs[seq] = (node, mode, job)
        self.job_queue.add(seq)

    def _schedule_cool_down(self, node: str, mode: str) -> None:
        """ProcessDeleteQueue job: every cool-down period, per pool, until the node goes."""

        def tick() -> None:
            found = self._slot(node, mode)
            if found is None:
                return
            _, slot = found
            slot.pool.process_cool_down()
            self._submit(node, mode, slot.pool.reconcile())
            self.timers.call_later(self.s.cool_down_seconds, tick)

        self.timers.call_later(self.s.cool_down_seconds, tick)

    def _run_job(self, key: Hashable) -> float | None:
        with self._jobs_lock:
            entry = self._jobs.pop(int(key), None)  # type: ignore[call-overload]
        if entry is None:
            return None
        node, mode, job = entry
        found = self._slot(node, mode)
        if found is None:
            return None
        st, slot = found
        pd = mode == "prefix"
        log.debug("node %s: %s job %s count=%d", node, mode, job.op.name, job.resource_count)
        if job.op is JobOp.CREATE:
            self._create(st, slot, job, pd)
        elif job.op is JobOp.DELETE:
            self._delete(st, slot, job, pd)
        elif job.op is JobOp.RESYNC:
            self._resync(st, slot, pd)
        self._observe(st)
        return None

    def _create(self, st: NodeState, slot: PoolSlot, job: WarmPoolJob, pd: bool) -> None:
        """CreatePrivateIPv4AndUpdatePool / CreateIPv4PrefixAndUpdatePool via eni.go."""
        made: list[str] = []
        err: EC2Error | None = None
        with st.eni_lock:
            for eni_id in st.eni_order:
                if len(made) >= job.resource_count:
                    break
                remaining = st.eni_remaining.get(eni_id, 0)
                if remaining <= 0:
                    continue
                want = min(remaining, job.resource_count - len(made))
                try:
                    got = self.ec2.assign(eni_id, want, prefixes=pd)
                except EC2Error as exc:
                    err = exc
                    break
                st.eni_remaining[eni_id] = remaining - len(got)
                for r in got:
                    st.eni_owner[r] = eni_id
                made.extend(got)
        short = len(made) < job.resource_count
        prefix_available = True
        did_succeed = not short and err is None
        if pd and err is not None and err.code == REASON_INSUFFICIENT_CIDR:
            # Non-retryable (utils.ShouldRetryOnError): no resync; tell the user.
            prefix_available = False
            did_succeed = True
            self.events.event(
                self._node_ref(st.name), "Warning", REASON_INSUFFICIENT_CIDR, INSUFFICIENT_CIDR_MSG
            )
        if err is not None:
            log.warning("node %s: assign failed: %s", st.name, err)
        job.resources = made if pd else [f"{ip}/{st.subnet_mask}" for ip in made]
        if slot.pool.update_pool(job, did_succeed, prefix_available):
            self._submit(st.name, "prefix" if pd else "secondary", slot.pool.reconcile())

    def _delete(self, st: NodeState, slot: PoolSlot, job: WarmPoolJob, pd: bool) -> None:
        """DeletePrivateIPv4AndUpdatePool / DeleteIPv4PrefixAndUpdatePool via eni.go."""
        names = list(job.resources) if pd else [r.split("/")[0] for r in job.resources]
        by_eni: dict[str, list[str]] = {}
        for r in names:
            by_eni.setdefault(
                st.eni_owner.get(r, st.eni_order[0] if st.eni_order else ""), []
            ).append(r)
        failed: list[str] = []
        with st.eni_lock:
            for eni_id, rs in by_eni.items():
                try:
                    self.ec2.unassign(eni_id, rs, prefixes=pd)
                except EC2Error as exc:
                    log.warning("node %s: unassign failed: %s", st.name, exc)
                    failed.extend(rs)
                    continue
                st.eni_remaining[eni_id] = st.eni_remaining.get(eni_id, 0) + len(rs)
                for r in rs:
                    st.eni_owner.pop(r, None)
        job.resources = failed if pd else [f"{ip}/{st.subnet_mask}" for ip in failed]
        if slot.pool.update_pool(job, not failed, True):
            self._submit(st.name, "prefix" if pd else "secondary", slot.pool.reconcile())

    def _resync(self, st: NodeState, slot: PoolSlot, pd: bool) -> None:
        """ReSyncPool: reload the ENIs and align the pool."""
        try:
            inst = self.ec2.describe_instance(st.instance_id)
        except EC2Error as exc:
            log.warning("node %s: resync failed: %s", st.name, exc)
            return
        with st.eni_lock:
            groups: list[str] = []
            for eni in inst.enis:
                used = len(eni.secondary_ips) + len(eni.prefixes)
                st.eni_remaining[eni.eni_id] = (st.itype.ipv4_per_eni if st.itype else 0) - 1 - used
                for ip in eni.secondary_ips:
                    st.eni_owner[ip] = eni.eni_id
                for p in eni.prefixes:
                    st.eni_owner[p] = eni.eni_id
                if pd:
                    groups.extend(eni.prefixes)
                else:
                    groups.extend(f"{ip}/{st.subnet_mask}" for ip in eni.secondary_ips)
        slot.pool.resync(groups)

    # ================================================================ pods (warm.go)
    def _reconcile_pod(self, key: Hashable) -> float | None:
        k = str(key)
        if k.startswith("deleted:"):
            pod = self._deleted_pods.pop(k, None)
            if pod is not None:
                self._handle_delete(pod)
            return None
        pod = self._pod_lookup(k)
        if pod is None:
            self._first_seen.pop(k, None)
            return None
        node_name = pod["spec"].get("nodeName")
        if not node_name or not pod.get("wantsIP"):
            return None
        phase = pod["status"].get("phase")
        log.debug("pod %s: reconcile on node %s phase %s", k, node_name, phase)
        node_exists = self._node_lookup(node_name) is not None
        with self._nodes_lock:
            st = self.nodes.get(node_name)
            unmanaged = node_name in self._unmanaged
        if phase in ("Succeeded", "Failed") or not node_exists:
            self._first_seen.pop(k, None)
            if st is not None:
                self._handle_delete(pod)
            return None
        if st is None:
            log.debug("pod %s: node %s not managed (unmanaged=%s)", k, node_name, unmanaged)
            if unmanaged:
                return None
            return REQUEUE_NODE_NOT_READY_S
        if not st.ready:
            return REQUEUE_NODE_NOT_READY_S
        return self._handle_create(st, pod, k)

    def _pod_ref(self, pod: dict[str, Any]) -> dict[str, Any]:
        md = pod["metadata"]
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "name": md["name"],
            "namespace": md["namespace"],
            "uid": md["uid"],
        }

    def _handle_create(self, st: NodeState, pod: dict[str, Any], key: str) -> float | None:
        md = pod["metadata"]
        if RESOURCE in md["annotations"]:
            self._first_seen.pop(key, None)
            return None
        mode = self._active_mode(st)
        slot = st.prefix if mode == "prefix" else st.secondary
        assert slot is not None
        pool = slot.pool
        uid = md["uid"]
        try:
            res_id, should_reconcile = pool.assign(uid)
        except PoolError as exc:
            if exc.should_reconcile:
                self._submit(st.name, mode, pool.reconcile())
            return self._allocation_failed(pod, key, exc)
        if should_reconcile:
            self._submit(st.name, mode, pool.reconcile())
        err: Exception | None = None
        try:
            self.kube.annotate_pod(md["namespace"], md["name"], uid, RESOURCE, res_id)
        except Exception as exc:
            err = exc
            with contextlib.suppress(PoolError):
                pool.free(uid, res_id)
        # Upstream broadcasts ResourceAllocated even when the annotation failed.
        self.events.event(
            self._pod_ref(pod),
            "Normal",
            REASON_ALLOCATED,
            f"Allocated Resource {RESOURCE}: {res_id} to the pod",
        )
        self._observe(st)
        if err is not None:
            log.warning("pod %s: annotate failed: %s", key, err)
            return self._retry(REQUEUE_WARM_POOL_EMPTY_S)
        log.debug("pod %s: annotated %s", key, res_id)
        first = self._first_seen.pop(key, None)
        if first is not None:
            self.obs.allocation(time.monotonic() - first[0], first[1])
        return None

    def _allocation_failed(self, pod: dict[str, Any], key: str, exc: PoolError) -> float | None:
        log.debug("pod %s: allocation failed: %s", key, type(exc).__name__)
        first = self._first_seen.get(key)
        if first is not None:
            self._first_seen[key] = (first[0], False)  # a warm-pool miss
        ref = self._pod_ref(pod)
        if isinstance(exc, ResourcesAreBeingCooledDown):
            d = self._retry(REQUEUE_RESOURCE_COOLING_S)
            self.events.event(
                ref,
                "Warning",
                REASON_ALLOCATION_FAILED,
                f"Resource {RESOURCE} are being cooled down, will retry in {go_duration(d)}",
            )
            return d
        if isinstance(exc, ResourcesAreBeingCreated | WarmPoolEmpty):
            d = self._retry(REQUEUE_WARM_POOL_EMPTY_S)
            self.events.event(
                ref,
                "Warning",
                REASON_ALLOCATION_FAILED,
                f"Warm pool for resource {RESOURCE} is currently empty, will retry "
                f"in {go_duration(d)}",
            )
            return d
        if isinstance(exc, InsufficientCidrBlocks):
            d = self._retry(REQUEUE_PREFIX_NOT_AVAILABLE_S)
            self.events.event(
                ref,
                "Warning",
                REASON_ALLOCATION_FAILED,
                f"Warm pool for resource {RESOURCE} is currently empty because the "
                "specified subnet does not have enough free cidr blocks, will retry "
                f"in {go_duration(d)}",
            )
            return d
        if isinstance(exc, ResourceAlreadyAssigned):
            fresh = self.kube.get_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
            if fresh and RESOURCE in (fresh["metadata"].get("annotations") or {}):
                return None
        # ErrPoolAtMaxCapacity and others: controller-runtime requeues with rate-limited backoff.
        log.info("pod %s: %s", key, exc)
        return self._retry(REQUEUE_RESOURCE_COOLING_S)

    def _handle_delete(self, pod: dict[str, Any]) -> None:
        """HandleDelete: return the IP through the cool-down queue of the pool that gave it."""
        node_name = pod["spec"].get("nodeName")
        with self._nodes_lock:
            st = self.nodes.get(node_name)
        if st is None:
            return
        uid = pod["metadata"]["uid"]
        mode = "secondary"
        if st.prefix is not None and st.prefix.pool.get_assigned(uid) is not None:
            mode = "prefix"
        slot = st.prefix if mode == "prefix" else st.secondary
        if slot is None:
            return
        res_id = pod["metadata"]["annotations"].get(RESOURCE) or slot.pool.get_assigned(uid)
        if res_id is None:
            return
        try:
            slot.pool.free(uid, res_id)
        except PoolError:
            return
        self._submit(st.name, mode, slot.pool.reconcile())
        self._observe(st)

    # ================================================================ lifecycle
    def stop(self) -> None:
        """Stop the queues and the timer thread."""
        for q in (self.pod_queue, self.node_queue, self.job_queue):
            q.stop()
        self.timers.stop()


def subnet_prefix_len(cidr: str) -> int:
    """The prefix length of a subnet CIDR ("10.0.0.0/19" -> 19)."""
    return ipaddress.IPv4Network(cidr).prefixlen
