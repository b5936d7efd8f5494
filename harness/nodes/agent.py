"""The node agent: one process drives many emulated EKS Windows nodes.

Per node: the EC2 instance (launched here unless the config already names it), HNS
host in fake_hns, Node registration with the node's own client certificate, a Lease
renewed every ``lease_renew_s``, a kubelet emulation and a winkernel kube-proxy.

Shared across nodes (what scales): one cluster-wide watch each for pods (bound pods
only, dispatched by ``spec.nodeName``), nodes, services and endpoints, made with one
identity (``watch_kubeconfig``, default the first node's; the Node authorizer lets a
node list/watch these); one lease loop; one kube-proxy sync loop; a bounded worker
pool for blocking API/HNS calls; a semaphore for CNI calls. Writes go out with each
node's own identity, so the Node authorizer and NodeRestriction apply to them.

Prints ``ready N nodes`` on stdout once every node is registered and the watches have
synced; logs go to stderr. On SIGHUP it reads its config again: a node no longer in it
is a host that went away (its EC2 instance terminated), driven no further — no Lease,
no status, no kubelet, no kube-proxy, and nothing torn down, as nothing is left to tear
down — and the agent prints ``nodes removed N`` (N counting the reloads).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from harness.kube.api import ApiError
from harness.kube.informer import Informer, obj_key
from harness.kube.rest import RestClient
from harness.kubeproxy.desired import desired_lbs, endpoints_from_slices
from harness.kubeproxy.flags import KubeProxyConfig
from harness.kubeproxy.proxier import Proxier
from harness.nodes import profiles
from harness.nodes.cnirunner import AnnotationBoard, CniRunner, build_netconf, choose_socket_path
from harness.nodes.config import AgentConfig, NodeEntry
from harness.nodes.kubelet import Kubelet, now_rfc3339
from harness.nodes.podstatus import event_body
from harness.nodes.spec import (
    InstanceInfo,
    NodeSpec,
    allocatable_patch,
    build_node,
    node_conditions,
)

LB_FAILURES_SHOWN = 5  # load-balancer failure messages in the status file
log = logging.getLogger("ekswin.nodes.agent")

LEASE_NS = "kube-node-lease"
ENDPOINT_SLICES_PATH = "/apis/discovery.k8s.io/v1/endpointslices"
HNS_CHECK_S = 1.0  # how often the agent asks whether HNS still knows each node


def _forget(busy: dict[str, Any], name: str, _task: Any) -> None:
    busy.pop(name, None)


def micro_now() -> str:
    """MicroTime (leases)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class NodeRuntime:
    """Everything the agent holds for one node."""

    spec: NodeSpec
    instance: InstanceInfo
    kubeconfig: str
    client: RestClient
    hns: Any
    netconf: dict[str, Any]  # the vpc-bridge netconf the kubelet passes to every CNI call
    kubelet: Kubelet | None = None
    proxier: Proxier | None = None
    node_uid: str = ""
    lb_events: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    # HNS objects found at start-up (endpoint id -> (name, ip, namespace); namespace ids),
    # before this agent made any: what a garbage collection may remove.
    found_endpoints: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    found_namespaces: set[str] = field(default_factory=set)
    hns_recoveries: int = 0
    reporting: bool = False  # a node status write is on its way
    collected: dict[str, int] = field(default_factory=lambda: {"endpoints": 0, "namespaces": 0})


class Agent:
    """Drives the configured nodes until stopped."""

    def __init__(self, config: AgentConfig) -> None:
        self.cfg = config
        self.profile = profiles.load(config.timing_profile)
        self.kp = KubeProxyConfig.from_dict(config.kube_proxy)
        self.kp.validate()
        self.rng = random.Random(config.seed)
        self.executor = ThreadPoolExecutor(
            max_workers=config.api_workers, thread_name_prefix="agent-io"
        )
        self.nodes: dict[str, NodeRuntime] = {}
        self.informers: list[Informer] = []
        self.services: Informer | None = None
        self.endpoints: Informer | None = None  # Endpoints, or EndpointSlices where served
        self.endpoint_slices = False
        self.kp_dirty = asyncio.Event()
        self.stopping = asyncio.Event()
        self.cni: CniRunner | None = None
        self.pods_informer: Informer | None = None
        self.annotations = AnnotationBoard(self._cached_pod)
        self.kp_client: RestClient | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.listen_url = ""  # printed as `listening on URL` once every node is registered
        self.hns_channel: Any = None
        self.reloads = 0  # SIGHUP config reloads done (acknowledged as `nodes removed N`)

    async def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """Run a blocking call (REST, gRPC) in the bounded worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kw))

    # -- start-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Launch instances, HNS hosts, register nodes, start watches and loops."""
        from harness.cni.netconf import network_name
        from harness.hns import NodeHns

        self.cni = CniRunner(self.cfg.cni, self.annotations)
        agent_socket = ""
        if self.cfg.cni.mode == "exec":
            agent_socket = choose_socket_path(self.cfg.cni, self.cfg.status_file)
            await self.cni.start_server(agent_socket)
            log.info("CNI mode exec: ekswin-cni hands calls to %s", agent_socket)
            self.listen_url = f"unix://{agent_socket}"
        else:
            self.listen_url = f"file://{self.cfg.status_file}"
            log.info("CNI mode %s", self.cfg.cni.mode)
        entries = list(self.cfg.nodes)
        missing = [e for e in entries if e.instance is None]
        if missing:
            from harness.nodes.ec2 import register_instances

            launched = await self.call(
                register_instances,
                [e.spec for e in missing],
                self.cfg.ec2_endpoint,
                self.cfg.region,
            )
            by_name = {s.name: (s, i) for s, i in launched}
            entries = [
                NodeEntry(by_name[e.spec.name][0], e.kubeconfig, by_name[e.spec.name][1])
                if e.instance is None
                else e
                for e in entries
            ]

        import grpc

        from fake_hns.client import OPTIONS

        # One channel (one HTTP/2 connection) for every node's HNS: a thousand nodes
        # would otherwise hold a thousand connections to fake_hns.
        self.hns_channel = grpc.insecure_channel(self.cfg.hns_target, options=OPTIONS)

        async def prepare(entry: NodeEntry) -> NodeRuntime:
            assert entry.instance is not None
            # As many kept-alive connections as calls can be in flight (api_workers): a
            # smaller pool discards connections under a burst of pods and re-handshakes.
            client = await self.call(RestClient, entry.kubeconfig, self.cfg.api_workers)
            hns = NodeHns(self.cfg.hns_target, entry.spec.name, channel=self.hns_channel)
            await self.call(hns.ensure_host, entry.spec.windows_build, self.cfg.hns_host)
            netconf = build_netconf(
                self.cfg.cni,
                entry.spec,
                entry.instance,
                entry.kubeconfig,
                self.cfg.hns_target,
                agent_socket,
            )
            # Node bootstrap creates the L2Bridge network (kube-proxy needs it before any
            # pod exists); the CNI plugin finds it by name.
            await self.call(
                hns.find_or_create_network,
                network_name(netconf["name"], netconf["eniMACAddress"]),
                entry.instance.subnet_cidr,
                netconf["gatewayIPAddress"],
            )
            rt = NodeRuntime(entry.spec, entry.instance, entry.kubeconfig, client, hns, netconf)
            await self._snapshot_hns(rt)
            await self._register(rt)
            # Renewed from now on: a thousand registrations take longer than a Lease lasts.
            self.nodes[rt.spec.name] = rt
            return rt

        self.tasks.append(asyncio.get_running_loop().create_task(self._lease_loop(), name="leases"))
        for rt in await asyncio.gather(*(prepare(e) for e in entries)):
            rt.kubelet = Kubelet(
                node_name=rt.spec.name,
                host_ip=rt.instance.private_ip,
                client=rt.client,
                hns=rt.hns,
                netconf=rt.netconf,
                cni=self.cni,
                profile=self.profile,
                rng=random.Random(self.rng.random()),
                call=self.call,
            )
            rt.kubelet.on_sandbox_recreated = self.kp_dirty.set  # kube-proxy adds it back
            if self.cfg.kube_proxy_enabled:
                rt.proxier = Proxier(rt.spec.name, rt.hns, rt.instance.private_ip)

        watch_cfg = self.cfg.watch_kubeconfig or entries[0].kubeconfig
        watcher = await self.call(RestClient, watch_cfg, 8)
        loop = asyncio.get_running_loop()
        self.pods_informer = Informer(
            watcher,
            "/api/v1/pods",
            loop,
            self._on_pod,
            {"fieldSelector": "spec.nodeName!="},
            "pods",
        ).start()
        self.informers.append(self.pods_informer)
        self.informers.append(
            Informer(watcher, "/api/v1/nodes", loop, self._on_node, name="nodes").start()
        )
        if self.cfg.kube_proxy_enabled:
            kp_rest = await self.call(RestClient, self.cfg.kube_proxy_kubeconfig, 8)
            self.kp_client = kp_rest
            self.services = Informer(
                kp_rest, "/api/v1/services", loop, self._on_kp_change, name="services"
            ).start()
            self.endpoint_slices = await self.call(_serves_endpoint_slices, kp_rest)
            path = ENDPOINT_SLICES_PATH if self.endpoint_slices else "/api/v1/endpoints"
            self.endpoints = Informer(
                kp_rest, path, loop, self._on_kp_change, name="endpoints"
            ).start()
            self.informers += [self.services, self.endpoints]
        for inf in self.informers:
            await self.call(inf.synced.wait, 60)
            if not inf.synced.is_set():
                raise RuntimeError(f"watch {inf.name} did not sync within 60 s")
        self.tasks += [
            loop.create_task(self._status_loop(), name="node-status"),
            loop.create_task(self._hns_loop(), name="hns-watch"),
            loop.create_task(self._collect_orphans(), name="hns-gc"),
        ]
        if self.cfg.kube_proxy_enabled:
            self.tasks.append(loop.create_task(self._kube_proxy_loop(), name="kube-proxy"))
        if self.cfg.status_file:
            self.tasks.append(loop.create_task(self._status_file_loop(), name="status-file"))

    async def _register(self, rt: NodeRuntime) -> None:
        """Create the Node (or reconcile it after a restart) and its Lease."""
        now = now_rfc3339()
        body = build_node(rt.spec, rt.instance, now)
        try:
            created = await self.call(rt.client.post, "/api/v1/nodes", body)
            rt.node_uid = created["metadata"]["uid"]
        except ApiError as e:
            if e.status != 409:
                raise
            existing = await self.call(rt.client.get, f"/api/v1/nodes/{rt.spec.name}")
            rt.node_uid = existing["metadata"]["uid"]
            await self.call(
                rt.client.patch,
                f"/api/v1/nodes/{rt.spec.name}",
                {"metadata": {"labels": body["metadata"]["labels"]}},
            )
        # Status on create may be dropped by older servers; patch it explicitly. Capacity
        # is merged key by key, so extended resources the controller set survive.
        status = dict(body["status"])
        await self.call(rt.client.patch, f"/api/v1/nodes/{rt.spec.name}/status", {"status": status})
        await self._ensure_lease(rt)

    async def _ensure_lease(self, rt: NodeRuntime) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": rt.spec.name,
                "namespace": LEASE_NS,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": rt.spec.name, "uid": rt.node_uid}
                ],
            },
            "spec": {
                "holderIdentity": rt.spec.name,
                "leaseDurationSeconds": self.profile.lease_duration_s,
                "renewTime": micro_now(),
            },
        }
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases"
        try:
            await self.call(rt.client.post, path, lease)
        except ApiError as e:
            if e.status != 409:
                raise
            await self._renew(rt)

    async def _renew(self, rt: NodeRuntime) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases/{rt.spec.name}"
        await self.call(
            rt.client.patch,
            path,
            {"spec": {"holderIdentity": rt.spec.name, "renewTime": micro_now()}},
            strategic=False,
        )

    # -- HNS: orphans after a restart of the agent, recovery after a restart of HNS ------
    async def _snapshot_hns(self, rt: NodeRuntime) -> None:
        """Record the node's pod endpoints and namespaces before this agent makes any."""
        eps = await self.call(rt.hns.list_endpoints)
        rt.found_endpoints = {e.id: (e.name, e.ip, e.namespace) for e in eps if not e.remote}
        rt.found_namespaces = set(await self.call(rt.hns.list_namespaces))

    async def _collect_orphans(self) -> None:
        """The kubelet's start-up garbage collection: a sandbox (endpoint, namespace) left
        by the previous agent whose pod no longer runs here is stopped (CNI DEL) and its
        namespace removed. Pods come from the synced pod watch."""
        assert self.cni is not None and self.pods_informer is not None
        for rt in self.nodes.values():
            live_ips = {
                str((p.get("status") or {}).get("podIP"))
                for p in self.pods_informer.cache.values()
                if (p.get("spec") or {}).get("nodeName") == rt.spec.name
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                and (p.get("status") or {}).get("podIP")
            }
            kept_ns: set[str] = set()
            for ep_id, (name, ip, ns) in rt.found_endpoints.items():
                if ip in live_ips:
                    kept_ns.add(ns)
                    continue
                outcome = await self.cni.call(
                    "DEL", rt.netconf, container_id=name.removeprefix("cid-"), netns=ns,
                    namespace="", pod_name="",
                )  # fmt: skip
                if not outcome.ok:  # the plugin could not: remove the endpoint itself
                    with contextlib.suppress(Exception):
                        await self.call(rt.hns.delete_endpoint, ep_id)
                rt.collected["endpoints"] += 1
                log.info("node %s: removed orphan endpoint %s (%s)", rt.spec.name, name, ip)
            for ns in rt.found_namespaces - kept_ns:
                with contextlib.suppress(Exception):
                    if await self.call(rt.hns.delete_namespace, ns):
                        rt.collected["namespaces"] += 1
            rt.found_endpoints, rt.found_namespaces = {}, set()

    async def _hns_loop(self) -> None:
        """Notice an HNS that restarted empty (the host is unknown) and recover like a
        Windows node: the node's host and L2Bridge network are registered again,
        kube-proxy re-creates every load balancer, and the kubelet re-creates the
        sandboxes of running pods (docs/nodes.md: recovery)."""
        from harness.cni.netconf import network_name
        from harness.hns import HnsFailure

        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), HNS_CHECK_S)
            if self.stopping.is_set():
                return
            if not self.nodes:
                continue
            try:  # one ListHosts per round, not one call per node
                known = await self.call(next(iter(self.nodes.values())).hns.known_hosts)
            except HnsFailure as e:  # HNS down: try again next round
                log.warning("HNS check: %s", e)
                continue
            for rt in self.nodes.values():
                if rt.spec.name in known:
                    continue
                try:
                    log.warning("node %s: HNS lost its state (restarted); recovering", rt.spec.name)
                    await self.call(rt.hns.ensure_host, rt.spec.windows_build, self.cfg.hns_host)
                    await self.call(
                        rt.hns.find_or_create_network,
                        network_name(rt.netconf["name"], rt.netconf["eniMACAddress"]),
                        rt.instance.subnet_cidr,
                        rt.netconf["gatewayIPAddress"],
                    )
                except HnsFailure as e:  # HNS not back yet: try again next round
                    log.warning("node %s: HNS check: %s", rt.spec.name, e)
                    continue
                rt.hns_recoveries += 1
                if rt.proxier is not None:
                    rt.proxier.forget_applied()
                    self.kp_dirty.set()
                if rt.kubelet is not None:
                    n = rt.kubelet.recreate_lost_sandboxes()
                    log.warning("node %s: re-creating %d pod sandbox(es)", rt.spec.name, n)

    # -- loops ------------------------------------------------------------------------------
    async def _staggered(self, period_s: float, action: Any) -> None:
        """Run `action(rt)` for every node once per `period_s`, spread evenly over the
        period in one-second slots, as a thousand separate kubelets would be: the API
        server sees a steady trickle instead of a burst per period. A slot does not wait
        for the previous one's calls (a slow API server must not stretch the period);
        a node whose previous call is still on its way is skipped this round."""
        slot = 0
        busy: dict[str, asyncio.Task[Any]] = {}
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = time.monotonic()
            slots = max(1, round(period_s))
            for rt in list(self.nodes.values())[slot % slots :: slots]:
                name = rt.spec.name
                if name in busy:
                    continue
                task = loop.create_task(action(rt))
                busy[name] = task
                task.add_done_callback(partial(_forget, busy, name))
            slot += 1
            wait = max(0.0, period_s / slots - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait)

    async def _lease_loop(self) -> None:
        """Renew every node's Lease each lease_renew_s (kubelet: 10 s)."""

        async def renew(rt: NodeRuntime) -> None:
            try:
                await self._renew(rt)
            except ApiError as e:
                if e.status == 404:
                    with contextlib.suppress(Exception):
                        await self._ensure_lease(rt)
                else:
                    log.warning("node %s: lease renew failed: %s", rt.spec.name, e)
            except Exception as e:
                log.warning("node %s: lease renew failed: %s", rt.spec.name, e)

        await self._staggered(self.profile.lease_renew_s, renew)

    async def _status_loop(self) -> None:
        """Re-post conditions every node_status_report_s (kubelet's
        nodeStatusReportFrequency, 5 min): the conditions never change here, so there is
        nothing to post in between (the kubelet posts at once only on a change)."""

        async def report(rt: NodeRuntime) -> None:
            if not rt.reporting:
                rt.reporting = True
                await self._report_status(rt)

        await self._staggered(self.profile.node_status_report_s, report)

    def _cached_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod watch's latest copy of a pod (any thread; dict reads are atomic)."""
        inf = self.pods_informer
        return inf.cache.get(f"{namespace}/{name}") if inf is not None else None

    def _on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        self.annotations.on_pod(etype, pod)
        node = (pod.get("spec") or {}).get("nodeName")
        rt = self.nodes.get(node or "")
        if rt is not None and rt.kubelet is not None:
            rt.kubelet.on_pod(etype, pod)

    def _on_node(self, etype: str, node: dict[str, Any]) -> None:
        rt = self.nodes.get((node.get("metadata") or {}).get("name", ""))
        if rt is None or etype == "DELETED":
            return
        patch = allocatable_patch(node)
        if patch:
            asyncio.get_running_loop().create_task(self._copy_allocatable(rt, patch))
        ready = next(
            (
                c.get("status")
                for c in (node.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready"
            ),
            None,
        )
        if ready != "True" and not rt.reporting and not self.stopping.is_set():
            # The node lifecycle controller marked it Unknown (a Lease renewed late): the
            # API's status differs from the kubelet's, so the kubelet posts it at once.
            rt.reporting = True
            asyncio.get_running_loop().create_task(self._report_status(rt))

    async def _report_status(self, rt: NodeRuntime) -> None:
        """Post the node's conditions now (once at a time per node)."""
        try:
            await self.call(
                rt.client.patch,
                f"/api/v1/nodes/{rt.spec.name}/status",
                {"status": {"conditions": node_conditions(now_rfc3339())}},
            )
        except Exception as e:
            log.warning("node %s: status update failed: %s", rt.spec.name, e)
        finally:
            rt.reporting = False

    async def _copy_allocatable(self, rt: NodeRuntime, patch: dict[str, Any]) -> None:
        try:
            await self.call(
                rt.client.patch,
                f"/api/v1/nodes/{rt.spec.name}/status",
                {"status": {"allocatable": patch}},
            )
        except ApiError as e:
            log.warning("node %s: allocatable update failed: %s", rt.spec.name, e)

    def _on_kp_change(self, etype: str, obj: dict[str, Any]) -> None:
        self.kp_dirty.set()

    async def _kube_proxy_loop(self) -> None:
        assert self.services is not None and self.endpoints is not None
        last = 0.0
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.kp_dirty.wait(), self.kp.sync_period_s)
            gap = self.kp.min_sync_period_s - (time.monotonic() - last)
            if gap > 0:
                await asyncio.sleep(gap)
            self.kp_dirty.clear()
            last = time.monotonic()
            services = list(self.services.cache.values())
            cached = list(self.endpoints.cache.values())
            eps = (
                endpoints_from_slices(cached)
                if self.endpoint_slices
                else {obj_key(e): e for e in cached}
            )
            desired, skipped = desired_lbs(services, eps, self.kp.enable_dsr)
            for s in skipped:
                log.debug("kube-proxy: %s", s.reason)
            proxiers = [rt for rt in self.nodes.values() if rt.proxier is not None]
            results = await asyncio.gather(
                *(
                    self.call(rt.proxier.sync, desired, rt.kubelet.pod_ips() if rt.kubelet else ())
                    for rt in proxiers
                    if rt.proxier
                ),
                return_exceptions=True,
            )
            for rt, res in zip(proxiers, results, strict=True):
                if isinstance(res, BaseException):
                    log.warning("node %s: kube-proxy sync failed: %r", rt.spec.name, res)
                    continue
                for failure in res.failures:
                    await self._lb_event(rt, failure.spec, failure.message)

    async def _lb_event(self, rt: NodeRuntime, spec: Any, message: str) -> None:
        """Warning Event on the Service (source kube-proxy, host = node); count bumps."""
        ns, name = spec.service.split("/", 1)
        key = (spec.service, spec.kind)
        client = self.kp_client or rt.client
        base = f"/api/v1/namespaces/{ns}/events"
        now = now_rfc3339()
        try:
            if key in rt.lb_events:
                ev, count = rt.lb_events[key]
                await self.call(
                    client.patch,
                    f"{base}/{ev}",
                    {"count": count + 1, "message": message, "lastTimestamp": now},
                )
                rt.lb_events[key] = (ev, count + 1)
                return
            ev = f"{name}.{self.rng.getrandbits(64):016x}"
            await self.call(
                client.post,
                base,
                event_body(
                    name=ev,
                    namespace=ns,
                    involved={"apiVersion": "v1", "kind": "Service", "namespace": ns, "name": name},
                    reason="PolicyCreationFailed",
                    message=message,
                    event_type="Warning",
                    component="kube-proxy",
                    host=rt.spec.name,
                    now=now,
                ),
            )
            rt.lb_events[key] = (ev, 1)
        except ApiError as e:
            log.warning("node %s: event not recorded: %s", rt.spec.name, e)

    async def _status_file_loop(self) -> None:
        path = Path(self.cfg.status_file)
        last = ""
        while not self.stopping.is_set():
            text = json.dumps(self.status(), indent=1)
            if text != last:  # an idle agent of a thousand nodes rewrites nothing
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text)
                tmp.replace(path)
                last = text
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 2.0)

    def status(self) -> dict[str, Any]:
        """A summary for reports (also written to ``status_file``)."""
        return {
            "nodes": {
                name: {
                    "instance_id": rt.instance.instance_id,
                    "pods": len(rt.kubelet.pods) if rt.kubelet else 0,
                    "load_balancers": len(rt.proxier.applied) if rt.proxier else 0,
                    "lb_failures": rt.proxier.lb_failures_total if rt.proxier else 0,
                    "lb_failures_last_sync": len(rt.proxier.last_failures) if rt.proxier else 0,
                    # The messages too, so `ekswin why` and `status` can name them.
                    "lb_failures_recent": [
                        {"service": f.spec.service_port, "kind": f.spec.kind, "message": f.message}
                        for f in (
                            rt.proxier.last_failures[:LB_FAILURES_SHOWN] if rt.proxier else []
                        )
                    ],
                    "hns_recoveries": rt.hns_recoveries,
                    "sandboxes_lost": rt.kubelet.lost_sandboxes() if rt.kubelet else [],
                    "orphans_collected": dict(rt.collected),
                }
                for name, rt in self.nodes.items()
            },
            "cni_calls": self.cni.calls if self.cni else 0,
            "cni_mode": self.cfg.cni.mode,
            "cni": self.cni.status() if self.cni else {"mode": self.cfg.cni.mode},
        }

    # -- nodes whose hosts went away -------------------------------------------------------
    def remove_nodes(self, names: set[str]) -> list[str]:
        """Stop driving the nodes `names` (their hosts are gone): every loop skips them
        from now on and their kubelets' pod tasks are cancelled. No CNI DEL, no HNS call,
        no API write: a terminated instance tears nothing down. Returns those removed."""
        gone = []
        for name in sorted(names):
            rt = self.nodes.pop(name, None)
            if rt is None:
                continue
            if rt.kubelet is not None:
                rt.kubelet.stop()
            with contextlib.suppress(Exception):
                rt.hns.close()  # the shared channel stays open
            gone.append(name)
            log.info("node %s: its host went away; no longer driven", name)
        return gone

    def reload(self, path: Path) -> list[str]:
        """Read the config at `path` again and remove the nodes it no longer lists
        (nodes it adds start only with a new agent: add_nodes launches one)."""
        wanted = {e.spec.name for e in AgentConfig.read(path).nodes}
        gone = self.remove_nodes(set(self.nodes) - wanted)
        new = sorted(wanted - set(self.nodes) - set(gone))
        if new:
            log.warning("reload: nodes %s are new; they start with the next agent start", new)
        self.reloads += 1
        return gone

    # -- shutdown ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop loops and watches; nodes are left as they are (NotReady follows)."""
        self.stopping.set()
        for inf in self.informers:
            inf.stop()
        for rt in self.nodes.values():
            if rt.kubelet:
                rt.kubelet.stop()
        for t in self.tasks:
            t.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.cni is not None:
            await self.cni.close()
        for rt in self.nodes.values():
            with contextlib.suppress(Exception):
                rt.hns.close()
        if self.hns_channel is not None:
            with contextlib.suppress(Exception):
                self.hns_channel.close()


def _serves_endpoint_slices(rest: RestClient) -> bool:
    """Whether the API server serves discovery.k8s.io/v1 (1.21+): kube-proxy on Windows
    then reads EndpointSlices (WindowsEndpointSliceProxying, beta and on from 1.21);
    on 1.20 it reads Endpoints."""
    try:
        rest.get("/apis/discovery.k8s.io/v1")
    except ApiError as e:
        if e.status == 404:
            return False
        raise
    return True
