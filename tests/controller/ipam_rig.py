"""The Windows IPAM in-process and deterministic, driven by scenario steps.

`IpamRig` runs the controller's own `IPAMController` (node manager, pools, providers,
ENI ledger, allocator) on a `SteppedScheduler`: virtual time, no threads, so a run is a
function of its steps alone. EC2 is `FakeEC2` (fake_ec2's address rules and moto's
instance types, in-process); the API server is `StepKube`, whose changes reach the
controller as the runner's informers would deliver them (`ControllerRunner._on_*`),
through a queue of their own. A stand-in for the webhook and kube-scheduler decides
which pods request an IP and binds them to their pinned node while it advertises room.

Each operation is named after a scenario step kind (SCENARIOS.md) and records that step,
so the steps of a run are a scenario file that repeats it on a real environment.
`state()` is the `harness.invariants.ClusterState` of the moment.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Hashable, Mapping
from typing import Any, cast

from controller import config as cfgmod
from controller.allocator import trim_pod
from controller.kube import EventRecorder
from controller.manager import IPAMController
from controller.nodes import Settings
from controller.workqueue import SteppedScheduler, WorkQueue
from harness import invariants as inv
from harness.spec import EnvSpec
from harness.spec.load import build

from .fakes import FakeEC2  # type: ignore[import-not-found]

RES = cfgmod.RESOURCE_NAME_IP
Obj = dict[str, Any]
# The `fast` timing profile (harness.spec.timing), which the written scenarios run with.
COOLDOWN_S = 2.0
RETRY_SCALE = 0.05
RESYNC_S = 60.0
# Virtual time each step settles for: a resync period (a node whose init failed waits
# for it, or for a kubelet status update, as upstream), two cool-downs and two of the
# longest pod retry (InsufficientCidrBlocks, 120 s scaled).
SETTLE_S = RESYNC_S + 2 * COOLDOWN_S + 2 * 120 * RETRY_SCALE + 1


class _Events:
    """EventRecorder stand-in: Events kept in order, synchronously."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, str]] = []

    def event(self, ref: Obj, event_type: str, reason: str, message: str) -> None:
        self.recorded.append((str(ref.get("kind")), str(ref.get("name")), reason, message))

    def stop(self) -> None:
        pass


class StepKube:
    """The objects the IPAM reads and writes; every change is queued as a watch event.

    Implements what `IPAMController` calls of `controller.kube.KubeClient` (it never
    lists or watches: the rig delivers the events).
    """

    def __init__(self) -> None:
        self.nodes: dict[str, Obj] = {}
        self.pods: dict[str, Obj] = {}  # namespace/name -> full pod
        self.configmap: Obj | None = None
        self.events: list[tuple[str, str, Obj, Obj | None]] = []  # not yet delivered
        self._rv = itertools.count(1)

    def _emit(self, resource: str, kind: str, obj: Obj, old: Obj | None) -> None:
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.events.append((resource, kind, copy.deepcopy(obj), old))

    # ------------------------------------------------------------ KubeClient (IPAM side)
    def get_pod(self, namespace: str, name: str) -> Obj | None:
        pod = self.pods.get(f"{namespace}/{name}")
        return copy.deepcopy(pod) if pod is not None else None

    def annotate_pod(self, namespace: str, name: str, uid: str, key: str, value: str) -> None:
        from kubernetes.client.rest import ApiException

        pod = self.pods.get(f"{namespace}/{name}")
        if pod is None:
            raise ApiException(status=404, reason="Not Found")
        if pod["metadata"]["uid"] != uid:
            raise ApiException(status=409, reason="Conflict")
        old = copy.deepcopy(pod)
        pod["metadata"].setdefault("annotations", {})[key] = value
        self._emit("pods", "MODIFIED", pod, old)

    def patch_node_capacity(self, node: str, resource: str, value: int) -> None:
        from kubernetes.client.rest import ApiException

        obj = self.nodes.get(node)
        if obj is None:
            raise ApiException(status=404, reason="Not Found")
        old = copy.deepcopy(obj)
        obj.setdefault("status", {}).setdefault("capacity", {})[resource] = str(value)
        self._emit("nodes", "MODIFIED", obj, old)

    # ------------------------------------------------------------ the cluster side
    def set_configmap(self, data: Mapping[str, str] | None) -> None:
        """Create, replace (data) or delete (None) kube-system/amazon-vpc-cni."""
        old = self.configmap
        if data is None:
            if old is not None:
                self.configmap = None
                self._emit("configmaps", "DELETED", old, None)
            return
        uid = old["metadata"]["uid"] if old else str(uuid.uuid4())
        obj = {
            "metadata": {"name": cfgmod.CONFIGMAP_NAME, "namespace": "kube-system", "uid": uid},
            "data": dict(data),
        }
        self.configmap = obj
        self._emit("configmaps", "MODIFIED" if old else "ADDED", obj, old)

    def add_node(self, name: str, instance_id: str) -> None:
        """A Windows Node whose providerID names `instance_id`."""
        obj: Obj = {
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "labels": {"kubernetes.io/os": "windows"},
            },
            "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
            "status": {},
        }
        self.nodes[name] = obj
        self._emit("nodes", "ADDED", obj, None)

    def add_pod(self, name: str, pinned: str, *, wants_ip: bool) -> None:
        """An unbound pod pinned to `pinned`, requesting the IP resource when `wants_ip`."""
        res = {"limits": {RES: "1"}, "requests": {RES: "1"}} if wants_ip else {}
        obj: Obj = {
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": str(uuid.uuid4()),
                "annotations": {},
            },
            "spec": {"nodeName": "", "containers": [{"name": "c", "resources": res}]},
            "status": {"phase": "Pending"},
            "pinned": pinned,
        }
        self.pods[f"default/{name}"] = obj
        self._emit("pods", "ADDED", obj, None)

    def bind(self, key: str) -> None:
        """The scheduler binds the pod to its pinned node."""
        pod = self.pods[key]
        old = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = pod["pinned"]
        self._emit("pods", "MODIFIED", pod, old)

    def delete_pod(self, key: str) -> None:
        """Delete at once (the kubelet's stop is not modelled)."""
        pod = self.pods.pop(key)
        self._emit("pods", "DELETED", pod, None)


def wants_ip(pod: Obj) -> bool:
    """The pod requests vpc.amazonaws.com/PrivateIPv4Address."""
    return bool(trim_pod(pod)["wantsIP"])


class IpamRig:
    """One environment spec's nodes under the in-process IPAM; operations are steps."""

    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = copy.deepcopy(dict(env))
        self.spec: EnvSpec = build(self.env)
        self.steps: list[dict[str, Any]] = []
        self.kube = StepKube()
        self.ec2 = FakeEC2()
        self.t0 = 0.0  # virtual time of the controllers before the current one
        self._subnets: dict[str, str] = {}
        for s in self.spec.vpc.subnets:
            self._subnets[s.name] = self.ec2.add_subnet(s.cidr)
        self.instances: dict[str, tuple[str, str]] = {}  # node -> (instance id, ENI id)
        self.kube.set_configmap(self.spec.configmap)
        for group in self.spec.nodes:
            subnet = self._subnets[group.subnet or self.spec.vpc.subnets[0].name]
            for name in group.node_names():
                iid, eni = self.ec2.run_instance(group.instance_type, subnet)
                self.instances[name] = (iid, eni)
                self.kube.add_node(name, iid)
        self.groups: dict[str, list[str]] = {}  # pod group -> pod keys, oldest first
        self._next_index: dict[str, int] = {}
        self.sched: SteppedScheduler
        self.ctl: IPAMController
        self._start()
        self.settle()

    # ------------------------------------------------------------ the controller
    def _start(self) -> None:
        """A controller process starting: informers synced, then every object ADDED."""
        self.running = True
        self.sched = SteppedScheduler()
        self._deliveries = WorkQueue("informers", self._deliver, workers=1, timers=self.sched)
        self._seq = itertools.count()
        self._pending: dict[int, tuple[str, str, Obj, Obj | None]] = {}
        self.events = _Events()
        sched = self.sched
        self.ctl = IPAMController(
            cast(Any, self.kube),
            self.ec2,
            cast(EventRecorder, self.events),
            Settings(
                cool_down_seconds=COOLDOWN_S,
                retry_scale=RETRY_SCALE,
                resync_period_seconds=RESYNC_S,
                clock=sched.now,
            ),
            node_lookup=lambda n: copy.deepcopy(self.kube.nodes.get(n)),
            pod_lookup=self._pod_lookup,
            pods_on_node=self._pods_on_node,
            timers=sched,
        )
        self.kube.events.clear()  # a fresh process lists instead
        cm = self.kube.configmap
        self.ctl.set_config(cm["data"] if cm else None, cm)
        for node in list(self.kube.nodes.values()):
            self.ctl.on_node_event("ADDED", copy.deepcopy(node), None)
        for pod in list(self.kube.pods.values()):
            self.ctl.on_pod_event("ADDED", trim_pod(pod), None)

    def _pod_lookup(self, key: str) -> Obj | None:
        pod = self.kube.pods.get(key)
        return trim_pod(pod) if pod is not None else None

    def _pods_on_node(self, node: str) -> list[Obj]:
        return [trim_pod(p) for p in self.kube.pods.values() if p["spec"]["nodeName"] == node]

    def _deliver(self, key: Hashable) -> None:
        resource, kind, obj, old = self._pending.pop(int(cast(int, key)))
        if resource == "configmaps":
            self.ctl.set_config(None if kind == "DELETED" else obj.get("data") or {}, obj)
        elif resource == "nodes":
            self.ctl.on_node_event(kind, obj, old)
        else:
            self.ctl.on_pod_event(kind, trim_pod(obj), trim_pod(old) if old else None)

    def _pump(self) -> bool:
        """Hand the API server's new events to the informer queue; True when there were some."""
        if not self.kube.events:
            return False
        for ev in self.kube.events:
            seq = next(self._seq)
            self._pending[seq] = ev
            self._deliveries.add(seq)
        self.kube.events.clear()
        return True

    def now(self) -> float:
        """Virtual seconds since the rig started (across controller restarts)."""
        return self.t0 + self.sched.now()

    # ------------------------------------------------------------ settling
    def _schedule(self) -> bool:
        """kube-scheduler: bind pending pods while their node advertises room for them."""
        bound = False
        for key, pod in list(self.kube.pods.items()):
            if pod["spec"]["nodeName"]:
                continue
            node = self.kube.nodes.get(pod["pinned"])
            if node is None:
                continue
            if wants_ip(pod):
                cap = int((node.get("status", {}).get("capacity") or {}).get(RES, 0))
                taken = sum(
                    1
                    for p in self.kube.pods.values()
                    if p["spec"]["nodeName"] == pod["pinned"] and wants_ip(p)
                )
                if taken >= cap:
                    continue
            self.kube.bind(key)
            bound = True
        return bound

    def run(self) -> None:
        """Everything due now: events, queues, binds, until nothing moves."""
        while True:
            moved = self._pump()
            moved = self.sched.run() > 0 or moved
            moved = self._schedule() or moved
            if not moved and not self.kube.events:
                return

    def settle(self, seconds: float = SETTLE_S) -> None:
        """Run until idle, then let `seconds` of virtual time pass the same way."""
        if not self.running:
            self.run()
            return
        self.run()
        target = self.sched.now() + seconds
        while True:
            due = self.sched.next_due()
            if due is None or due > target:
                break
            self.sched.advance(max(due - self.sched.now(), 0.0))
            self.run()
        self.sched.advance(max(target - self.sched.now(), 0.0))
        self.run()

    # ------------------------------------------------------------ steps
    def step(self, kind: str, args: Any) -> None:
        """Record a scenario step (already carried out)."""
        self.steps.append({kind: copy.deepcopy(args)})

    def create_pods(self, name: str, node: str, count: int) -> None:
        """create_pods {count, name, node}: pods <name>-<i>, pinned to `node`."""
        ipam = cfgmod.is_windows_ipam_enabled(
            self.kube.configmap["data"] if self.kube.configmap else None
        )
        for _ in range(count):
            i = self._next_index.get(name, 0)
            self._next_index[name] = i + 1
            self.kube.add_pod(f"{name}-{i}", node, wants_ip=ipam)
            self.groups.setdefault(name, []).append(f"default/{name}-{i}")
        self.step("create_pods", {"count": count, "name": name, "node": node})
        self.settle()

    def delete_pods(self, name: str, count: int) -> None:
        """delete_pods {name, count}: the group's newest pods first."""
        keys = self.groups.get(name, [])
        for key in reversed(keys[-count:] if count else []):
            self.kube.delete_pod(key)
        del keys[len(keys) - min(count, len(keys)) :]
        self.step("delete_pods", {"name": name, "count": count})
        self.settle()

    def replace_configmap(self, data: Mapping[str, str]) -> None:
        """replace_configmap {...}: the ConfigMap's data becomes `data`."""
        self.kube.set_configmap(data)
        self.step("replace_configmap", dict(data))
        self.settle()

    def restart_controller(self) -> None:
        """restart: controller — a new process rebuilds its state from EC2 and the pods."""
        self._stop_controller()
        self._start()
        self.step("restart", "controller")
        self.settle()

    def stop_controller(self) -> None:
        """stop: controller — nothing handles the cluster's changes until `start`."""
        self._stop_controller()
        self.step("stop", "controller")
        self.settle()

    def start_controller(self) -> None:
        """start: controller — as after a restart."""
        self._start()
        self.step("start", "controller")
        self.settle()

    def _stop_controller(self) -> None:
        self.t0 += self.sched.now()
        self.ctl.stop()
        self.running = False

    def ec2_errors(self, action: str, code: str, count: int) -> None:
        """faults {ec2: {errors: {Action: {code, count}}}}: the next `count` calls fail."""
        self.ec2.clear_faults()
        self.ec2.fail(action, code, times=count)
        self.step("faults", {"ec2": {"errors": {action: {"code": code, "count": count}}}})
        self.settle()

    def clear_faults(self) -> None:
        """faults {ec2: {}}: no more injected errors."""
        self.ec2.clear_faults()
        self.step("faults", {"ec2": {}})
        self.settle()

    # ------------------------------------------------------------ what the invariants read
    def state(self) -> inv.ClusterState:
        """The harness invariants' view: nodes, their ENIs, pods (an annotated, bound pod
        runs with its annotated IP, as the CNI gives it) and the ConfigMap."""
        nodes = []
        enis = []
        for group in self.spec.nodes:
            lim = self.ec2.catalog.limits(group.instance_type)
            for name in group.node_names():
                iid, eni_id = self.instances[name]
                h = self.ec2.rules.eni(eni_id)
                assert h is not None
                eni = inv.Eni(
                    eni_id, h.subnet_id, h.primary, tuple(h.secondaries), tuple(h.prefixes)
                )
                enis.append(eni)
                cap = (self.kube.nodes[name].get("status", {}).get("capacity") or {}).get(RES)
                nodes.append(
                    inv.NodeState(
                        name,
                        iid,
                        group.instance_type,
                        lim.ipv4_per_interface,
                        lim.nitro,
                        eni,
                        int(cap) if cap is not None else None,
                    )
                )
        pods = []
        for pod in self.kube.pods.values():
            md = pod["metadata"]
            ann = md.get("annotations", {}).get(RES)
            node = pod["spec"]["nodeName"] or None
            ip = inv.annotation_ip(ann)
            running = node is not None and ip is not None
            pods.append(
                inv.PodState(
                    "default",
                    md["name"],
                    node,
                    "Running" if running else "Pending",
                    str(ip) if running else None,
                    ann,
                )
            )
        subnets = tuple(
            inv.Subnet(sid, next(s.cidr for s in self.spec.vpc.subnets if s.name == name))
            for name, sid in self._subnets.items()
        )
        cm = self.kube.configmap
        return inv.ClusterState(
            nodes=tuple(nodes),
            pods=tuple(pods),
            subnets=subnets,
            enis=tuple(enis),
            configmap=dict(cm["data"]) if cm else None,
        )

    def subnet_free(self, node: str) -> tuple[int, int]:
        """(addresses, /28 prefixes) the node's subnet could still give."""
        _, eni_id = self.instances[node]
        h = self.ec2.rules.eni(eni_id)
        assert h is not None
        alloc = self.ec2.rules.known_subnet(h.subnet_id)
        assert alloc is not None
        return alloc.free_counts()

    def pool_problems(self) -> list[inv.Violation]:
        """`pool-matches-ec2` (in-process only): once settled, each managed node's pools
        know exactly what its ENIs hold (nothing leaked, nothing invented), and every pod
        the pools count as using an IP still exists."""
        out: list[inv.Violation] = []
        live_uids = {p["metadata"]["uid"] for p in self.kube.pods.values()}
        for st in self.ctl.nodes.managed():
            _, eni_id = self.instances[st.name]
            h = self.ec2.rules.eni(eni_id)
            assert h is not None
            mask = st.subnet_cidr.split("/")[1]
            held = {f"{ip}/{mask}" for ip in h.secondaries} | set(h.prefixes)
            known: dict[str, str] = {}
            for mode, prov in st.providers.items():
                pool = prov.pool
                groups = {r.group_id for r in pool.used.values()}
                groups |= {g for g, rs in pool.warm.items() if rs}
                groups |= {r.group_id for r, _ in pool.cool_down}
                for g in groups:
                    if g in known:
                        out.append(
                            inv.Violation(
                                "pool-matches-ec2",
                                st.name,
                                f"{g} in both the {known[g]} and {mode} pools",
                            )
                        )
                    known[g] = str(mode)
                for uid in pool.used:
                    if uid not in live_uids:
                        out.append(
                            inv.Violation(
                                "pool-matches-ec2",
                                st.name,
                                f"{mode} pool counts deleted pod {uid} as a user",
                            )
                        )
            leaked = sorted(held - set(known))
            invented = sorted(set(known) - held)
            if leaked:
                out.append(
                    inv.Violation(
                        "pool-matches-ec2",
                        st.name,
                        f"EC2 holds {', '.join(leaked)} but no pool knows it",
                    )
                )
            if invented:
                out.append(
                    inv.Violation(
                        "pool-matches-ec2",
                        st.name,
                        f"pools hold {', '.join(invented)}, EC2 does not",
                    )
                )
        return out

    def stop(self) -> None:
        """Stop the controller's queues."""
        self.ctl.stop()
