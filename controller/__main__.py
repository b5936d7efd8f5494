"""`python -m controller`: the VPC Resource Controller (Windows IPAM) and its webhook.

Prints `listening on http://127.0.0.1:PORT` (health/metrics) first, then
`webhook on https://127.0.0.1:PORT` when the webhook runs. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from controller import config as cfgmod
from controller.manager import IPAMController, Observer, Settings, trim_pod


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "t", "true", "yes", "on"):
        return True
    if low in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (names follow the real controller where it has them)."""
    p = argparse.ArgumentParser(prog="python -m controller", description=__doc__)
    p.add_argument("--kubeconfig", required=True, help="kubeconfig the controller runs with")
    p.add_argument("--ec2-endpoint", default="", help="EC2 endpoint URL (fake_ec2)")
    p.add_argument("--region", default="us-west-2")
    p.add_argument(
        "--components", default="controller,webhook", help="comma list of controller,webhook"
    )
    p.add_argument("--metrics-port", type=int, default=0, help="health/metrics port (0: free)")
    p.add_argument("--webhook-port", type=int, default=0)
    p.add_argument("--webhook-cert-dir", default="", help="directory with tls.crt and tls.key")
    p.add_argument(
        "--enable-windows-prefix-delegation",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
    )
    p.add_argument("--cooldown-seconds", type=float, default=30.0)
    p.add_argument(
        "--retry-scale",
        type=float,
        default=1.0,
        help="multiplies the pod retry intervals 20s / 600ms / 2m",
    )
    p.add_argument(
        "--leader-elect", type=_bool, nargs="?", const=True, default=True, metavar="BOOL"
    )
    p.add_argument("--leader-election-namespace", default="kube-system")
    p.add_argument("--leader-election-id", default="cp-vpc-resource-controller")
    p.add_argument("--identity", default=f"{socket.gethostname()}-{os.getpid()}")
    # The real controller's defaults (its --leader-lease-*-seconds flags): 30 s / 15 s / 5 s.
    p.add_argument(
        "--lease-duration",
        "--leader-lease-duration-seconds",
        dest="lease_duration",
        type=float,
        default=30.0,
        help="leader lease duration in seconds (default 30)",
    )
    p.add_argument(
        "--renew-deadline",
        "--leader-lease-renew-deadline-seconds",
        dest="renew_deadline",
        type=float,
        default=15.0,
        help="leader renew deadline in seconds (default 15)",
    )
    p.add_argument(
        "--retry-period",
        "--leader-lease-retry-period-seconds",
        dest="retry_period",
        type=float,
        default=5.0,
        help="leader election retry period in seconds (default 5)",
    )
    p.add_argument("--resync-period-seconds", type=float, default=1800.0)
    p.add_argument("--apiserver-qps", type=float, default=20.0)
    p.add_argument("--apiserver-burst", type=int, default=30)
    p.add_argument("--ec2-qps", type=float, default=12.0)
    p.add_argument("--ec2-burst", type=int, default=18)
    p.add_argument("--pod-workers", type=int, default=8)
    p.add_argument(
        "--controller-username", default="system:serviceaccount:kube-system:vpc-resource-controller"
    )
    p.add_argument("--log-level", default="INFO")
    return p


class Runtime:
    """Everything the process runs: informers, the IPAM controller, servers."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        from controller.ec2 import EC2Api
        from controller.kube import EventRecorder, Informer, KubeApi

        self.args = args
        self.components = {c.strip() for c in args.components.split(",") if c.strip()}
        unknown = self.components - {"controller", "webhook"}
        if unknown:
            raise SystemExit(
                f"--components: unknown {sorted(unknown)}; expected controller and/or webhook"
            )
        self.api_client: kclient.ApiClient = kconfig.new_client_from_config(
            config_file=args.kubeconfig
        )
        self.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 32
        self.kube = KubeApi(self.api_client, qps=args.apiserver_qps, burst=args.apiserver_burst)
        self.metrics: Any = None
        self.registry: Any = None
        try:
            from prometheus_client import CollectorRegistry

            from controller import metrics as metrics_mod

            self.registry = CollectorRegistry()
            self.metrics = metrics_mod.ControllerMetrics(self.registry)
            self._metrics_mod: Any = metrics_mod
        except ImportError:
            self._metrics_mod = None
        self.leading = threading.Event()
        self.stopped = threading.Event()
        self.controller: IPAMController | None = None
        self.informers: list[Informer] = []
        self.cm_data: dict[str, str] | None = None
        if "controller" in self.components:
            observer = _MetricsObserver(self.metrics)
            self.ec2 = EC2Api(
                args.ec2_endpoint,
                args.region,
                qps=args.ec2_qps,
                burst=args.ec2_burst,
                observer=observer.ec2_call,
            )
            self.events = EventRecorder(self.kube, host=args.identity)
            core = self.kube.core
            self.node_inf = Informer("nodes", self.kube, core.list_node, self._on_node)
            self.pod_inf = Informer(
                "pods",
                self.kube,
                core.list_pod_for_all_namespaces,
                self._on_pod,
                transform=trim_pod,
            )
            self.cm_inf = Informer(
                "configmap",
                self.kube,
                core.list_namespaced_config_map,
                self._on_cm,
                list_kwargs={
                    "namespace": cfgmod.CONFIGMAP_NAMESPACE,
                    "field_selector": f"metadata.name={cfgmod.CONFIGMAP_NAME}",
                },
            )
            self.informers = [self.cm_inf, self.pod_inf, self.node_inf]
            self._pods_by_node: dict[str, set[str]] = {}
            self._pbn_lock = threading.Lock()
            self.controller = IPAMController(
                self.kube,
                self.ec2,
                self.events,
                Settings(
                    cool_down_seconds=args.cooldown_seconds,
                    retry_scale=args.retry_scale,
                    pd_feature_flag=args.enable_windows_prefix_delegation,
                    pod_workers=args.pod_workers,
                ),
                node_lookup=lambda n: self.node_inf.store.get(n),
                pod_lookup=lambda k: self.pod_inf.store.get(k),
                pods_on_node=self._pods_on_node,
                observer=observer,
            )

    # ------------------------------------------------------------ informer callbacks
    def _on_cm(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        data = None if kind == "DELETED" else (obj.get("data") or {})
        self.cm_data = data
        if self.metrics is not None:
            self.metrics.windows_ipam_enabled.set(int(cfgmod.is_windows_ipam_enabled(data)))
            self.metrics.windows_prefix_delegation_enabled.set(
                int(
                    cfgmod.is_windows_pd_enabled(
                        data, feature_flag=self.args.enable_windows_prefix_delegation
                    )
                )
            )
        if self.controller is not None and self.leading.is_set():
            self.controller.set_config(data)

    def _on_node(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if self.controller is not None and self.leading.is_set():
            self.controller.on_node_event(kind, obj, old)

    def _on_pod(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        md = obj["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        node = obj["spec"].get("nodeName")
        with self._pbn_lock:
            if old is not None and old["spec"].get("nodeName") not in (None, "", node):
                self._pods_by_node.get(old["spec"]["nodeName"], set()).discard(key)
            if node:
                if kind == "DELETED":
                    self._pods_by_node.get(node, set()).discard(key)
                else:
                    self._pods_by_node.setdefault(node, set()).add(key)
        if self.controller is not None and self.leading.is_set():
            self.controller.on_pod_event(kind, obj, old)

    def _pods_on_node(self, node: str) -> list[dict[str, Any]]:
        with self._pbn_lock:
            keys = list(self._pods_by_node.get(node, ()))
        return [p for k in keys if (p := self.pod_inf.store.get(k)) is not None]

    # ------------------------------------------------------------ lifecycle
    def start_leading(self) -> None:
        """Became leader: sync caches, then process every object."""
        ctl = self.controller
        if ctl is None:
            return
        for inf in self.informers:
            inf.synced.wait()
        ctl.set_config(self.cm_data)
        self.leading.set()
        if self.metrics is not None:
            self.metrics.leader.labels(name=self.args.leader_election_id).set(1)
        ctl.set_config(self.cm_data)
        for name in list(self.node_inf.store):
            ctl.node_queue.add(name)
        for pod in list(self.pod_inf.store.values()):
            ctl.on_pod_event("ADDED", pod, None)
        logging.getLogger(__name__).info("started leading")

    def stop_leading(self) -> None:
        """Lost the lease: stop, like the real binary (it exits)."""
        logging.getLogger(__name__).error("leader election lost; exiting")
        if self.metrics is not None:
            self.metrics.leader.labels(name=self.args.leader_election_id).set(0)
        self.stopped.set()

    def ready(self) -> bool:
        """Ready once caches are synced (and the webhook, if any, is up)."""
        return all(inf.synced.is_set() for inf in self.informers)


class _MetricsObserver(Observer):
    """Feeds controller.metrics.ControllerMetrics (None: metrics off)."""

    def __init__(self, metrics: Any) -> None:
        self.m = metrics

    def ec2_call(self, action: str, seconds: float, code: str | None) -> None:
        if self.m is not None:
            self.m.observe_ec2_call(action, seconds, code)

    def allocation(self, seconds: float, hit: bool) -> None:
        if self.m is not None:
            self.m.allocation_latency.observe(seconds)

    def pool_changed(self, node: str, mode: str, pool: Any) -> None:
        if self.m is None:
            return
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


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    # --log-level is for this program's loggers; libraries (botocore, urllib3) stay at INFO.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("controller", "__main__"):
        logging.getLogger(name).setLevel(args.log_level.upper())
    rt = Runtime(args)
    if "controller" in rt.components and not args.ec2_endpoint:
        raise SystemExit("--ec2-endpoint is required when the controller component runs")

    stop = threading.Event()

    def _signal(_s: int, _f: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)

    health: Any = None
    webhook: Any = None
    if rt._metrics_mod is not None:
        health = rt._metrics_mod.serve_health(
            args.metrics_port, registry=rt.registry, ready=rt.ready
        )
        print(f"listening on http://127.0.0.1:{health.port}", flush=True)
    else:
        print("listening on http://127.0.0.1:0", flush=True)
    if "webhook" in rt.components:
        from controller.webhook.server import WebhookServer

        webhook = WebhookServer(
            args.webhook_cert_dir,
            args.webhook_port,
            ipam_enabled=lambda: cfgmod.is_windows_ipam_enabled(rt.cm_data),
            controller_username=args.controller_username,
            registry=rt.registry,
        )
        webhook.start()
        print(f"webhook on https://127.0.0.1:{webhook.port}", flush=True)
        if "controller" not in rt.components:
            # The webhook needs the ConfigMap to know whether IPAM is on.
            from controller.kube import Informer

            cm = Informer(
                "configmap",
                rt.kube,
                rt.kube.core.list_namespaced_config_map,
                lambda k, o, _old: setattr(
                    rt, "cm_data", None if k == "DELETED" else (o.get("data") or {})
                ),
                list_kwargs={
                    "namespace": cfgmod.CONFIGMAP_NAMESPACE,
                    "field_selector": f"metadata.name={cfgmod.CONFIGMAP_NAME}",
                },
            )
            rt.informers.append(cm)
            cm.start()

    elector: Any = None
    if rt.controller is not None:
        for inf in rt.informers:
            inf.start()
        if args.leader_elect:
            from controller.leader import LeaderElector

            elector = LeaderElector(
                rt.api_client,
                namespace=args.leader_election_namespace,
                name=args.leader_election_id,
                identity=args.identity,
                lease_duration_s=args.lease_duration,
                renew_deadline_s=args.renew_deadline,
                retry_period_s=args.retry_period,
                on_started_leading=lambda: threading.Thread(
                    target=rt.start_leading, daemon=True
                ).start(),
                on_stopped_leading=rt.stop_leading,
            )
            threading.Thread(target=elector.run, name="leader", daemon=True).start()
        else:
            threading.Thread(target=rt.start_leading, daemon=True).start()

    while not stop.is_set() and not rt.stopped.is_set():
        stop.wait(0.5)

    def _cleanup() -> None:
        if elector is not None:
            elector.stop()
        for inf in rt.informers:
            inf.stop()
        if rt.controller is not None:
            rt.controller.stop()
            rt.events.stop()
        if webhook is not None:
            webhook.stop()
        if health is not None:
            health.shutdown()

    # Bounded shutdown: a worker blocked in a network call must not delay exit.
    cleaner = threading.Thread(target=_cleanup, daemon=True)
    cleaner.start()
    cleaner.join(timeout=3.0)
    sys.stdout.flush()
    sys.stderr.flush()
    code = 1 if rt.stopped.is_set() and not stop.is_set() else 0
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
