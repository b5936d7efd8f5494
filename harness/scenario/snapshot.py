"""One observation of a running scenario environment, in the report's shape.

Read only through the components' interfaces: the Kubernetes API, EC2 (describe calls
and fake_ec2's admin state), HNS (DumpState), the controller's introspection and the
node agent's status file (kube-proxy's load-balancer failures)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.invariants import ClusterState, NodeState
from harness.scenario.live import Live
from harness.spec import REGION

BLOCK = 16


def get_json(url: str, timeout_s: float = 5.0) -> Any:
    """GET a loopback JSON endpoint (None when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


@dataclass
class Snapshot:
    """Everything an expectation, the settle check or the report reads at one moment."""

    t: float
    state: ClusterState
    nodes: dict[str, dict[str, Any]]
    pods: list[dict[str, Any]]
    introspection: Mapping[str, Any] | None
    hns_counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)  # supervised process -> state

    def components_down(self) -> list[str]:
        """Supervised processes not running now (back-off, restarting, stopped, down)."""
        return sorted(name for name, state in self.components.items() if state != "running")

    def count(self, phase: str) -> int:
        """Scenario pods by the report's phases: running / pending / container_creating."""
        return sum(1 for p in self.pods if p["state"] == phase)

    def missed_by_webhook(self) -> list[str]:
        """Scenario pods admitted without the webhook's IP request (harness.admission)."""
        return sorted(p["name"] for p in self.pods if p.get("missed_by_webhook"))

    def lb_failures(self, node: str | None = None) -> int:
        """Load balancers kube-proxy failed to create in its last sync (one node or all)."""
        if node is not None:
            return int(self.nodes.get(node, {}).get("hns", {}).get("lb_failures", 0))
        return sum(int(n.get("hns", {}).get("lb_failures", 0)) for n in self.nodes.values())

    def fingerprint(self) -> dict[str, Any]:
        """What "settled" compares: pod phases, node assignments, IP annotations, node
        capacity, ENI IPs and prefixes, HNS object counts, controller pending work.
        Cooling IPs, read-only EC2 calls and a waiting pod's retries are left out."""
        pods = sorted((p["name"], p["state"], p["node"], p["ip"]) for p in self.pods)
        nodes = {
            n.name: (
                n.capacity,
                tuple(sorted(n.eni.secondary_ips)) if n.eni else (),
                tuple(sorted(n.eni.prefixes)) if n.eni else (),
            )
            for n in self.state.nodes
        }
        pending = bool((self.introspection or {}).get("pending", False))
        return {"pods": pods, "nodes": nodes, "hns": self.hns_counts, "pending": pending}


def hns_counts(dump: Mapping[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Per host of a DumpState document: (endpoints, load balancers, namespaces)."""
    return {
        host: (
            len(body.get("endpoints", [])),
            len(body.get("loadBalancers", [])),
            len(body.get("namespaces", [])),
        )
        for host, body in (dump.get("hosts") or {}).items()
    }


def _pod_row(p: Any) -> dict[str, Any]:
    phase = p.status.phase or "Pending"
    if phase == "Pending":
        state = "container_creating" if p.spec.node_name else "pending"
    else:
        state = phase.lower()
    annotations = p.metadata.annotations or {}
    return {
        "name": p.metadata.name,
        "node": p.spec.node_name,
        "ip": p.status.pod_ip,
        "annotation": annotations.get("vpc.amazonaws.com/PrivateIPv4Address"),
        "phase": phase,
        "state": state,
        "terminating": p.metadata.deletion_timestamp is not None,
    }


def _agent_status(run_dir: Path) -> dict[str, Any]:
    """Merged node entries of every node agent's status file."""
    nodes: dict[str, Any] = {}
    for path in (run_dir / "components" / "nodes").glob("**/agent-status.json"):
        try:
            nodes.update(json.loads(path.read_text()).get("nodes") or {})
        except (OSError, ValueError):
            continue
    return nodes


def _node_report(
    n: NodeState,
    intro: Mapping[str, Any] | None,
    pods_on_node: int,
    hns: tuple[int, int, int],
    agent: Mapping[str, Any],
    mode_fallback: str,
) -> dict[str, Any]:
    eni = n.eni
    secondary = sorted(eni.secondary_ips) if eni else []
    prefixes = sorted(eni.prefixes) if eni else []
    held = len(secondary) + BLOCK * len(prefixes)
    mode = (intro or {}).get("mode") or mode_fallback
    cooling = int((intro or {}).get("cooling", 0))
    return {
        "instance_id": n.instance_id,
        "instance_type": n.instance_type,
        "nitro": n.nitro,
        "mode": mode,
        "capacity": n.capacity,
        "eni": {
            "id": eni.eni_id if eni else None,
            "primary_ip": eni.primary_ip if eni else None,
            "secondary_ips": secondary,
            "prefixes": prefixes,
        },
        "assigned_ips": pods_on_node,
        "free_ips": max(0, held - pods_on_node),
        "cooling_ips": cooling,
        "hns": {
            "endpoints": hns[0],
            "load_balancers": hns[1],
            "lb_failures": int(agent.get("lb_failures_last_sync", 0)),
            # After an HNS restart: how often the node recovered, and the pods whose
            # sandbox is still being re-created (Running without an endpoint meanwhile).
            "recoveries": int(agent.get("hns_recoveries", 0)),
            "sandboxes_lost": list(agent.get("sandboxes_lost", [])),
        },
        "waiting": (intro or {}).get("waiting"),
        "last_ec2_error": (intro or {}).get("last_ec2_error"),
    }


def take(live: Live) -> Snapshot:
    """Observe the environment now."""
    from fake_hns.client import HnsClient
    from harness.admission import pods_missed_by_webhook
    from harness.invariants import node_mode
    from harness.observe import observe
    from harness.scenario.workload import NAMESPACE

    t = time.time() - live.log.t0
    pipe = live.pipeline
    raw = live.scenario_pods()
    pods = [_pod_row(p) for p in raw]
    sv = live.env.supervision
    comps = {name: u.state for name, u in sv.units.items()} if sv is not None else {}
    if pipe is None or not pipe.nodes:
        return Snapshot(t, ClusterState(), {}, pods, None, components=comps)
    with HnsClient(pipe.hns_target, host="") as hns:
        dump = json.loads(hns.dump_state(all_hosts=True))
    state = observe(
        live.api,
        ec2_url=pipe.ec2_url,
        region=REGION,
        hns_target=pipe.hns_target,
        nodes=pipe.nodes,
        prefix_delegation_flag=live.env.spec.prefix_delegation_flag(),
        hns_dump=dump,
    )
    missed = set(
        pods_missed_by_webhook(
            (live.api.sanitize_for_serialization(p) for p in raw), state.configmap
        )
    )
    for row in pods:  # admitted while the webhook was down: never get an IP
        row["missed_by_webhook"] = f"{NAMESPACE}/{row['name']}" in missed
    intro = None
    if pipe.controllers and pipe.controllers[0].url:
        intro = get_json(f"{pipe.controllers[0].url}/introspect/summary")
    intro_nodes = {row["name"]: row for row in (intro or {}).get("nodes", [])}
    agent = _agent_status(live.env.run_dir)
    counts = hns_counts(dump)
    holders: dict[str, int] = {}
    for p in state.pods:
        if p.node and p.annotation and p.phase not in ("Succeeded", "Failed"):
            holders[p.node] = holders.get(p.node, 0) + 1
    nodes = {}
    for n in state.nodes:
        fallback = node_mode(
            state.configmap, nitro=n.nitro, prefix_delegation_flag=state.prefix_delegation_flag
        )
        nodes[n.name] = _node_report(
            n,
            intro_nodes.get(n.name),
            holders.get(n.name, 0),
            counts.get(n.name, (0, 0, 0)),
            agent.get(n.name, {}),
            fallback,
        )
    return Snapshot(t, state, nodes, pods, intro, counts, comps)
