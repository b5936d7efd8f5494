"""A running environment as the scenario runner drives it: the step kinds' effects,
events gathered from every source, and component stop/start/restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.components import Component
from harness.env import Environment
from harness.pipeline import Pipeline
from harness.scenario import objects, workload
from harness.scenario.watch import list_and_watch
from harness.scenario.workload import NAMESPACE
from harness.spec import Fragment, NodeGroup, Reservation, Subnet
from harness.supervision import COMPONENTS

CONFIGMAP = ("kube-system", "amazon-vpc-cni")
START_TIMEOUT_S = 60.0


class StepError(RuntimeError):
    """A step could not be carried out (the message says which and why)."""


@dataclass(frozen=True)
class Event:
    """One event of the report's merged event log."""

    t: float
    source: str
    reason: str
    message: str
    node: str | None = None
    object: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report's event shape."""
        d: dict[str, Any] = {
            "t": round(self.t, 3),
            "source": self.source,
            "reason": self.reason,
            "message": self.message,
        }
        if self.node:
            d["node"] = self.node
        if self.object:
            d["object"] = self.object
        return d


class EventLog:
    """Kubernetes Events (one watch), EC2 error answers (fake_ec2's request log) and
    the runner's own component events, on one clock starting at the scenario's start."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.t0 = time.time()
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._seen: set[str] = set()
        self._ec2_seq = 0
        self.ec2_calls: Counter[str] = Counter()  # EC2 requests by action since the start
        self._skip_startup_requests()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="scenario-events", daemon=True)
        self._thread.start()

    def add(self, source: str, reason: str, message: str, **kw: Any) -> None:
        """Record an event now."""
        with self._lock:
            self._events.append(Event(time.time() - self.t0, source, reason, message, **kw))

    def _watch(self) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.live.api)
        list_and_watch(
            core.list_event_for_all_namespaces, lambda _t, ev: self._kube_event(ev), self._stop
        )

    def _kube_event(self, ev: Any) -> None:
        uid = ev.metadata.uid
        count = ev.count or 1
        key = f"{uid}/{count}"
        if key in self._seen:
            return
        self._seen.add(key)
        stamp = ev.last_timestamp or ev.event_time or ev.first_timestamp
        t = stamp.timestamp() - self.t0 if stamp else time.time() - self.t0
        if t < -1.0:
            return  # before the scenario started (environment start-up)
        obj = ev.involved_object
        node = obj.name if obj.kind == "Node" else (ev.source.host if ev.source else None)
        source = (ev.source.component if ev.source else "") or (
            ev.reporting_component or "kubernetes"
        )
        with self._lock:
            self._events.append(
                Event(t, source, ev.reason or "", ev.message or "", node, f"{obj.kind}/{obj.name}")
            )

    def _skip_startup_requests(self) -> None:
        pipe = self.live.pipeline
        if pipe is None:
            return
        with contextlib.suppress(Exception):
            last = pipe.admin().requests(since=0, limit=1)
            self._ec2_seq = int(last[-1]["seq"]) if last else 0

    def poll_ec2(self) -> None:
        """Add the EC2 error answers logged since the last poll (source ec2)."""
        pipe = self.live.pipeline
        if pipe is None:
            return
        try:
            rows = pipe.admin().requests(since=self._ec2_seq)
        except Exception:
            return
        for r in rows:
            self._ec2_seq = max(self._ec2_seq, int(r["seq"]))
            self.ec2_calls[r["action"]] += 1
            if r["code"] != "OK":
                with self._lock:
                    self._events.append(
                        Event(
                            float(r["time"]) - self.t0,
                            "ec2",
                            r["code"],
                            f"{r['action']} answered {r['status']} {r['code']}",
                        )
                    )

    def events(self) -> list[Event]:
        """Every event so far, in time order."""
        self.poll_ec2()
        with self._lock:
            return sorted(self._events, key=lambda e: e.t)

    def close(self) -> None:
        """Stop the watch."""
        self._stop.set()
        self._thread.join(timeout=10)


def put_configmap(core: Any, data: Mapping[str, str] | None) -> None:
    """Make kube-system/amazon-vpc-cni hold `data` (create or replace), or (None) delete it;
    an absent ConfigMap is no error, any other API error is."""
    from kubernetes.client.rest import ApiException

    ns, name = CONFIGMAP
    if data is None:
        try:
            core.delete_namespaced_config_map(name, ns)
        except ApiException as e:
            if e.status != 404:
                raise
        return
    body = {"metadata": {"name": name, "namespace": ns}, "data": dict(data)}
    try:
        core.replace_namespaced_config_map(name, ns, body)
    except ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map(ns, body)


def _delete_newest(
    groups: dict[str, list[str]], args: Mapping[str, Any], delete: Callable[[str, str], Any]
) -> int:
    """Delete the newest `count` objects (default all) of group `name`; return how many."""
    from kubernetes.client.rest import ApiException

    names = groups.get(args["name"], [])
    count = min(int(args.get("count", len(names))), len(names))
    victims = names[len(names) - count :]
    groups[args["name"]] = names[: len(names) - count]
    for name in reversed(victims):
        with contextlib.suppress(ApiException):  # already gone
            delete(name, NAMESPACE)
    return len(victims)


class Live:
    """The scenario runner's handle on a started environment."""

    def __init__(self, env: Environment, base_dir: Path | None = None) -> None:
        """`base_dir`: where `apply: {file: ...}` paths are relative to (the scenario
        file's folder; default the current directory)."""
        from kubernetes import client

        self.env = env
        self.base_dir = base_dir or Path.cwd()
        self.api = env.cluster.api
        self.core = client.CoreV1Api(self.api)
        self.next_index: dict[str, int] = {}
        self.pods: dict[str, list[str]] = {}  # group -> pod names, oldest first
        self.services: dict[str, list[str]] = {}
        self.log = EventLog(self)
        self._listener = lambda reason, message: self.log.add("supervisor", reason, message)
        if env.supervision is not None:  # the supervisor's deaths and restarts
            env.supervision.listeners.append(self._listener)

    def _held(self) -> contextlib.AbstractContextManager[Any]:
        """The supervision lock: a requested stop or start is never taken for a crash."""
        sv = self.env.supervision
        return sv.lock if sv is not None else contextlib.nullcontext()

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline (None for a bare control plane)."""
        return self.env.pipeline

    def need_pipeline(self, what: str) -> Pipeline:
        """The pipeline, or a StepError naming the step that needs it."""
        if self.env.pipeline is None:
            raise StepError(f"{what}: the environment has no nodes and no ConfigMap")
        return self.env.pipeline

    # -- workloads ------------------------------------------------------------------
    def create_pods(self, args: Mapping[str, Any]) -> str:
        """create_pods: `count` pods of group `name` (pods <name>-<i>)."""
        group = args.get("name", "app")
        names = []
        for _ in range(int(args.get("count", 1))):
            i = self.next_index.get(group, 0)
            self.next_index[group] = i + 1
            body = workload.pod(
                group,
                i,
                node=args.get("node", ""),
                os=args.get("os", "windows"),
                host_network=bool(args.get("host_network", False)),
            )
            self.core.create_namespaced_pod(NAMESPACE, body)
            names.append(body["metadata"]["name"])
        self.pods.setdefault(group, []).extend(names)
        return f"created {len(names)} pod(s) {names[0]}..{names[-1]}"

    def delete_pods(self, args: Mapping[str, Any]) -> str:
        """delete_pods: the newest `count` pods of group `name` (default: all), or one
        pod by name (`object`)."""
        if "object" in args:
            return objects.delete_object(self.api, "Pod", args)
        gone = _delete_newest(self.pods, args, self.core.delete_namespaced_pod)
        return f"deleted {gone} pod(s)"

    def create_services(self, args: Mapping[str, Any]) -> str:
        """create_services: `count` Services of group `name`."""
        group = args.get("name", "svc")
        names = []
        for _ in range(int(args.get("count", 1))):
            i = self.next_index.get(f"svc:{group}", 0)
            self.next_index[f"svc:{group}"] = i + 1
            body = workload.service(
                group,
                i,
                type=args.get("type", "ClusterIP"),
                ports=int(args.get("ports", 1)),
                selector=args.get("selector", ""),
            )
            self.core.create_namespaced_service(NAMESPACE, body)
            names.append(body["metadata"]["name"])
        self.services.setdefault(group, []).extend(names)
        return f"created {len(names)} Service(s)"

    def delete_services(self, args: Mapping[str, Any]) -> str:
        """delete_services: the newest `count` Services of group `name`, or one by name."""
        if "object" in args:
            return objects.delete_object(self.api, "Service", args)
        gone = _delete_newest(self.services, args, self.core.delete_namespaced_service)
        return f"deleted {gone} Service(s)"

    def scenario_pods(self) -> list[Any]:
        """Every pod of the workload namespace (V1Pod objects): the steps' groups and the
        pods of applied manifests (the harness runs none of its own there)."""
        return list(self.core.list_namespaced_pod(NAMESPACE).items)

    def apply(self, args: Mapping[str, Any]) -> str:
        """apply: server-side apply of every object of a manifest (inline or a file)."""
        return objects.apply_step(self.api, args, self.base_dir)

    def scale(self, args: Mapping[str, Any]) -> str:
        """scale: set a Deployment's replicas (its scale subresource)."""
        return objects.scale(self.api, args)

    def delete_deployments(self, args: Mapping[str, Any]) -> str:
        """delete_deployments: one Deployment by name (its pods go with it)."""
        return objects.delete_object(self.api, "Deployment", args)

    # -- the ConfigMap ----------------------------------------------------------------
    def configmap(self) -> dict[str, str] | None:
        """The amazon-vpc-cni data now (None when absent)."""
        from kubernetes.client.rest import ApiException

        try:
            cm = self.core.read_namespaced_config_map(CONFIGMAP[1], CONFIGMAP[0])
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return dict(cm.data or {})

    def write_configmap(self, data: Mapping[str, str] | None) -> str:
        """Create, replace or (None) delete the ConfigMap."""
        put_configmap(self.core, data)
        if data is None:
            return "ConfigMap deleted"
        return "ConfigMap now " + json.dumps(dict(data), sort_keys=True)

    # -- EC2 and HNS --------------------------------------------------------------------
    def subnet_id(self, name: str) -> str:
        """The EC2 id of subnet `name`."""
        return self.need_pipeline("subnet").subnet_ids[name]

    def add_subnet(self, args: Mapping[str, Any]) -> str:
        """add_subnet: a subnet entry of the spec, created in the running VPC."""
        pipe = self.need_pipeline("add_subnet")
        frag = args.get("fragment")
        subnet = Subnet(
            name=args["name"],
            cidr=args["cidr"],
            az=args.get("az", "us-west-2a"),
            reservations=tuple(
                Reservation(r["cidr"], r.get("type", "prefix"))
                for r in args.get("reservations") or []
            ),
            fragment=Fragment(frag["every"], frag.get("offset", 0)) if frag else None,
        )
        sid = pipe.add_subnet(subnet, lambda m: None)
        return f"subnet {subnet.name} {subnet.cidr} is {sid}"

    def reserve_cidr(self, args: Mapping[str, Any]) -> str:
        """reserve_cidr: an EC2 subnet CIDR reservation."""
        from harness.nodes.ec2 import ec2_client
        from harness.spec import REGION

        pipe = self.need_pipeline("reserve_cidr")
        out = ec2_client(pipe.ec2_url, REGION).create_subnet_cidr_reservation(
            SubnetId=self.subnet_id(args["subnet"]),
            Cidr=args["cidr"],
            ReservationType=args.get("type", "prefix"),
        )
        return f"reservation {out['SubnetCidrReservation']['SubnetCidrReservationId']}"

    def fragment(self, args: Mapping[str, Any]) -> str:
        """fragment: occupy one address per block of a subnet (or a range), or undo."""
        admin = self.need_pipeline("fragment").admin()
        sid = self.subnet_id(args["subnet"])
        if args.get("undo"):
            return f"freed {admin.unfragment(sid, args.get('cidr'))['freed']} address(es)"
        out = admin.fragment(
            sid, int(args.get("every", 16)), int(args.get("offset", 0)), args.get("cidr")
        )
        return f"occupied {out['occupied']} address(es)"

    def faults(self, args: Mapping[str, Any]) -> str:
        """faults: EC2 (throttling, latency, errors, fragmentation) and HNS faults;
        an empty mapping clears that component's faults."""
        done = []
        if "ec2" in args:
            admin = self.need_pipeline("faults").admin()
            ec2 = dict(args["ec2"] or {})
            if "fragment" in ec2:
                done.append(self.fragment(ec2.pop("fragment")))
            if not ec2:
                if not args["ec2"]:
                    admin.clear_faults()
                    done.append("EC2 faults cleared")
            else:
                actions: dict[str, Any] = {}
                star: dict[str, Any] = {}
                if "throttle_rate" in ec2:
                    star["throttle_rate"] = ec2["throttle_rate"]
                if "latency_ms" in ec2:
                    star["latency_ms"] = ec2["latency_ms"]
                if star:
                    actions["*"] = star
                for action, err in (ec2.get("errors") or {}).items():
                    spec = {"code": err["code"], "times": int(err.get("count", 1))}
                    if "message" in err:
                        spec["message"] = err["message"]
                    actions.setdefault(action, {})["error"] = spec
                admin.set_faults({"actions": actions})
                done.append("EC2 faults " + json.dumps(actions, sort_keys=True))
        if "hns" in args:
            from fake_hns.client import HnsClient

            pipe = self.need_pipeline("faults")
            hns = args["hns"] or {}
            if not hns:
                for node in pipe.nodes:
                    with HnsClient(pipe.hns_target, host=node["name"]) as c:
                        c.clear_faults()
                done.append("HNS faults cleared")
            else:
                code = hns["hresult"]
                hresult = int(code, 16) if isinstance(code, str) else int(code)
                with HnsClient(pipe.hns_target, host=hns["node"]) as c:
                    c.inject_fault(hns["method"], hresult, int(hns.get("count", 1)))
                done.append(f"HNS {hns['node']}: {hns['method']} fails with 0x{hresult:08x}")
        return "; ".join(done) or "no faults changed"

    def hns_ports(self, args: Mapping[str, Any]) -> str:
        """hns_ports: reconfigure the port-pool model of one node's HNS (or every node's)."""
        from fake_hns.client import HnsClient
        from harness.hns import host_fields

        pipe = self.need_pipeline("hns_ports")
        fields = host_fields({k: v for k, v in args.items() if k != "node"})
        targets = [args["node"]] if "node" in args else [n["name"] for n in pipe.nodes]
        for node in targets:
            with HnsClient(pipe.hns_target, host=node) as c:
                build = c.get_host().windows_build
                c.create_host(build, replace=True, **fields)
        return f"HNS port pool of {', '.join(targets)} reconfigured"

    # -- nodes and components ---------------------------------------------------------
    def add_nodes(self, args: Mapping[str, Any]) -> str:
        """add_nodes: a node group joining the running cluster (its own node agent)."""
        pipe = self.need_pipeline("add_nodes")
        names = pipe.add_nodes(NodeGroup.from_dict(args), lambda m: None)
        self.env.supervise_added()
        return f"nodes {', '.join(names)} joined"

    def remove_nodes(self, args: Mapping[str, Any]) -> str:
        """remove_nodes: a node, or every running node of a node group, leaves as when its
        EC2 instance is terminated (Pipeline.remove_nodes); its pods are left to the
        pod garbage collector, as in a cluster."""
        from harness.nodes.removal import POD_GC_QUARANTINE_S

        pipe = self.need_pipeline("remove_nodes")
        names = pipe.node_names_of(str(args["name"]))
        if not names:
            running = ", ".join(n["name"] for n in pipe.nodes) or "none"
            raise StepError(
                f"remove_nodes: name {args['name']!r} is no running node or node group "
                f"(running: {running})"
            )
        with self._held():  # an agent stopped here is no crash
            out = pipe.remove_nodes(names, lambda m: None)
            self.env.unsupervise(out.agents_stopped)
            self.env.write_state()
        self.log.add("scenario", "NodesRemoved", f"instances of {', '.join(out.names)} terminated")
        parts = [f"nodes {', '.join(out.names)} removed ({', '.join(out.instance_ids)} terminated)"]
        if out.pods_left_to_gc:
            parts.append(
                f"{len(out.pods_left_to_gc)} pod(s) left to the pod garbage collector "
                f"(deleted {POD_GC_QUARANTINE_S:g} s or more after their Node)"
            )
        if out.pods_deleted:
            parts.append(f"{out.pods_deleted} pod(s) deleted (no pod garbage collector runs)")
        if out.hns_unreachable:
            parts.append(f"HNS not reachable for {', '.join(out.hns_unreachable)}")
        return "; ".join(parts)

    def set_dsr(self, enabled: bool) -> str:
        """set_dsr: kube-proxy --enable-dsr on every node (kube-proxy restarts)."""
        with self._held():  # the agents restart on request, not as crashes
            self.need_pipeline("set_dsr").set_dsr(bool(enabled))
        self.log.add("supervisor", "Restarted", f"node agents restarted with DSR {enabled}")
        return f"kube-proxy DSR {'on' if enabled else 'off'}"

    def _components(self, name: str) -> list[Component]:
        if name in ("kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager"):
            return [self.env.cluster.components[name]]
        pipe = self.need_pipeline(name)
        if name == "controller":
            return list(pipe.controllers[:1])
        if name == "fake_hns":
            return [pipe.hns]
        if name == "node-agent":
            return list(pipe.agents)
        raise StepError(f"unknown component {name!r}; expected one of {', '.join(COMPONENTS)}")

    def stop(self, name: str) -> str:
        """stop: the component's processes end (an outage)."""
        comps = self._components(name)
        with self._held():
            if self.env.supervision is not None:
                self.env.supervision.stop_begins(comps)
            for c in comps:
                c.stop()
        self.log.add("supervisor", "Stopped", f"{name} stopped by the scenario")
        return f"{name} stopped"

    def start(self, name: str) -> str:
        """start: the component runs again (same ports where clients must find it)."""
        pipe = self.env.pipeline
        with self._held():
            if name == "controller" and pipe is not None:
                pipe.restart_controller(0)
            elif name == "fake_hns" and pipe is not None:
                pipe.restart_hns()
            elif name == "node-agent" and pipe is not None:
                pipe.restart_agents()
            else:
                for c in self._components(name):
                    c.restart(START_TIMEOUT_S)
            self.env.write_state()  # a started controller has new URLs
        self.log.add("supervisor", "Started", f"{name} started by the scenario")
        return f"{name} started"

    def leader(self) -> Component:
        """The controller replica holding the leader Lease now (its identity is
        `<hostname>-<pid>`, the controller's default)."""
        from kubernetes import client

        from controller import deploy

        pipe = self.need_pipeline("leader")
        lease = client.CoordinationV1Api(self.api).read_namespaced_lease(
            deploy.LEASE_NAME, deploy.NAMESPACE
        )
        holder = (lease.spec.holder_identity or "") if lease.spec else ""
        for c in pipe.controllers:
            pid = c.process.pid if c.process is not None else None
            if pid is not None and holder.endswith(f"-{pid}"):
                return c
        raise StepError(f"no running controller replica holds the Lease (holder {holder!r})")

    def kill(self, args: str | Mapping[str, Any]) -> str:
        """kill: a signal (default SIGKILL) to the component's processes, or with
        `leader: true` to the controller replica that leads. Not a requested stop: the
        supervisor sees a crash and restarts it with back-off."""
        spec = {"component": args} if isinstance(args, str) else dict(args)
        name = str(spec["component"])
        sig = signal.Signals[str(spec.get("signal", "SIGKILL"))]
        if spec.get("leader"):
            targets = [self.leader()]
        elif name == "controller":
            targets = list(self.need_pipeline(name).controllers)
        else:
            targets = self._components(name)
        hit = []
        for c in targets:
            proc = c.process
            if proc is None or proc.pid is None or not proc.alive():
                continue
            with contextlib.suppress(ProcessLookupError):  # it died on its own meanwhile
                os.kill(proc.pid, sig)
                hit.append(f"{c.name} (pid {proc.pid})")
        if not hit:
            raise StepError(f"kill {name}: no running process to signal")
        self.log.add("scenario", "Killed", f"{sig.name} sent to {', '.join(hit)}")
        return f"{sig.name} sent to {', '.join(hit)}"

    def restart(self, name: str) -> str:
        """restart: stop, then start."""
        self.stop(name)
        self.start(name)
        return f"{name} restarted"

    def close(self) -> None:
        """Stop the event watch."""
        sv = self.env.supervision
        if sv is not None and self._listener in sv.listeners:
            sv.listeners.remove(self._listener)
        self.log.close()
