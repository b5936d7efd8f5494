"""In-memory test doubles of the controller's two seams, for the in-process runner tests.

- `FakeKube` implements `controller.kube.KubeClient`: nodes, pods and ConfigMaps with
  resourceVersions, LIST, WATCH from a resourceVersion (replayed from an event log, so
  nothing between a list and its watch is lost), merge-patch of one annotation with the
  uid precondition, node capacity, and Events.
- `FakeEC2` implements `controller.ec2.EC2Client` over fake_ec2's own rules
  (`fake_ec2.ipam.Ec2Rules`: per-ENI limits, /28 prefixes, exhaustion) and moto's
  instance-type data, with one-shot error injection and a call log.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from kubernetes.client.rest import ApiException

from controller.ec2 import EC2Error, ENIInfo, InstanceInfo
from controller.kube import Watched
from fake_ec2.exceptions import Ec2Error
from fake_ec2.ipam import Ec2Rules
from fake_ec2.limits import InstanceTypeCatalog

RES = "vpc.amazonaws.com/PrivateIPv4Address"
Obj = dict[str, Any]


class _Watch:
    """One open watch over FakeKube's event log."""

    def __init__(self, kube: FakeKube, what: Watched, rv: str, timeout_s: int) -> None:
        self._kube = kube
        self._what = what
        self._start = int(rv or 0)
        self._deadline = time.monotonic() + timeout_s
        self._closed = False

    def events(self) -> Iterator[Obj]:
        kube = self._kube
        with kube.cv:
            idx = next((i for i, e in enumerate(kube.log) if e[0] > self._start), len(kube.log))
        while True:
            with kube.cv:
                while idx >= len(kube.log) and not self._closed:
                    left = self._deadline - time.monotonic()
                    if left <= 0:
                        return
                    kube.cv.wait(left)
                if self._closed:
                    return
                batch = kube.log[idx:]
                idx = len(kube.log)
            for _, resource, kind, obj in batch:
                if resource == self._what.resource and kube.matches(self._what, obj):
                    yield {"type": kind, "object": copy.deepcopy(obj)}

    def close(self) -> None:
        with self._kube.cv:
            self._closed = True
            self._kube.cv.notify_all()


class FakeKube:
    """An API server's objects in memory (nodes, pods, ConfigMaps, Events)."""

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self._rv = itertools.count(1)
        self.objects: dict[str, dict[str, Obj]] = {
            "nodes": {},
            "pods": {},
            "configmaps": {},
            "deployments": {},
        }
        self.log: list[tuple[int, str, str, Obj]] = []
        self.events: list[Obj] = []
        self.annotate_calls = 0
        self.fail_annotations = 0  # the next N annotate calls get a 500

    # ------------------------------------------------------------------ store
    @staticmethod
    def key(obj: Obj) -> str:
        """namespace/name, or name for cluster-scoped objects."""
        md = obj["metadata"]
        return f"{md['namespace']}/{md['name']}" if md.get("namespace") else str(md["name"])

    @staticmethod
    def matches(what: Watched, obj: Obj) -> bool:
        """Whether `obj` is in the collection `what` (namespace, metadata.name selector)."""
        md = obj["metadata"]
        if what.namespace and md.get("namespace") != what.namespace:
            return False
        if what.field_selector:
            field, _, value = what.field_selector.partition("=")
            if field != "metadata.name":
                raise ValueError(f"field selector {what.field_selector!r}: only metadata.name")
            return bool(md.get("name") == value)
        return True

    def _put(self, resource: str, kind: str, obj: Obj) -> None:
        """Store (or drop) under the lock, stamp a resourceVersion, log the event."""
        with self.cv:
            rv = next(self._rv)
            obj["metadata"]["resourceVersion"] = str(rv)
            k = self.key(obj)
            if kind == "DELETED":
                self.objects[resource].pop(k, None)
            else:
                self.objects[resource][k] = obj
            self.log.append((rv, resource, kind, copy.deepcopy(obj)))
            self.cv.notify_all()

    def _get(self, resource: str, key: str) -> Obj | None:
        with self.cv:
            obj = self.objects[resource].get(key)
            return copy.deepcopy(obj) if obj is not None else None

    # ------------------------------------------------------------------ KubeClient
    def list_objects(self, what: Watched) -> Obj:
        with self.cv:
            items = [
                copy.deepcopy(o)
                for o in self.objects[what.resource].values()
                if self.matches(what, o)
            ]
            rv = str(self.log[-1][0]) if self.log else "0"
        return {"items": items, "metadata": {"resourceVersion": rv}}

    def watch_objects(self, what: Watched, resource_version: str, timeout_s: int) -> _Watch:
        return _Watch(self, what, resource_version, timeout_s)

    def get_pod(self, namespace: str, name: str) -> Obj | None:
        return self._get("pods", f"{namespace}/{name}")

    def annotate_pod(self, namespace: str, name: str, uid: str, key: str, value: str) -> None:
        with self.cv:
            self.annotate_calls += 1
            if self.fail_annotations > 0:
                self.fail_annotations -= 1
                raise ApiException(status=500, reason="Internal Server Error")
            pod = self._get("pods", f"{namespace}/{name}")
            if pod is None:
                raise ApiException(status=404, reason="Not Found")
            if pod["metadata"]["uid"] != uid:
                raise ApiException(status=409, reason="Conflict")
            pod["metadata"].setdefault("annotations", {})[key] = value
            self._put("pods", "MODIFIED", pod)

    def patch_node_capacity(self, node: str, resource: str, value: int) -> None:
        with self.cv:
            obj = self._get("nodes", node)
            if obj is None:
                raise ApiException(status=404, reason="Not Found")
            obj.setdefault("status", {}).setdefault("capacity", {})[resource] = str(value)
            self._put("nodes", "MODIFIED", obj)

    def create_event(self, namespace: str, body: Obj) -> Obj:
        with self.cv:
            self.events.append(copy.deepcopy(body))
            self.cv.notify_all()
        return body

    def patch_event_count(self, namespace: str, name: str, count: int) -> None:
        with self.cv:
            for ev in self.events:
                if ev["metadata"]["name"] == name and ev["metadata"]["namespace"] == namespace:
                    ev["count"] = count
                    return
        raise ApiException(status=404, reason="Not Found")

    # ------------------------------------------------------------------ test helpers
    def set_configmap(self, data: dict[str, str]) -> None:
        """Create or replace kube-system/amazon-vpc-cni."""
        with self.cv:
            old = self._get("configmaps", "kube-system/amazon-vpc-cni")
            obj = {
                "metadata": {
                    "name": "amazon-vpc-cni",
                    "namespace": "kube-system",
                    "uid": old["metadata"]["uid"] if old else str(uuid.uuid4()),
                },
                "data": dict(data),
            }
            self._put("configmaps", "MODIFIED" if old else "ADDED", obj)

    def set_deployment(self, namespace: str, name: str, *, present: bool) -> None:
        """Create (present) or delete an apps/v1 Deployment."""
        key = f"{namespace}/{name}"
        old = self._get("deployments", key)
        if present and old is None:
            md = {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())}
            self._put("deployments", "ADDED", {"metadata": md, "spec": {"replicas": 1}})
        elif not present and old is not None:
            self._put("deployments", "DELETED", old)

    def add_node(self, name: str, instance_id: str, *, os_label: str = "windows") -> None:
        """A Node whose providerID names `instance_id`."""
        obj = {
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "labels": {"kubernetes.io/os": os_label},
            },
            "spec": {"providerID": f"aws:///us-west-2a/{instance_id}"},
            "status": {},
        }
        self._put("nodes", "ADDED", obj)

    def delete_node(self, name: str) -> None:
        """Delete the Node (watchers see DELETED)."""
        obj = self._get("nodes", name)
        assert obj is not None, name
        self._put("nodes", "DELETED", obj)

    def add_pod(self, node: str, name: str | None = None, *, wants_ip: bool = True) -> str:
        """A pod bound to `node`, requesting one IP (limits and requests); its name."""
        name = name or f"p-{uuid.uuid4().hex[:8]}"
        res = {"limits": {RES: "1"}, "requests": {RES: "1"}} if wants_ip else {}
        obj = {
            "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": res}]},
            "status": {"phase": "Pending"},
        }
        self._put("pods", "ADDED", obj)
        return name

    def delete_pod(self, name: str) -> None:
        """Delete pod default/`name` at once (no grace period)."""
        obj = self._get("pods", f"default/{name}")
        assert obj is not None, name
        self._put("pods", "DELETED", obj)

    def annotation(self, pod: str) -> str | None:
        """The IP annotation of pod default/`pod`, if set."""
        obj = self._get("pods", f"default/{pod}")
        return (obj or {}).get("metadata", {}).get("annotations", {}).get(RES)

    def capacity(self, node: str) -> str | None:
        """The node's advertised vpc.amazonaws.com/PrivateIPv4Address capacity."""
        obj = self._get("nodes", node)
        return ((obj or {}).get("status", {}).get("capacity") or {}).get(RES)

    def events_about(self, kind: str, name: str, reason: str | None = None) -> list[Obj]:
        """Events recorded about kind/name (optionally of one reason)."""
        with self.cv:
            return [
                copy.deepcopy(e)
                for e in self.events
                if e["involvedObject"]["kind"] == kind
                and e["involvedObject"]["name"] == name
                and (reason is None or e["reason"] == reason)
            ]


class FakeEC2:
    """Instances, ENIs and subnets in memory, under fake_ec2's address rules."""

    def __init__(self) -> None:
        from moto.ec2.models.instance_types import INSTANCE_TYPES

        self.rules = Ec2Rules()
        self.catalog = InstanceTypeCatalog(INSTANCE_TYPES)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._subnets: dict[str, str] = {}
        self._instances: dict[str, tuple[str, str, list[str]]] = {}
        self._faults: dict[str, list[str]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    # ------------------------------------------------------------------ test helpers
    def add_subnet(self, cidr: str = "10.0.0.0/19") -> str:
        """A subnet of `cidr`; its id."""
        sid = f"subnet-{next(self._ids):08x}"
        self._subnets[sid] = cidr
        return sid

    def run_instance(self, itype: str, subnet_id: str) -> tuple[str, str]:
        """An instance of `itype` with its primary ENI: (instance id, ENI id)."""
        self.catalog.limits(itype)  # unknown types fail here
        n = next(self._ids)
        iid, eni = f"i-{n:017x}", f"eni-{n:017x}"
        self.rules.create_eni(eni, subnet_id, self._subnets[subnet_id], None)
        self._instances[iid] = (itype, subnet_id, [eni])
        return iid, eni

    def fail(self, action: str, code: str, times: int = 1) -> None:
        """The next `times` calls of `action` fail with `code`."""
        with self._lock:
            self._faults.setdefault(action, []).extend([code] * times)

    def clear_faults(self) -> None:
        """Drop every injected error not yet used."""
        with self._lock:
            self._faults.clear()

    def count(self, action: str) -> int:
        """How many times `action` was called."""
        with self._lock:
            return sum(1 for a, _ in self.calls if a == action)

    def _call(self, action: str, **params: Any) -> None:
        with self._lock:
            self.calls.append((action, params))
            queued = self._faults.get(action)
            code = queued.pop(0) if queued else None
        if code is not None:
            raise EC2Error(action, code, f"injected {code}")

    # ------------------------------------------------------------------ EC2Client
    def describe_instance(self, instance_id: str) -> InstanceInfo:
        self._call("DescribeInstances", InstanceIds=[instance_id])
        if instance_id not in self._instances:
            raise EC2Error(
                "DescribeInstances",
                "InvalidInstanceID.NotFound",
                f"The instance ID '{instance_id}' does not exist",
            )
        itype, subnet, enis = self._instances[instance_id]
        infos = []
        for idx, eni_id in enumerate(enis):
            h = self.rules.eni(eni_id)
            assert h is not None
            infos.append(ENIInfo(eni_id, idx, h.primary, list(h.secondaries), list(h.prefixes)))
        return InstanceInfo(instance_id, itype, subnet, infos[0].primary_ip, infos)

    def subnet_cidr(self, subnet_id: str) -> str:
        self._call("DescribeSubnets", SubnetIds=[subnet_id])
        return self._subnets[subnet_id]

    def _limits_of(self, eni_id: str) -> Any:
        for itype, _, enis in self._instances.values():
            if eni_id in enis:
                return self.catalog.limits(itype)
        raise EC2Error("AssignPrivateIpAddresses", "InvalidNetworkInterfaceID.NotFound", eni_id)

    def assign(self, eni_id: str, count: int, *, prefixes: bool) -> list[str]:
        action = "AssignPrivateIpAddresses"
        key = "Ipv4PrefixCount" if prefixes else "SecondaryPrivateIpAddressCount"
        self._call(action, NetworkInterfaceId=eni_id, **{key: count})
        try:
            if prefixes:
                _, made = self.rules.assign(eni_id, self._limits_of(eni_id), prefix_count=count)
            else:
                made, _ = self.rules.assign(eni_id, self._limits_of(eni_id), ip_count=count)
        except Ec2Error as exc:
            raise EC2Error(action, exc.code, exc.message) from exc
        return made

    def unassign(self, eni_id: str, resources: list[str], *, prefixes: bool) -> None:
        action = "UnassignPrivateIpAddresses"
        key = "Ipv4Prefixes" if prefixes else "PrivateIpAddresses"
        self._call(action, NetworkInterfaceId=eni_id, **{key: list(resources)})
        try:
            if prefixes:
                self.rules.unassign(eni_id, prefixes=resources)
            else:
                self.rules.unassign(eni_id, addresses=resources)
        except Ec2Error as exc:
            raise EC2Error(action, exc.code, exc.message) from exc

    def held(self, eni_id: str) -> tuple[list[str], list[str]]:
        """(secondary IPs, prefixes) the ENI holds now."""
        h = self.rules.eni(eni_id)
        assert h is not None
        return list(h.secondaries), list(h.prefixes)
