"""`ControllerRunner`: the whole controller process as a context manager.

It owns the wiring: one ConfigMap informer (shared by the IPAM and the webhook), node
and pod informers, the IPAM controller, the health/metrics/introspection server, the
webhook and leader election. `python -m controller` runs one; tests run one in-process
against their own `KubeClient` / `EC2Client` doubles.
"""

from __future__ import annotations

import argparse
import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from controller import config as cfgmod
from controller import introspect
from controller.allocator import trim_pod
from controller.awssdk import StandardRetryer
from controller.config import PoolMode
from controller.ec2 import EC2Api, EC2Client
from controller.kube import (
    NODES,
    PODS,
    EventRecorder,
    Informer,
    KubeApi,
    KubeClient,
    one_configmap,
    one_deployment,
)
from controller.manager import IPAMController
from controller.metrics import ControllerMetrics, HealthServer, serve_health
from controller.nodes import Observer, Settings
from controller.pool import WarmPool
from controller.provider import CidrExhaustion

log = logging.getLogger(__name__)

COMPONENTS = frozenset({"controller", "webhook"})
SHUTDOWN_TIMEOUT_S = 3.0
DEFAULT_CONTROLLER_USERNAME = "system:serviceaccount:kube-system:vpc-resource-controller"


@dataclass
class RunnerOptions:
    """Everything a controller process is configured with (the CLI flags, parsed)."""

    kubeconfig: str = ""
    ec2_endpoint: str = ""
    region: str = "us-west-2"
    components: frozenset[str] = field(default_factory=lambda: COMPONENTS)
    metrics_port: int = 0
    webhook_port: int = 0
    webhook_cert_dir: str = ""
    enable_windows_prefix_delegation: bool = True
    cooldown_seconds: float = 30.0
    retry_scale: float = 1.0
    resync_period_seconds: float = 1800.0
    leader_elect: bool = True
    leader_election_namespace: str = "kube-system"
    leader_election_id: str = "cp-vpc-resource-controller"
    identity: str = "vpc-resource-controller"
    lease_duration: float = 30.0
    renew_deadline: float = 15.0
    retry_period: float = 5.0
    apiserver_qps: float = 20.0
    apiserver_burst: int = 30
    ec2_qps: float = 12.0
    ec2_burst: int = 18
    pod_workers: int = 8
    controller_username: str = DEFAULT_CONTROLLER_USERNAME
    cidr_exhaustion: CidrExhaustion = CidrExhaustion.REAL
    seed: int = 0
    ec2_backoff_scale: float = 1.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunnerOptions:
        """From `controller.__main__.build_parser()`'s namespace; ValueError on bad values."""
        components = frozenset(c.strip() for c in args.components.split(",") if c.strip())
        opts = cls(
            kubeconfig=args.kubeconfig,
            ec2_endpoint=args.ec2_endpoint,
            region=args.region,
            components=components,
            metrics_port=args.metrics_port,
            webhook_port=args.webhook_port,
            webhook_cert_dir=args.webhook_cert_dir,
            enable_windows_prefix_delegation=args.enable_windows_prefix_delegation,
            cooldown_seconds=args.cooldown_seconds,
            retry_scale=args.retry_scale,
            resync_period_seconds=args.resync_period_seconds,
            leader_elect=args.leader_elect,
            leader_election_namespace=args.leader_election_namespace,
            leader_election_id=args.leader_election_id,
            identity=args.identity,
            lease_duration=args.lease_duration,
            renew_deadline=args.renew_deadline,
            retry_period=args.retry_period,
            apiserver_qps=args.apiserver_qps,
            apiserver_burst=args.apiserver_burst,
            ec2_qps=args.ec2_qps,
            ec2_burst=args.ec2_burst,
            pod_workers=args.pod_workers,
            controller_username=args.controller_username,
            cidr_exhaustion=CidrExhaustion(args.cidr_exhaustion),
            seed=args.seed,
            ec2_backoff_scale=args.ec2_backoff_scale,
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        """ValueError naming the option when a value cannot work."""
        unknown = self.components - COMPONENTS
        if unknown or not self.components:
            raise ValueError(
                f"--components: unknown {sorted(unknown)}; expected controller and/or webhook"
            )
        for flag, value in (
            ("--cooldown-seconds", self.cooldown_seconds),
            ("--retry-scale", self.retry_scale),
            ("--resync-period-seconds", self.resync_period_seconds),
            ("--apiserver-qps", self.apiserver_qps),
            ("--ec2-qps", self.ec2_qps),
            ("--ec2-backoff-scale", self.ec2_backoff_scale),
        ):
            if value < 0:
                raise ValueError(f"{flag} {value}: expected >= 0")
        if self.pod_workers < 1:
            raise ValueError(f"--pod-workers {self.pod_workers}: expected >= 1")


class _PodIndex:
    """namespace/name of the pods bound to each node, kept from the pod informer's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, set[str]] = {}

    def update(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        md = obj["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        node = obj["spec"].get("nodeName")
        with self._lock:
            if old is not None and old["spec"].get("nodeName") not in (None, "", node):
                self._by_node.get(old["spec"]["nodeName"], set()).discard(key)
            if node:
                if kind == "DELETED":
                    self._by_node.get(node, set()).discard(key)
                else:
                    self._by_node.setdefault(node, set()).add(key)

    def keys(self, node: str) -> list[str]:
        with self._lock:
            return list(self._by_node.get(node, ()))


class _MetricsObserver(Observer):
    """Feeds ControllerMetrics from the IPAM's hooks and the EC2 client."""

    def __init__(self, metrics: ControllerMetrics) -> None:
        self.m = metrics

    def ec2_call(
        self, action: str, params: Mapping[str, Any], seconds: float, code: str | None
    ) -> None:
        self.m.observe_ec2_call(action, seconds, code, params)

    def allocation(self, seconds: float, hit: bool) -> None:
        self.m.allocation_latency.observe(seconds)

    def annotate(self, key: str, ok: bool) -> None:
        self.m.observe_annotate(key, ok)

    def advertise(self, resource: str, ok: bool) -> None:
        self.m.observe_advertise(resource, ok)

    def pool_changed(self, node: str, mode: PoolMode | None, pool: WarmPool | None) -> None:
        if pool is None:
            self.m.remove_node(node)
            return
        s = pool.stats()
        self.m.set_pool(
            node,
            {
                "used": s.used,
                "warm": s.warm,
                "cooling": s.cooling,
                "pending_create": s.pending_create,
                "pending_delete": s.pending_delete,
            },
        )


class ControllerRunner:
    """Runs the controller's components; `with ControllerRunner(opts) as r:` starts and stops.

    `kube` / `ec2` replace the clients built from `kubeconfig` / `ec2_endpoint` (tests).
    Leader election talks to the API server directly, so it needs the kubeconfig.
    """

    def __init__(
        self,
        options: RunnerOptions,
        *,
        kube: KubeClient | None = None,
        ec2: EC2Client | None = None,
    ) -> None:
        options.validate()
        self.options = options
        opts = options
        self.components = opts.components
        self._api_client: Any = None
        if kube is None:
            from kubernetes import config as kconfig

            if not opts.kubeconfig:
                raise ValueError("--kubeconfig is required")
            self._api_client = kconfig.new_client_from_config(config_file=opts.kubeconfig)
            self._api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 32
            kube = KubeApi(self._api_client, qps=opts.apiserver_qps, burst=opts.apiserver_burst)
        if opts.leader_elect and self._api_client is None and "controller" in self.components:
            raise ValueError(
                "leader election needs the API server of --kubeconfig; "
                "run a test KubeClient with leader_elect=False"
            )
        self.kube: KubeClient = kube
        self.registry = CollectorRegistry()
        self.metrics = ControllerMetrics(self.registry)
        self.leading = threading.Event()
        self.lost_leadership = threading.Event()
        self._stop = threading.Event()
        self._cm_lock = threading.Lock()
        self.cm_data: dict[str, str] | None = None
        self.cm_obj: dict[str, Any] | None = None
        self.old_controller = False  # kube-system/vpc-resource-controller is present
        self._pods = _PodIndex()
        self.controller: IPAMController | None = None
        self.events: EventRecorder | None = None
        self.health: HealthServer | None = None
        self.webhook: Any = None
        self._elector: Any = None
        self._paused = False  # the harness's reset: IPAM stopped until rebuild_ipam()
        self._started = False
        self._stopped = False

        # One ConfigMap informer: the IPAM and the webhook both read it.
        self.cm_informer = Informer(
            "configmap",
            kube,
            one_configmap(cfgmod.CONFIGMAP_NAMESPACE, cfgmod.CONFIGMAP_NAME),
            self._on_cm,
        )
        # The old in-cluster controller's Deployment (conditions.go): IPAM and the webhook's
        # mutation are off while it exists.
        self.deploy_informer = Informer(
            "old-controller",
            kube,
            one_deployment(cfgmod.OLD_CONTROLLER_NAMESPACE, cfgmod.OLD_CONTROLLER_DEPLOYMENT),
            self._on_old_controller,
        )
        self.informers = [self.cm_informer, self.deploy_informer]
        if "controller" in self.components:
            if ec2 is None:
                if not opts.ec2_endpoint:
                    raise ValueError(
                        "--ec2-endpoint is required when the controller component runs"
                    )
                ec2 = EC2Api(
                    opts.ec2_endpoint,
                    opts.region,
                    qps=opts.ec2_qps,
                    burst=opts.ec2_burst,
                    observer=_MetricsObserver(self.metrics).ec2_call,
                    retryer=StandardRetryer(
                        backoff_scale=opts.ec2_backoff_scale, rng=random.Random(opts.seed)
                    ),
                )
            self.node_informer = Informer("nodes", kube, NODES, self._on_node)
            self.pod_informer = Informer("pods", kube, PODS, self._on_pod, transform=trim_pod)
            self.informers += [self.pod_informer, self.node_informer]
            self.events = EventRecorder(kube, host=opts.identity)
            self._ec2 = ec2
            self.controller = self._new_controller()

    def _new_controller(self) -> IPAMController:
        """An IPAM controller with no state: it learns the pools from EC2, as on a start."""
        opts = self.options
        assert self.events is not None
        return IPAMController(
            self.kube,
            self._ec2,
            self.events,
            Settings(
                cool_down_seconds=opts.cooldown_seconds,
                retry_scale=opts.retry_scale,
                pd_feature_flag=opts.enable_windows_prefix_delegation,
                resync_period_seconds=opts.resync_period_seconds,
                pod_workers=opts.pod_workers,
                cidr_exhaustion=opts.cidr_exhaustion,
                seed=opts.seed,
            ),
            node_lookup=lambda n: self.node_informer.store.get(n),
            pod_lookup=lambda k: self.pod_informer.store.get(k),
            pods_on_node=self._pods_on_node,
            observer=_MetricsObserver(self.metrics),
        )

    # ------------------------------------------------------------ URLs
    @property
    def health_url(self) -> str:
        """http://127.0.0.1:PORT of health, metrics and introspection (after start)."""
        if self.health is None:
            raise RuntimeError("ControllerRunner not started")
        return self.health.url

    @property
    def webhook_url(self) -> str | None:
        """https://127.0.0.1:PORT of the webhook (None when it does not run)."""
        return self.webhook.url if self.webhook is not None else None

    # ------------------------------------------------------------ informer callbacks
    def _on_cm(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        data = None if kind == "DELETED" else (obj.get("data") or {})
        # Under the lock, so start_leading cannot hand the controller an older copy.
        with self._cm_lock:
            self.cm_data = data
            self.cm_obj = None if kind == "DELETED" else obj
            self._set_condition_gauges()
            if self.controller is not None and self._active():
                self.controller.set_config(data, self.cm_obj)

    def _set_condition_gauges(self) -> None:
        # conditions.go returns early while the old controller is present, leaving the
        # gauges as they were.
        if self.old_controller:
            return
        data, flag = self.cm_data, self.options.enable_windows_prefix_delegation
        self.metrics.windows_ipam_enabled.set(int(cfgmod.is_windows_ipam_enabled(data)))
        self.metrics.windows_prefix_delegation_enabled.set(
            int(cfgmod.is_windows_pd_enabled(data, feature_flag=flag))
        )

    def _on_old_controller(
        self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        # A read of the informer's cache: found or not found (an unsynced cache blocks the
        # start instead, so the "other error" case of the rule does not arise here).
        found = kind != "DELETED"
        lookup = cfgmod.DeploymentLookup.FOUND if found else cfgmod.DeploymentLookup.NOT_FOUND
        present = cfgmod.old_controller_present(lookup)
        with self._cm_lock:
            self.old_controller = present
            self._set_condition_gauges()
            if self.controller is not None and self._active():
                self.controller.set_old_controller(present)

    def _on_node(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if self.controller is not None and self._active():
            self.controller.on_node_event(kind, obj, old)

    def _on_pod(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._pods.update(kind, obj, old)
        if self.controller is not None and self._active():
            self.controller.on_pod_event(kind, obj, old)

    def _pods_on_node(self, node: str) -> list[dict[str, Any]]:
        store = self.pod_informer.store
        return [p for k in self._pods.keys(node) if (p := store.get(k)) is not None]

    def _active(self) -> bool:
        return self.leading.is_set() and not self._paused

    def pause_ipam(self) -> None:
        """Stop the IPAM work and wait for its workers, so no EC2 call of this
        controller lands afterwards (first half of the harness's environment reset)."""
        ctl = self.controller
        if ctl is None:
            return
        with self._cm_lock:
            self._paused = True
        ctl.stop()  # joins the pod, node and job workers (bounded)

    def rebuild_ipam(self) -> None:
        """Replace the IPAM controller by one with no state and hand it every object, as
        a restarted controller does: pools, cool-downs and backoffs are learnt again from
        EC2 and the informers' caches (the reset's second half; the process, its
        informers, lease and webhook stay)."""
        if self.controller is None:
            return
        ctl = self._new_controller()
        with self._cm_lock:  # no event reaches it before its configuration
            self.controller = ctl
            self._paused = False
            leading = self.leading.is_set()
            if leading:
                ctl.set_old_controller(self.old_controller)
                ctl.set_config(self.cm_data, self.cm_obj)
        if leading:
            self._replay(ctl)

    def _ipam_enabled(self) -> bool:
        return cfgmod.is_windows_ipam_enabled(self.cm_data, old_controller=self.old_controller)

    # ------------------------------------------------------------ leadership
    def _start_leading(self) -> None:
        """Became leader: wait for the caches, then process every object."""
        ctl = self.controller
        if ctl is None:
            return
        for inf in self.informers:
            while not inf.synced.wait(0.5):
                if self._stop.is_set():
                    return
        with self._cm_lock:
            self.leading.set()
            ctl.set_old_controller(self.old_controller)
            ctl.set_config(self.cm_data, self.cm_obj)
        self.metrics.leader.labels(name=self.options.leader_election_id).set(1)
        self._replay(ctl)
        log.info("started leading")

    def _replay(self, ctl: IPAMController) -> None:
        """Hand `ctl` every cached node and pod, as the informers' initial list does."""
        for node in list(self.node_informer.store.values()):
            ctl.on_node_event("ADDED", node, None)
        for pod in list(self.pod_informer.store.values()):
            ctl.on_pod_event("ADDED", pod, None)

    def _stop_leading(self) -> None:
        """Lost the lease: stop, like the real binary (it exits)."""
        if not self._stop.is_set():
            log.error("leader election lost; exiting")
        self.metrics.leader.labels(name=self.options.leader_election_id).set(0)
        self.leading.clear()
        self.lost_leadership.set()

    def ready(self) -> bool:
        """Ready once every informer has synced."""
        return all(inf.synced.is_set() for inf in self.informers)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Bind the servers, start the informers, campaign (or lead at once)."""
        if self._started:
            raise RuntimeError("ControllerRunner already started")
        self._started = True
        opts = self.options
        resolver = introspect.resolver(lambda: self.controller) if self.controller else None
        try:
            self.health = serve_health(
                opts.metrics_port, registry=self.registry, ready=self.ready, json_routes=resolver
            )
            if "webhook" in self.components:
                from controller.webhook.server import WebhookServer

                self.webhook = WebhookServer(
                    opts.webhook_cert_dir,
                    opts.webhook_port,
                    ipam_enabled=self._ipam_enabled,
                    controller_username=opts.controller_username,
                    registry=self.registry,
                )
                self.webhook.start()
            for inf in self.informers:
                inf.start()
            if self.controller is not None:
                if opts.leader_elect:
                    self._campaign()
                else:
                    threading.Thread(
                        target=self._start_leading, name="start-leading", daemon=True
                    ).start()
        except BaseException:
            self.stop()
            raise

    def _campaign(self) -> None:
        from controller.leader import LeaderElector

        opts = self.options
        self._elector = LeaderElector(
            self._api_client,
            namespace=opts.leader_election_namespace,
            name=opts.leader_election_id,
            identity=opts.identity,
            lease_duration_s=opts.lease_duration,
            renew_deadline_s=opts.renew_deadline,
            retry_period_s=opts.retry_period,
            on_started_leading=self._start_leading,
            on_stopped_leading=self._stop_leading,
        )
        threading.Thread(target=self._elector.run, name="leader", daemon=True).start()

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Release the lease, stop everything; bounded: a call blocked in I/O is left behind."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()

        def cleanup() -> None:
            if self._elector is not None:
                self._elector.stop()
            for inf in self.informers:
                inf.stop()
            if self.controller is not None:
                self.controller.stop()
            if self.events is not None:
                self.events.stop()
            if self.webhook is not None:
                self.webhook.stop()
            if self.health is not None:
                self.health.shutdown()
            for inf in self.informers:
                inf.join(0.5)

        cleaner = threading.Thread(target=cleanup, name="runner-stop", daemon=True)
        cleaner.start()
        cleaner.join(timeout)
        if cleaner.is_alive():
            log.warning("shutdown still blocked after %.1fs; leaving it behind", timeout)

    def __enter__(self) -> ControllerRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
