"""Node lifecycle of the Windows IPAM: which nodes are managed, their init, mode toggles,
capacity, and the jobs of their pools.

Mirrors pkg/node/manager (init / update / delete of a managed node) and the providers'
UpdateResourceCapacity of the real controller @ b8d42511. A Nitro node has a pool per
`PoolMode`; one is active, the other drains, as upstream toggles them. A node's pools are
built once, at init, with the configuration in force then.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.config import RESOURCE_NAME_IP, PoolMode, WarmPoolConfig, WindowsIPAMConfig
from controller.ec2 import EC2Client, EC2Error
from controller.eni import EniLedger
from controller.jobs import JobDispatcher
from controller.kube import EventRecorder, KubeClient
from controller.limits import lookup, unsupported_type_message
from controller.pool import JobOp, WarmPool, WarmPoolJob
from controller.provider import PROVIDERS, CidrExhaustion, NodeProvider
from controller.workqueue import TimerScheduler, WorkQueue

log = logging.getLogger(__name__)

REASON_INSUFFICIENT_CIDR = "InsufficientCidrBlocks"
REASON_UNSUPPORTED = "Unsupported"
REASON_VERSION_NOTICE = "ControllerVersionNotice"
# Upstream names its build version here; the harness names itself and the pinned commit.
VERSION_NOTICE_MSG = (
    "The node is managed by VPC resource controller version ekswin (upstream b8d42511)"
)
# Harness addition (upstream says nothing): no ENI has an address slot left for the
# active pool's resource, e.g. a secondary->PD switch on an ENI full of secondary IPs.
REASON_NO_FREE_SLOT = "NoFreeAddressSlot"
INSUFFICIENT_CIDR_MSG = (
    "InsufficientCidrBlocks: The specified subnet does not have enough free cidr blocks "
    "to satisfy the request"
)

# Why a node is not managed (introspection).
NOT_WINDOWS = "not a Windows node (label kubernetes.io/os)"
NO_INSTANCE_ID = "no EC2 instance id in spec.providerID"
IPAM_DISABLED = "Windows IPAM is disabled (ConfigMap kube-system/amazon-vpc-cni)"
OLD_CONTROLLER = (
    "Windows IPAM is off while the old controller's Deployment "
    "kube-system/vpc-resource-controller is present"
)


@dataclass
class Settings:
    """Runtime settings; the time scaling knobs never patch the clock."""

    cool_down_seconds: float = 30.0
    retry_scale: float = 1.0
    pd_feature_flag: bool = True
    resync_period_seconds: float = 1800.0
    pod_workers: int = 8
    node_workers: int = 4
    job_workers: int = 4
    cidr_exhaustion: CidrExhaustion = CidrExhaustion.REAL
    seed: int | None = None  # None: groups walked in insertion order; else a seeded order
    # What the pools measure their cool-down with (a SteppedScheduler's `now` in tests).
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Ec2Failure:
    """An EC2 call that failed for a node: action, error code and message, wall time."""

    action: str
    code: str
    message: str
    at: float
    text: str = ""  # err.Error() as the real controller logs it (SDK v2 spelling)

    @classmethod
    def of(cls, err: EC2Error) -> Ec2Failure:
        """Record `err` now."""
        return cls(err.action, err.code, err.message, time.time(), err.sdk_text)


@dataclass(frozen=True)
class InitFailure:
    """A node whose init failed: why, the EC2 error if one, and when it is retried
    (monotonic; None: on its next node event only, as upstream drops it until then)."""

    message: str
    error: Ec2Failure | None
    retry_at: float | None


class UnsupportedInstanceType(Exception):
    """LoadDetails found no row for the instance type in the controller's own table."""


class ConfigSource(Protocol):
    """Where the node manager reads the effective configuration from."""

    def effective_config(self, *, nitro: bool) -> WindowsIPAMConfig:
        """The settings a node of this Nitro-ness works with now."""
        ...

    def check_capacity(self, node: str, instance_type: str, capacity: int, *, nitro: bool) -> None:
        """Report the configured targets the node's active pool cannot reach."""
        ...

    def old_controller_present(self) -> bool:
        """The old in-cluster controller's Deployment is present (IPAM is off)."""
        ...


class Observer:
    """Hooks for metrics; the default does nothing."""

    def allocation(self, seconds: float, hit: bool) -> None:
        """An IP was annotated `seconds` after the pod was first seen bound."""

    def annotate(self, key: str, ok: bool) -> None:
        """A pod annotate request for `key` was made (ok: it succeeded)."""

    def advertise(self, resource: str, ok: bool) -> None:
        """A node capacity patch for `resource` was made (ok: it succeeded)."""

    def pool_changed(self, node: str, mode: PoolMode | None, pool: WarmPool | None) -> None:
        """A pool's counts may have changed (None: node dropped)."""


@dataclass
class NodeState:
    """A managed Windows node: its instance, ENI ledger and one provider per mode."""

    name: str
    instance_id: str
    instance_type: str
    subnet_cidr: str
    nitro: bool
    ledger: EniLedger
    providers: dict[PoolMode, NodeProvider]
    applied: PoolMode  # the mode last made active (upstream's isPrevPDEnabled)
    ready: bool = False
    last_ec2_error: Ec2Failure | None = None
    no_free_slot: str | None = None  # why the last create found no ENI slot (None: it did)
    retrying: bool = False  # the last pool job failed: its follow-ups are retries
    lock: threading.Lock = field(default_factory=threading.Lock)


def instance_id_from_provider_id(provider_id: str) -> str:
    """GetNodeInstanceID: last path element of aws:///<az>/<instance-id>."""
    return provider_id.split("/")[-1] if provider_id else ""


def node_os(node: dict[str, Any]) -> str:
    """GetNodeOS: kubernetes.io/os, else the beta label."""
    labels = node.get("metadata", {}).get("labels") or {}
    return str(labels.get("kubernetes.io/os") or labels.get("beta.kubernetes.io/os") or "")


def node_ref(node: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The ObjectReference of a node for Events."""
    uid = node["metadata"].get("uid", "") if node else ""
    return {"kind": "Node", "name": name, "uid": uid, "apiVersion": "v1"}


class NodeManager:
    """Reconciles nodes (a work queue keyed by node name) and runs their pools' jobs."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        ec2: EC2Client,
        events: EventRecorder,
        settings: Settings,
        config: ConfigSource,
        node_lookup: Callable[[str], dict[str, Any] | None],
        pods_on_node: Callable[[str], list[dict[str, Any]]],
        observer: Observer,
        timers: TimerScheduler,
        next_resync: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._kube = kube
        self._next_resync = next_resync
        self._ec2 = ec2
        self._events = events
        self._s = settings
        self._config = config
        self._node_lookup = node_lookup
        self._pods_on_node = pods_on_node
        self._obs = observer
        self._timers = timers
        self._lock = threading.RLock()
        self._nodes: dict[str, NodeState] = {}
        self._unmanaged: dict[str, str] = {}  # name -> why
        self._init_failures: dict[str, InitFailure] = {}
        self.jobs = JobDispatcher(self._run_job, workers=settings.job_workers, timers=timers)
        self.queue = WorkQueue(
            "nodes", self.reconcile, workers=settings.node_workers, timers=timers
        )

    # ------------------------------------------------------------------ queries
    def get(self, name: str) -> NodeState | None:
        """The managed node `name`, if initialised."""
        with self._lock:
            return self._nodes.get(name)

    def managed(self) -> list[NodeState]:
        """Every managed node."""
        with self._lock:
            return list(self._nodes.values())

    def unmanaged(self) -> dict[str, str]:
        """Nodes seen but not managed, with the reason."""
        with self._lock:
            return dict(self._unmanaged)

    def unmanaged_reason(self, name: str) -> str | None:
        """Why `name` is not managed (None: managed or never seen)."""
        with self._lock:
            return self._unmanaged.get(name)

    def init_failure(self, name: str) -> InitFailure | None:
        """The last failed init of a node not yet managed."""
        with self._lock:
            return self._init_failures.get(name)

    def init_failures(self) -> dict[str, InitFailure]:
        """Every node whose init failed and waits for its retry."""
        with self._lock:
            return dict(self._init_failures)

    def known_names(self) -> list[str]:
        """Every node reconciled so far, managed or not."""
        with self._lock:
            return [*self._nodes, *self._unmanaged, *self._init_failures]

    def active_mode(self, st: NodeState) -> PoolMode:
        """The pool the node's new pods get now (pod_controller updateResourceName)."""
        mode = self._config.effective_config(nitro=st.nitro).pool_mode
        return mode if mode is not None and mode in st.providers else PoolMode.SECONDARY

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, key: Hashable) -> float | None:
        """Add, update or drop one node."""
        name = str(key)
        node = self._node_lookup(name)
        if node is None:
            self._drop(name, "deleted: pools dropped")
            with self._lock:
                self._unmanaged.pop(name, None)
                self._init_failures.pop(name, None)
            return None
        iid = instance_id_from_provider_id(node.get("spec", {}).get("providerID", ""))
        why = self._unmanaged_because(node, iid)
        if why is not None:
            self._drop(name, "no longer managed")
            with self._lock:
                self._unmanaged[name] = why
                self._init_failures.pop(name, None)
            return None
        with self._lock:
            self._unmanaged.pop(name, None)
            st = self._nodes.get(name)
        fresh = st is None
        if st is None:
            # manager.go performAsyncOperation Init: the notice precedes every init attempt.
            self._events.event(
                node_ref(node, name), "Normal", REASON_VERSION_NOTICE, VERSION_NOTICE_MSG
            )
            try:
                st = self._init(name, iid)
            except (EC2Error, UnsupportedInstanceType) as exc:
                # manager.go performAsyncOperation: the node is dropped from the cache and
                # retried on its next event (a kubelet status update) or the resync.
                log.warning("node %s: init failed (%s); retried on its next event", name, exc)
                failure = InitFailure(
                    exc.message if isinstance(exc, EC2Error) else str(exc),
                    Ec2Failure.of(exc) if isinstance(exc, EC2Error) else None,
                    self._next_resync(),
                )
                with self._lock:
                    self._init_failures[name] = failure
                return None
            with self._lock:
                self._nodes[name] = st
                self._init_failures.pop(name, None)
            # Only now may the pools' jobs run: a job for a node not yet registered would
            # be dropped and leave its pool's pending_create stuck.
            self._start(st)
        self._update(st, node, fresh=fresh)
        return None

    def _unmanaged_because(self, node: dict[str, Any], iid: str) -> str | None:
        if node_os(node) != "windows":
            return NOT_WINDOWS
        if not iid:
            return NO_INSTANCE_ID
        if not self._config.effective_config(nitro=True).enabled:
            return OLD_CONTROLLER if self._config.old_controller_present() else IPAM_DISABLED
        return None

    def _drop(self, name: str, what: str) -> None:
        """DeleteNode: forget the pools, no EC2 calls."""
        with self._lock:
            st = self._nodes.pop(name, None)
        if st is not None:
            st.ready = False
            self._obs.pool_changed(name, None, None)
            log.info("node %s %s", name, what)

    # ------------------------------------------------------------------ init (InitResource)
    def _init(self, name: str, instance_id: str) -> NodeState:
        # ec2/instance.go LoadDetails: the instance, its subnet, then the type's row in the
        # controller's own table; a type missing there fails the init with an Event
        # (node.go InitResources), however well EC2 knows it.
        inst = self._ec2.describe_instance(instance_id)
        cidr = self._ec2.subnet_cidr(inst.subnet_id)
        itype = lookup(inst.instance_type)
        if itype is None:
            msg = unsupported_type_message(inst.instance_type)
            self._events.event(
                node_ref(self._node_lookup(name), name), "Warning", REASON_UNSUPPORTED, msg
            )
            raise UnsupportedInstanceType(msg)
        mask = cidr.split("/")[1]
        ledger = EniLedger(itype.ipv4_per_eni)
        held = ledger.load(inst)
        running = [
            p
            for p in self._pods_on_node(name)
            if p["status"].get("phase") not in ("Succeeded", "Failed")
        ]
        eff = self._config.effective_config(nitro=itype.nitro)
        active = eff.pool_mode or PoolMode.SECONDARY
        providers: dict[PoolMode, NodeProvider] = {}
        for mode, cls in PROVIDERS.items():
            if not cls.supports(itype):
                continue
            providers[mode] = cls(
                node_name=name,
                instance_id=instance_id,
                itype=itype,
                ledger=ledger,
                subnet_mask=mask,
                held=held,
                running=running,
                # The inactive pool starts draining (DesiredSize 0).
                config=eff.active_pool_config() if mode is active else WarmPoolConfig(),
                cool_down_seconds=self._s.cool_down_seconds,
                # Go's random map order, drawn from the seed per node and pool.
                rng=random.Random(f"{self._s.seed}/{name}/{mode.value}")
                if self._s.seed is not None
                else None,
                clock=self._s.clock,
            )
        if PoolMode.PREFIX not in providers:
            self._unsupported_pd(name, inst.instance_type)
        log.info(
            "node %s initialised: %s nitro=%s secondary=%d prefixes=%d",
            name,
            inst.instance_type,
            itype.nitro,
            len(held.secondary_ips),
            len(held.prefixes),
        )
        return NodeState(
            name=name,
            instance_id=instance_id,
            instance_type=inst.instance_type,
            subnet_cidr=cidr,
            nitro=itype.nitro,
            ledger=ledger,
            providers=providers,
            applied=active if active in providers else PoolMode.SECONDARY,
        )

    def _unsupported_pd(self, name: str, instance_type: str) -> None:
        """prefix provider IsInstanceSupported on a non-Nitro type: a Warning each time it
        is asked (at init and on every update of the node), as upstream sends it."""
        self._events.event(
            node_ref(self._node_lookup(name), name),
            "Warning",
            REASON_UNSUPPORTED,
            f"The instance type {instance_type} is not supported for Windows prefix delegation",
        )

    def _start(self, st: NodeState) -> None:
        """First reconcile of each pool and its cool-down job; then pods may be served."""
        for mode, prov in st.providers.items():
            self.jobs.submit(st.name, mode, prov.pool.reconcile())
            self._schedule_cool_down(st, mode)
        st.ready = True

    # ------------------------------------------------------------------ UpdateResourceCapacity
    def _update(self, st: NodeState, node: dict[str, Any], *, fresh: bool) -> None:
        if not st.ready:
            return
        if not st.nitro:
            self._unsupported_pd(st.name, st.instance_type)  # node.go UpdateResources
        eff = self._config.effective_config(nitro=st.nitro)
        active = self.active_mode(st)
        with st.lock:
            # A node just built already has these configs: toggling again changes nothing.
            if not fresh:
                for mode, prov in st.providers.items():
                    if mode is active:
                        # Re-read on every update, as upstream's SetToActive does.
                        cfg = eff.active_pool_config() if eff.enabled else WarmPoolConfig()
                        self.jobs.submit(st.name, mode, prov.pool.set_to_active(cfg))
                    elif mode is st.applied:
                        self.jobs.submit(st.name, mode, prov.pool.set_to_draining())
                st.applied = active
            capacity = st.providers[active].capacity
        self._advertise(node, capacity)
        if eff.enabled:
            self._config.check_capacity(st.name, st.instance_type, capacity, nitro=st.nitro)
        self.observe(st)

    def _advertise(self, node: dict[str, Any], capacity: int) -> None:
        """AdvertiseCapacityIfNotSet: patch status.capacity only when it differs."""
        current = (node.get("status", {}).get("capacity") or {}).get(RESOURCE_NAME_IP)
        if current is not None and str(current) == str(capacity) and capacity != 0:
            return
        name = node["metadata"]["name"]
        try:
            self._kube.patch_node_capacity(name, RESOURCE_NAME_IP, capacity)
        except Exception:
            self._obs.advertise(RESOURCE_NAME_IP, ok=False)
            raise
        self._obs.advertise(RESOURCE_NAME_IP, ok=True)
        log.info("advertised %s=%d on node %s", RESOURCE_NAME_IP, capacity, name)

    def observe(self, st: NodeState) -> None:
        """Report the active pool's counts to the observer."""
        mode = self.active_mode(st)
        self._obs.pool_changed(st.name, mode, st.providers[mode].pool)

    # ------------------------------------------------------------------ pool jobs
    def submit(self, node: str, mode: PoolMode, job: WarmPoolJob) -> None:
        """Queue a pool's job."""
        self.jobs.submit(node, mode, job)

    def _run_job(self, node: str, mode: PoolMode, job: WarmPoolJob) -> None:
        st = self.get(node)
        prov = st.providers.get(mode) if st is not None else None
        if st is None or prov is None:
            return
        log.debug("node %s: %s job %s count=%d", node, mode, job.op.name, job.resource_count)
        outcome = prov.run(job, self._ec2, self._s.cidr_exhaustion)
        if job.op is not JobOp.RESYNC:  # a re-sync between two failed creates is no progress
            st.retrying = outcome.error is not None or outcome.shortfall is not None
        if outcome.error is not None:
            st.last_ec2_error = Ec2Failure.of(outcome.error)
            log.warning("node %s: %s", node, outcome.error.sdk_text)
        if outcome.shortfall is not None:
            self._no_free_slot(st, mode, *outcome.shortfall)
        elif job.op is JobOp.CREATE and outcome.error is None:
            st.no_free_slot = None
        if outcome.no_cidr:
            self._events.event(
                node_ref(self._node_lookup(node), node),
                "Warning",
                REASON_INSUFFICIENT_CIDR,
                INSUFFICIENT_CIDR_MSG,
            )
        if outcome.follow_up is not None:
            self.jobs.submit(node, mode, outcome.follow_up)
        self.observe(st)

    def _no_free_slot(self, st: NodeState, mode: PoolMode, wanted: int, made: int) -> None:
        """A create found no ENI slot for all it wanted: say why, once per new reason."""
        what = "/28 prefix" if mode is PoolMode.PREFIX else "secondary IP"
        per = st.ledger.ipv4_per_eni
        parts = [
            f"{eni}: primary + {ips} secondary IP(s) + {prefixes} prefix(es) = "
            f"{per - free} of {per} addresses"
            for eni, ips, prefixes, free in st.ledger.usage()
        ]
        why = (
            f"No {what} fits: wanted {wanted}, assigned {made}; "
            + ("; ".join(parts) or "no ENI")
            + ". A /28 prefix and a secondary IP each take one address slot; slots free up "
            "as the other pool's IPs are released (pods using them deleted, then cool-down)."
        )
        log.warning("node %s: %s", st.name, why)
        if why == st.no_free_slot:
            return
        st.no_free_slot = why
        self._events.event(
            node_ref(self._node_lookup(st.name), st.name), "Warning", REASON_NO_FREE_SLOT, why
        )

    def _schedule_cool_down(self, st: NodeState, mode: PoolMode) -> None:
        """ProcessDeleteQueue job: every cool-down period, per pool, while the node lasts."""

        def tick() -> None:
            if self.get(st.name) is not st:
                return  # dropped (or re-created: the new state has its own timer)
            pool = st.providers[mode].pool
            pool.process_cool_down()
            self.jobs.submit(st.name, mode, pool.reconcile())
            self._timers.call_later(self._s.cool_down_seconds, tick)

        self._timers.call_later(self._s.cool_down_seconds, tick)

    def stop(self) -> None:
        """Stop the node queue and the job workers."""
        self.queue.stop()
        self.jobs.stop()
