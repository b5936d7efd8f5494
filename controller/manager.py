"""The Windows IPAM controller: the ConfigMap's effective settings, the node manager, the
pod allocator, and the periodic resync, wired to informer callbacks.

Structure after the real controller (aws/amazon-vpc-resource-controller-k8s @ b8d42511):
`controller.nodes` (pkg/node/manager + UpdateResourceCapacity), `controller.provider`
(pkg/provider/ip and pkg/provider/prefix, one per `PoolMode`), `controller.eni`
(pkg/provider/ip/eni), `controller.jobs` (the providers' async job worker) and
`controller.allocator` (pkg/handler/warm.go and the pod controller).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from controller import config as cfgmod
from controller.allocator import PodAllocator
from controller.config import WindowsIPAMConfig
from controller.configcheck import ConfigProblem, capacity_problems, configmap_problems
from controller.ec2 import EC2Client
from controller.kube import EventRecorder, KubeClient
from controller.nodes import NodeManager, Observer, Settings
from controller.workqueue import TimerScheduler

__all__ = ["IPAMController", "Observer", "Settings"]

log = logging.getLogger(__name__)

# Event reasons on the ConfigMap (the real controller records none there: harness addition).
REASON_INVALID_CONFIG = "InvalidConfiguration"
REASON_TARGET_ABOVE_CAPACITY = "TargetExceedsCapacity"


def configmap_ref(obj: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ObjectReference of kube-system/amazon-vpc-cni for Events (uid when known)."""
    md = (obj or {}).get("metadata") or {}
    return {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "namespace": cfgmod.CONFIGMAP_NAMESPACE,
        "name": cfgmod.CONFIGMAP_NAME,
        "uid": md.get("uid", ""),
    }


class IPAMController:
    """Watches nodes, pods and the ConfigMap (via the caller's informers) and runs the IPAM."""

    def __init__(
        self,
        kube: KubeClient,
        ec2: EC2Client,
        events: EventRecorder,
        settings: Settings,
        *,
        node_lookup: Callable[[str], dict[str, Any] | None],
        pod_lookup: Callable[[str], dict[str, Any] | None],
        pods_on_node: Callable[[str], list[dict[str, Any]]],
        observer: Observer | None = None,
        timers: TimerScheduler | None = None,
    ) -> None:
        """`timers`: a `SteppedScheduler` runs the whole IPAM on the caller's thread."""
        self.settings = settings
        self._events = events
        self._config_lock = threading.Lock()
        self.config_data: dict[str, str] | None = None
        self.old_controller = False  # the old controller's Deployment is present
        self._config_ref = configmap_ref()
        # Capacity problems already reported for the current ConfigMap data.
        self._reported: set[tuple[str, str, str, str, int]] = set()
        self._effective = self._resolve(None)
        self._stopped = False
        self._next_resync_at: float | None = None
        obs = observer or Observer()
        self.timers = timers if timers is not None else TimerScheduler()
        self.nodes = NodeManager(
            kube=kube,
            ec2=ec2,
            events=events,
            settings=settings,
            config=self,
            node_lookup=node_lookup,
            pods_on_node=pods_on_node,
            observer=obs,
            timers=self.timers,
            next_resync=lambda: self._next_resync_at,
        )
        self.pods = PodAllocator(
            kube=kube,
            events=events,
            nodes=self.nodes,
            retry_scale=settings.retry_scale,
            workers=settings.pod_workers,
            node_lookup=node_lookup,
            pod_lookup=pod_lookup,
            observer=obs,
            timers=self.timers,
            next_resync=lambda: self._next_resync_at,
        )
        self._schedule_resync()

    # ================================================================ configuration
    def _resolve(self, data: dict[str, str] | None) -> dict[bool, WindowsIPAMConfig]:
        flag = self.settings.pd_feature_flag
        old = self.old_controller
        return {
            nitro: WindowsIPAMConfig.from_configmap(
                data, nitro=nitro, prefix_delegation_flag=flag, old_controller=old
            )
            for nitro in (True, False)
        }

    def set_old_controller(self, present: bool) -> None:
        """The old controller's Deployment appeared or went (DeploymentReconciler): on a
        change, IPAM is re-decided and every node re-evaluated, as a ConfigMap change does."""
        with self._config_lock:
            if present == self.old_controller:
                return
            self.old_controller = present
            self._effective = self._resolve(self.config_data)
        log.info("old VPC resource controller deployment %s", "present" if present else "gone")
        for name in self.nodes.known_names():
            self.nodes.queue.add(name)

    def set_config(self, data: dict[str, str] | None, obj: dict[str, Any] | None = None) -> None:
        """ConfigMap changed (None: deleted): re-evaluate every node, as the CM reconciler does.

        `obj` is the ConfigMap itself (for the Events about its values). Each value the
        controller rejects or overrides is logged, and recorded as an Event, once per change.
        """
        with self._config_lock:
            changed = data != self.config_data
            self.config_data = dict(data) if data is not None else None
            self._effective = self._resolve(self.config_data)
            if obj is not None:
                self._config_ref = configmap_ref(obj)
            if changed:
                self._reported.clear()
        if changed:
            flag = self.settings.pd_feature_flag
            for problem in configmap_problems(data, prefix_delegation_flag=flag):
                self._report(problem, REASON_INVALID_CONFIG)
            for name in self.nodes.known_names():
                self.nodes.queue.add(name)

    def check_capacity(self, node: str, instance_type: str, capacity: int, *, nitro: bool) -> None:
        """Report the user's targets this node cannot reach (once per instance type and change)."""
        with self._config_lock:
            data = self.config_data
            eff = self._effective[nitro]
        for problem in capacity_problems(
            data, eff, node=node, instance_type=instance_type, capacity=capacity
        ):
            seen = (problem.key, problem.value, instance_type, eff.mode, capacity)
            with self._config_lock:
                if data != self.config_data or seen in self._reported:
                    continue
                self._reported.add(seen)
            self._report(problem, REASON_TARGET_ABOVE_CAPACITY)

    def _report(self, problem: ConfigProblem, reason: str) -> None:
        message = problem.message()
        log.warning("%s", message)
        with self._config_lock:
            ref = dict(self._config_ref)
        self._events.event(ref, "Warning", reason, message)

    def effective_config(self, *, nitro: bool) -> WindowsIPAMConfig:
        """The settings a node of this Nitro-ness works with: decided here and only here."""
        with self._config_lock:
            return self._effective[nitro]

    def ipam_enabled(self) -> bool:
        """conditions.IsWindowsIPAMEnabled."""
        return self.effective_config(nitro=True).enabled

    def pd_enabled(self) -> bool:
        """conditions.IsWindowsPrefixDelegationEnabled."""
        with self._config_lock:
            data, old = self.config_data, self.old_controller
        flag = self.settings.pd_feature_flag
        return cfgmod.is_windows_pd_enabled(data, feature_flag=flag, old_controller=old)

    def old_controller_present(self) -> bool:
        """conditions.IsOldVPCControllerDeploymentPresent, as last read."""
        with self._config_lock:
            return self.old_controller

    # ================================================================ informer callbacks
    def on_node_event(self, kind: str, node: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Informer callback for nodes."""
        self.nodes.queue.add(node["metadata"]["name"])

    def on_pod_event(self, kind: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Informer callback for pods (already trimmed)."""
        self.pods.on_pod_event(kind, pod)

    # ================================================================ periodic resync
    def _schedule_resync(self) -> None:
        period = self.settings.resync_period_seconds
        if period <= 0:
            return

        def tick() -> None:
            if self._stopped:
                return
            self._next_resync_at = time.monotonic() + period
            self.resync()
            self.timers.call_later(period, tick)

        self._next_resync_at = time.monotonic() + period
        self.timers.call_later(period, tick)

    def resync(self) -> None:
        """SyncPeriod: reconcile every node's pools again and retry every waiting pod."""
        names = self.nodes.known_names()
        log.debug("periodic resync of %d node(s)", len(names))
        for name in names:
            self.nodes.queue.add(name)
        for key in self.pods.waiting_keys():
            self.pods.queue.add(key)

    def pending(self) -> bool:
        """EC2 create/delete (or re-sync) work is queued or in flight for some node, and
        it is progress: a node whose last pool job failed (an EC2 error, no ENI slot) and
        is being retried is waiting, not working (a scenario settles around it)."""
        states = {st.name: st for st in self.nodes.managed()}
        for name in self.nodes.jobs.nodes_with_work():
            st = states.get(name)
            if st is None or not st.retrying:
                return True
        for st in states.values():
            if st.retrying:
                continue
            for prov in st.providers.values():
                s = prov.pool.stats()
                if s.pending_create or s.pending_delete:
                    return True
        return False

    # ================================================================ lifecycle
    def stop(self) -> None:
        """Stop the queues and the timer thread."""
        self._stopped = True
        self.pods.stop()
        self.nodes.stop()
        self.timers.stop()
