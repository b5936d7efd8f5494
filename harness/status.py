"""What `ekswin status` reads from a running environment (files in the run directory,
the Kubernetes API, fake_ec2 and the controller's introspection)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.nodes.ec2 import ec2_client
from harness.nodes.spec import IP_RESOURCE
from harness.spec import REGION


def summarize_nodes(run_dir: Path) -> list[dict[str, Any]]:
    """Per node: instance, mode, capacity, ENI IPs and prefixes, IPs in use and free."""
    from kubernetes import client

    from harness.identity import api_client

    if not (run_dir / "nodes.json").exists():
        return []  # an environment without Windows nodes
    state = json.loads((run_dir / "nodes.json").read_text())
    ec2 = ec2_client(state["ec2"], REGION)
    ids = [n["instance_id"] for n in state["nodes"]]
    enis = {}
    if ids:
        for eni in ec2.describe_network_interfaces(
            Filters=[{"Name": "attachment.instance-id", "Values": ids}]
        )["NetworkInterfaces"]:
            if eni.get("Attachment", {}).get("DeviceIndex") == 0:
                enis[eni["Attachment"]["InstanceId"]] = eni
    api = api_client(run_dir / "kubeconfig")
    try:
        core = client.CoreV1Api(api)
        k8s_nodes = {n.metadata.name: n for n in core.list_node().items}
        pods = core.list_pod_for_all_namespaces().items
    finally:
        api.close()
    out = []
    for n in state["nodes"]:
        eni = enis.get(n["instance_id"], {})
        node = k8s_nodes.get(n["name"])
        cap = (node.status.capacity or {}) if node and node.status else {}
        secondary = [
            a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []) if not a.get("Primary")
        ]
        prefixes = [p["Ipv4Prefix"] for p in eni.get("Ipv4Prefixes", [])]
        used = sum(
            1
            for p in pods
            if p.spec.node_name == n["name"]
            and IP_RESOURCE in (p.metadata.annotations or {})
            and p.status.phase not in ("Succeeded", "Failed")
        )
        held = len(secondary) + 16 * len(prefixes)
        out.append(
            {
                "name": n["name"],
                "instance_id": n["instance_id"],
                "instance_type": n.get("instance_type"),
                "mode": "prefix"
                if prefixes
                else ("secondary" if secondary else n.get("mode", "?")),
                "capacity": cap.get(IP_RESOURCE),
                "ready": bool(
                    node
                    and any(
                        c.type == "Ready" and c.status == "True"
                        for c in node.status.conditions or []
                    )
                ),
                "eni": {
                    "id": eni.get("NetworkInterfaceId"),
                    "primary_ip": eni.get("PrivateIpAddress"),
                    "secondary_ips": secondary,
                    "prefixes": prefixes,
                },
                "assigned_ips": used,
                "free_ips": max(0, held - used),
            }
        )
    return out


def controller_pools(run_dir: Path) -> dict[str, Any] | None:
    """The controller's introspection summary (per-node pool view), None when it does not
    answer (no controller, or it is down)."""
    import urllib.request

    try:
        env = json.loads((run_dir / "env.json").read_text())
        url = env["endpoints"]["controller"]
        with urllib.request.urlopen(f"{url}/introspect/summary", timeout=5) as resp:
            data = json.loads(resp.read())
    except (OSError, KeyError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def node_problems(run_dir: Path, nodes: list[dict[str, Any]]) -> None:
    """Add to each node of `summarize_nodes` (with the controller's pool row merged in
    as ``pool``) what `status` must not hide: kube-proxy's load-balancer failures (the
    node agent's status file) and a mode mismatch (the controller's mode against the
    advertised capacity and what the ENI holds)."""
    from harness.why.gather import agent_status
    from harness.why.rules import mode_mismatch

    agents = agent_status(run_dir)["nodes"]
    for n in nodes:
        a = agents.get(n["name"]) or {}
        n["lb_failures"] = int(a.get("lb_failures_last_sync") or 0)
        n["lb_failures_total"] = int(a.get("lb_failures") or 0)
        n["lb_failures_recent"] = list(a.get("lb_failures_recent") or [])
        pool = n.get("pool") or {}
        problems = []
        row = {"managed": pool.get("managed"), "mode": pool.get("mode"),
               "capacity": pool.get("capacity")}  # fmt: skip
        text = mode_mismatch(row, n.get("capacity"))
        if text:
            problems.append(text)
        eni = n.get("eni") or {}
        secondary, prefixes = len(eni.get("secondary_ips") or []), len(eni.get("prefixes") or [])
        if pool.get("mode") == "prefix" and secondary:
            problems.append(f"mode is prefix but the ENI still holds {secondary} secondary IP(s)")
        if pool.get("mode") == "secondary" and prefixes:
            problems.append(f"mode is secondary but the ENI still holds {prefixes} prefix(es)")
        n["mode_mismatch"] = "; ".join(problems) or None


def stuck_summary(run_dir: Path) -> dict[str, Any]:
    """How many Windows pods are stuck (not Running for longer than the CNI annotation
    wait), with the command that says why."""
    from harness.why import count_stuck

    count, wait_s = count_stuck(run_dir)
    return {"count": count, "wait_s": wait_s, "hint": "ekswin why --stuck" if count else None}


def problem_lines(status: dict[str, Any]) -> list[str]:
    """`ekswin status` lines (rich markup) for load-balancer failures, mode mismatches and
    stuck pods (plain data in, lines out)."""
    lines = []
    for n in status.get("nodes") or []:
        if n.get("lb_failures"):
            lines.append(
                f"[red]{n['name']}: {n['lb_failures']} load balancer(s) failed in kube-proxy's "
                f"last sync ({n.get('lb_failures_total', 0)} since start)[/]"
            )
            for r in (n.get("lb_failures_recent") or [])[:3]:
                lines.append(f"  {r.get('service')} {r.get('kind')}: {r.get('message')}")
        if n.get("mode_mismatch"):
            lines.append(f"[red]{n['name']}: mode mismatch: {n['mode_mismatch']}[/]")
    stuck = status.get("stuck") or {}
    if stuck.get("count"):
        lines.append(
            f"[red]{stuck['count']} Windows pod(s) stuck (not Running after "
            f"{stuck['wait_s']:g} s): run `{stuck['hint']}`[/]"
        )
    return lines
