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


def pods_missed_by_webhook(run_dir: Path) -> list[str]:
    """`namespace/name` of the pods admitted while the webhook was down (failurePolicy
    Ignore, harness.admission): no IP request, so the controller never gives them an IP."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from harness.admission import pods_missed_by_webhook as missed
    from harness.identity import api_client

    api = api_client(run_dir / "kubeconfig")
    try:
        core = client.CoreV1Api(api)
        try:
            cm = core.read_namespaced_config_map("amazon-vpc-cni", "kube-system")
            data = dict(cm.data or {})
        except ApiException as e:
            if e.status != 404:
                raise
            data = None
        pods = core.list_pod_for_all_namespaces().items
        return missed((api.sanitize_for_serialization(p) for p in pods), data)
    finally:
        api.close()
