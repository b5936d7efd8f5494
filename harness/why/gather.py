"""Read the evidence `ekswin why` judges, from a running environment's real interfaces.

Each source is read through what a user could read too: the Kubernetes API (the pod,
its Events, its node), the supervisor's log (outages), the controller's introspection,
EC2 (DescribeNetworkInterfaces, DescribeInstanceTypes, fake_ec2's request log), the node
agents' status files (CNI call log, kube-proxy load-balancer failures) and HNS
(DumpState). A source that does not answer is recorded as such, never guessed.
The shapes are in :mod:`harness.why.rules`.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.why.rules import IP_RESOURCE

Json = dict[str, Any]
WINDOWS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")


class WhyError(RuntimeError):
    """The environment or the pod cannot be read (the message says which)."""


def _epoch(stamp: str | None) -> float | None:
    """RFC 3339 (Kubernetes' metav1.Time, whole seconds or micro) -> epoch seconds."""
    if not stamp:
        return None
    base = stamp.rstrip("Z").split(".")[0]
    try:
        return float(calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def pod_facts(pod: Mapping[str, Any]) -> Json:
    """The pod part of the evidence from a core/v1 Pod (JSON)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    selector = spec.get("nodeSelector") or {}
    containers = spec.get("containers") or [{}]
    res = containers[0].get("resources") or {}
    requests_ip = IP_RESOURCE in (res.get("limits") or {}) or IP_RESOURCE in (
        res.get("requests") or {}
    )
    waiting = None
    for cs in status.get("containerStatuses") or []:
        waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason") or waiting
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "node": spec.get("nodeName") or None,
        "phase": status.get("phase"),
        "created": _epoch(meta.get("creationTimestamp")),
        "deleting": meta.get("deletionTimestamp") is not None,
        "host_network": bool(spec.get("hostNetwork")),
        "windows": any(selector.get(k) == "windows" for k in WINDOWS_LABELS),
        "requests_ip": requests_ip,
        "annotation": (meta.get("annotations") or {}).get(IP_RESOURCE),
        "pod_ip": status.get("podIP"),
        "waiting_reason": waiting,
        "conditions": {
            c.get("type"): {k: c.get(k) for k in ("status", "reason", "message")}
            for c in status.get("conditions") or []
        },
    }


def event_facts(e: Mapping[str, Any]) -> Json:
    """One core/v1 Event as evidence (the scheduler writes events.k8s.io ones: same list)."""
    source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
    last = (
        e.get("lastTimestamp")
        or e.get("eventTime")
        or (e.get("metadata") or {}).get("creationTimestamp")
    )
    series = e.get("series") or {}
    return {
        "reason": e.get("reason"),
        "type": e.get("type"),
        "message": e.get("message"),
        "component": source,
        "count": int(e.get("count") or series.get("count") or 1),
        "last": _epoch(last),
    }


def agent_status(run_dir: Path) -> Json:
    """Merged view of every node agent's status file: per node, and the CNI failing log."""
    nodes: Json = {}
    failing: Json = {}
    for path in (run_dir / "components" / "nodes").glob("**/agent-status.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        nodes.update(data.get("nodes") or {})
        failing.update((data.get("cni") or {}).get("failing") or {})
    return {"nodes": nodes, "failing": failing}


def _get_json(url: str) -> Any:
    from harness.scenario.snapshot import get_json

    return get_json(url)


class Sources:
    """Connections to one running environment (open once, for many pods)."""

    def __init__(self, run_dir: Path) -> None:
        from kubernetes import client

        from harness.env import read_state
        from harness.identity import api_client

        self.run_dir = run_dir
        state = read_state(run_dir)
        if not state or not (run_dir / "kubeconfig").exists():
            raise WhyError(f"no running environment in {run_dir} (env.json or kubeconfig missing)")
        self.endpoints: dict[str, str] = dict(state.get("endpoints") or {})  # type: ignore[call-overload]
        self.spec: Json = dict(state.get("spec") or {})  # type: ignore[call-overload]
        self.api = api_client(run_dir / "kubeconfig")
        self.core = client.CoreV1Api(self.api)
        self._cache: dict[str, Any] = {}

    def close(self) -> None:
        """Close the Kubernetes client."""
        self.api.close()

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Kubernetes ----------------------------------------------------------------------
    def _raw(self, fn: Any, *args: Any, **kw: Any) -> Any:
        resp = fn(*args, _preload_content=False, **kw)
        return json.loads(resp.data)

    def pod(self, namespace: str, name: str) -> Json | None:
        """The pod (JSON), None when it does not exist."""
        from kubernetes.client.rest import ApiException

        try:
            return dict(self._raw(self.core.read_namespaced_pod, name, namespace))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def pods(self) -> list[Json]:
        """Every pod of the cluster (JSON)."""
        return list(self._raw(self.core.list_pod_for_all_namespaces).get("items") or [])

    def events(self, namespace: str, name: str, uid: str | None) -> list[Json]:
        """The pod's Events."""
        body = self._raw(
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}",
        )
        items = body.get("items") or []
        return [
            event_facts(e)
            for e in items
            if uid is None or (e.get("involvedObject") or {}).get("uid") in (uid, None, "")
        ]

    def node(self, name: str) -> Json:
        """Advertised capacity and readiness of a node."""
        key = f"node:{name}"
        if key not in self._cache:
            from kubernetes.client.rest import ApiException

            try:
                n = self._raw(self.core.read_node, name)
            except ApiException:
                n = {}
            status = n.get("status") or {}
            cap = (status.get("capacity") or {}).get(IP_RESOURCE)
            self._cache[key] = {
                "capacity": int(cap) if cap is not None else None,
                "ready": any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                ),
                "instance_type": (n.get("metadata") or {})
                .get("labels", {})
                .get("node.kubernetes.io/instance-type"),
            }
        return dict(self._cache[key])

    # -- files -----------------------------------------------------------------------------
    def supervisor(self) -> Json:
        """Outages from the supervisor's log, and each component's state now."""
        if "supervisor" not in self._cache:
            from harness.supervision import by_component, is_live, outages, read_log, read_state

            sv = read_state(self.run_dir)
            state = {c: v["state"] for c, v in by_component(sv).items()} if is_live(sv) else {}
            self._cache["supervisor"] = {"outages": outages(read_log(self.run_dir)), "state": state}
        return dict(self._cache["supervisor"])

    def agents(self) -> Json:
        """The node agents' status files."""
        if "agents" not in self._cache:
            self._cache["agents"] = agent_status(self.run_dir)
        return dict(self._cache["agents"])

    # -- controller --------------------------------------------------------------------
    def controller(self, node: str | None, namespace: str, name: str) -> Json | None:
        """Introspection: summary flags, the node's detail, the pod's wait (None: down)."""
        url = self.endpoints.get("controller")
        if not url:
            return None
        summary = _get_json(f"{url}/introspect/summary")
        if not isinstance(summary, dict):
            return None
        out: Json = {
            "ipam_enabled": summary.get("ipam_enabled"),
            "pd_enabled": summary.get("prefix_delegation_enabled"),
            "node": None,
            "wait": None,
        }
        if node:
            import urllib.error
            import urllib.parse
            import urllib.request

            q = urllib.parse.quote(node)
            try:
                with urllib.request.urlopen(f"{url}/introspect/node?name={q}", timeout=5) as r:
                    out["node"] = json.loads(r.read())
            except urllib.error.HTTPError as e:  # 404: never seen
                out["node"] = None if e.code == 404 else {"error": e.code}
            except (OSError, ValueError):
                out["node"] = None
            pods = _get_json(f"{url}/introspect/pods?node={q}") or {}
            for w in pods.get("pods") or []:
                if w.get("namespace") == namespace and w.get("name") == name:
                    out["wait"] = w
        return out

    # -- EC2 -----------------------------------------------------------------------------
    def eni(self, node: str) -> Json | None:
        """The node's primary ENI: address slots in use and the instance type's limit."""
        ec2_url = self.endpoints.get("ec2")
        if not ec2_url:
            return None
        try:
            nodes = json.loads((self.run_dir / "nodes.json").read_text())["nodes"]
        except (OSError, ValueError, KeyError):
            return None
        entry = next((n for n in nodes if n.get("name") == node), None)
        if entry is None:
            return None
        from harness.nodes.ec2 import ec2_client
        from harness.spec import REGION

        ec2 = ec2_client(ec2_url, REGION)
        enis = ec2.describe_network_interfaces(
            Filters=[{"Name": "attachment.instance-id", "Values": [entry["instance_id"]]}]
        )["NetworkInterfaces"]
        eni = next((e for e in enis if (e.get("Attachment") or {}).get("DeviceIndex") == 0), None)
        if eni is None:
            return None
        itype = entry.get("instance_type")
        limit = None
        if itype:
            key = f"limit:{itype}"
            if key not in self._cache:
                types = ec2.describe_instance_types(InstanceTypes=[itype])["InstanceTypes"]
                self._cache[key] = types[0]["NetworkInfo"]["Ipv4AddressesPerInterface"]
            limit = self._cache[key]
        return {
            "id": eni.get("NetworkInterfaceId"),
            "limit": limit,
            "secondary": sum(1 for a in eni.get("PrivateIpAddresses", []) if not a.get("Primary")),
            "prefixes": len(eni.get("Ipv4Prefixes", [])),
        }

    def ec2_error_request(self, err: Mapping[str, Any] | None, eni_id: str | None) -> Json | None:
        """The newest request of the controller's last EC2 error in fake_ec2's request log."""
        url = self.endpoints.get("ec2")
        if not url or not (err or eni_id):
            return None
        from fake_ec2.admin import AdminClient, AdminError

        try:
            records = AdminClient(url, timeout=5).requests(action=(err or {}).get("action"))
        except (AdminError, OSError, ValueError):
            return None
        if err:
            hits = [r for r in records if r.get("code") == err.get("code")]
        else:  # the controller cleared its last error: the newest refusal on this ENI
            hits = [r for r in records if r.get("code") not in ("OK", None)]
        mine = [r for r in hits if eni_id and eni_id in json.dumps(r.get("params") or {})]
        pick = (mine or hits)[-1:] if hits else []
        if not pick:
            return None
        r = pick[0]
        return {"seq": r["seq"], "action": r["action"], "code": r["code"], "time": r.get("time")}

    # -- HNS -------------------------------------------------------------------------------
    def hns(self, node: str, ip: str | None) -> Json | None:
        """DumpState of the node's HNS: the endpoint with the pod's IP, pending faults."""
        target = self.endpoints.get("hns")
        if not target:
            return None
        key = f"hns:{node}"
        if key not in self._cache:
            from fake_hns.client import HnsClient

            try:
                with HnsClient(target, host=node) as c:
                    self._cache[key] = json.loads(c.dump_state())["hosts"].get(node) or {}
            except Exception:  # gRPC unavailable, unknown host: HNS does not answer
                self._cache[key] = None
        host = self._cache[key]
        if host is None:
            return None
        endpoint = None
        if ip:
            for ep in host.get("endpoints") or []:
                if ep.get("Flags", 0) & 1:  # remote endpoints (kube-proxy's) are not the pod's
                    continue
                if any(c.get("IpAddress") == ip for c in ep.get("IpConfigurations") or []):
                    endpoint = {"Id": ep.get("Id"), "Name": ep.get("Name")}
        return {"endpoint": endpoint, "pending_faults": dict(host.get("pendingFaults") or {})}


def gather(src: Sources, pod: Mapping[str, Any]) -> Json:
    """Every piece of evidence for one pod (JSON from Sources.pod/pods)."""
    facts = pod_facts(pod)
    ns, name, node = facts["namespace"], facts["name"], facts["node"]
    ev: Json = {
        "now": time.time(),
        "pod": facts,
        "supervisor": src.supervisor(),
        "events": src.events(ns, name, facts["uid"]),
    }
    if not facts["windows"] or facts["host_network"]:
        return ev
    ev["controller"] = src.controller(node, ns, name)
    if not node:
        return ev
    ev["node"] = src.node(node)
    eni = src.eni(node)
    if eni is not None:
        ev["eni"] = eni
    ctl_node = (ev["controller"] or {}).get("node") or {}
    ev["ec2_error_request"] = src.ec2_error_request(
        ctl_node.get("last_ec2_error"), (eni or {}).get("id")
    )
    agents = src.agents()
    failure = agents["failing"].get(f"{ns}/{name}")
    ev["cni"] = {"failure": failure}
    ip = facts["pod_ip"] or (str(facts["annotation"]).split("/")[0] if facts["annotation"] else "")
    ev["hns"] = src.hns(node, ip or None)
    n = agents["nodes"].get(node) or {}
    if n:
        ev["kube_proxy"] = {
            "lb_failures_last_sync": n.get("lb_failures_last_sync", 0),
            "lb_failures": n.get("lb_failures", 0),
            "recent": n.get("lb_failures_recent") or [],
        }
    return ev


def annotation_wait_s(spec: Mapping[str, Any]) -> float:
    """The environment's CNI annotation wait (timing profile, with overrides)."""
    from harness.spec.timing import resolve

    return float(resolve(spec.get("timing") or "real").cni_annotation_wait_s)
