"""Compose the Windows pod-networking pipeline around a running cluster.

Steps (each a named action shown with progress by `ekswin up`):
fake EC2 + fake HNS processes (started before the control plane, so they boot in
parallel with it), the VPC and subnet in EC2, RBAC + the `amazon-vpc-cni` ConfigMap,
the VPC Resource Controller with its admission webhook (own ServiceAccount identity),
the webhook registrations (caBundle = the cluster CA that signed the serving cert),
then the Windows nodes: EC2 instances and the node agent (kubelet, CNI, kube-proxy).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.netutil import LOOPBACK
from harness.nodes.ec2 import ec2_client
from harness.process import ManagedProcess
from harness.waiting import wait_until as wait_until  # re-exported: moved to harness.waiting

if TYPE_CHECKING:
    from harness.env import Environment, Progress

REGION = "us-west-2"
AZ = "us-west-2a"
VPC_CIDR = "192.168.0.0/16"
CONTROLLER_SA = ("kube-system", "vpc-resource-controller")
IP_RESOURCE = "vpc.amazonaws.com/PrivateIPv4Address"
LISTENING = r"(?m)^listening on (\S+)"
START_TIMEOUT_S = 60.0

Step = tuple[str, Callable[["Progress"], None]]


def python_module(module: str, *args: str) -> list[str]:
    """argv running a module of this installation with the current interpreter."""
    return [sys.executable, "-m", module, *args]


def listening_url(proc: ManagedProcess, timeout_s: float = START_TIMEOUT_S) -> str:
    """Wait for a component's first 'listening on URL' line and return the URL."""
    return proc.wait_for_line(LISTENING, timeout_s).group(1)


class Pipeline:
    """The components `ekswin up --windows-nodes N` starts around the cluster."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.opts = env.opts
        self.run_dir = env.run_dir
        self.sup = env.cluster.supervisor
        self.seed = int(self.opts.extra.get("seed", 0))
        self.cooldown_s = float(self.opts.extra.get("cooldown_s", 30.0))
        self.ec2_url = ""
        self.hns_target = ""
        self.subnet_id = ""
        self.nodes: list[dict[str, Any]] = []

    # -- steps ----------------------------------------------------------------------
    def pre_cluster_steps(self) -> list[Step]:
        """Steps that do not need the API server (run before it, overlapping its start)."""
        return [("Starting fake EC2 and fake HNS", self.spawn_ec2_hns)]

    def steps(self) -> list[Step]:
        """Steps after the control plane is up."""
        n = self.opts.windows_nodes
        return [
            ("Creating the VPC and subnet in fake EC2", self.create_vpc),
            ("Installing RBAC and the amazon-vpc-cni ConfigMap", self.install_cluster_config),
            ("Starting the VPC resource controller and admission webhook", self.start_controller),
            (
                f"Starting {n} Windows node{'s' if n != 1 else ''} ({self.opts.instance_type})",
                self.start_nodes,
            ),
        ]

    def spawn_ec2_hns(self, say: Progress) -> None:
        """Start both servers; their URLs are read later (they boot while etcd does)."""
        self.sup.start(
            "fake-ec2", python_module("fake_ec2", "--port", "0", "--seed", str(self.seed))
        )
        self.sup.start(
            "fake-hns", python_module("fake_hns", "--port", "0", "--seed", str(self.seed))
        )

    def create_vpc(self, say: Progress) -> None:
        """Read the servers' URLs; create the VPC and the node subnet."""
        self.ec2_url = listening_url(self.sup.get("fake-ec2"))
        self.hns_target = listening_url(self.sup.get("fake-hns")).removeprefix("grpc://")
        self.env.endpoints["ec2"] = self.ec2_url
        self.env.endpoints["hns"] = f"grpc://{self.hns_target}"
        ec2 = ec2_client(self.ec2_url, REGION)
        vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=self.opts.subnet, AvailabilityZone=AZ)
        self.subnet_id = subnet["Subnet"]["SubnetId"]
        say(f"    vpc {vpc}, subnet {self.subnet_id} {self.opts.subnet}")

    def install_cluster_config(self, say: Progress) -> None:
        """RBAC for the controller, its ServiceAccount identity and the ConfigMap."""
        from kubernetes import client

        from controller import deploy
        from harness.manifests import apply

        api = self.env.cluster.api
        apply(api, deploy.rbac_manifests())
        data = {"enable-windows-ipam": "true"}
        if self.opts.prefix_delegation:
            data["enable-windows-prefix-delegation"] = "true"
        data.update(self.opts.extra.get("configmap", {}))
        cm = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="amazon-vpc-cni", namespace="kube-system"),
            data=data,
        )
        apply(api, [api.sanitize_for_serialization(cm) | {"apiVersion": "v1", "kind": "ConfigMap"}])

    def start_controller(self, say: Progress) -> None:
        """Controller + webhook under its own ServiceAccount; then register the webhooks."""
        from controller import deploy
        from harness.manifests import apply

        cluster = self.env.cluster
        comp = self.run_dir / "components"
        kubeconfig = cluster.service_account_kubeconfig(
            *CONTROLLER_SA, comp / "controller.kubeconfig"
        )
        cert_dir = comp / "webhook-certs"
        cert_dir.mkdir(parents=True, exist_ok=True)
        cluster.certificate_authority().issue_server(
            "vpc-resource-controller-webhook", dns=["localhost"], ips=[LOOPBACK]
        ).write(cert_dir / "tls.crt", cert_dir / "tls.key")
        argv = python_module(
            "controller",
            "--kubeconfig",
            str(kubeconfig),
            "--ec2-endpoint",
            self.ec2_url,
            "--region",
            REGION,
            "--metrics-port",
            "0",
            "--webhook-port",
            "0",
            "--webhook-cert-dir",
            str(cert_dir),
            "--cooldown-seconds",
            str(self.cooldown_s),
            *self.opts.extra.get("controller_args", []),
        )
        proc = self.sup.start("controller", argv)
        self.env.endpoints["controller"] = listening_url(proc)
        webhook = proc.wait_for_line(r"(?m)^webhook on (\S+)", START_TIMEOUT_S).group(1)
        self.env.endpoints["webhook"] = webhook
        apply(cluster.api, deploy.webhook_configurations(webhook, cluster.ca_file.read_bytes()))

    def start_nodes(self, say: Progress) -> None:
        """EC2 instances, node credentials and the node agent; wait until all are Ready."""
        from harness.nodes import launch

        self.nodes = launch.start_nodes(self, say)
        (self.run_dir / "nodes.json").write_text(
            json.dumps({"ec2": self.ec2_url, "hns": self.hns_target, "nodes": self.nodes}, indent=1)
        )
        self.wait_nodes_schedulable(say)

    def wait_nodes_schedulable(self, say: Progress) -> None:
        """Wait until every node is Ready and (IPAM on) advertises its pod IPs as allocatable,
        so the scheduler can place Windows pods as soon as `up` returns."""
        from kubernetes import client

        names = {n["name"] for n in self.nodes}
        core = client.CoreV1Api(self.env.cluster.api)
        ipam = self.opts.extra.get("configmap", {}).get("enable-windows-ipam", "true") == "true"

        def schedulable() -> bool:
            ready = 0
            for node in core.list_node(label_selector="kubernetes.io/os=windows").items:
                if node.metadata.name not in names:
                    continue
                conds = {c.type: c.status for c in node.status.conditions or []}
                alloc = node.status.allocatable or {}
                if conds.get("Ready") == "True" and (not ipam or IP_RESOURCE in alloc):
                    ready += 1
            return ready == len(names)

        wait_until(
            schedulable,
            float(self.opts.extra.get("nodes_ready_timeout_s", 120.0)),
            "every Windows node Ready with vpc.amazonaws.com/PrivateIPv4Address allocatable",
        )
        say(f"    {len(names)} node(s) Ready and advertising pod IPs")


def pipeline_steps(env: Environment) -> tuple[list[Step], list[Step]]:
    """(steps before the control plane, steps after it) for `ekswin up --windows-nodes`."""
    pipe = Pipeline(env)
    env.pipeline = pipe
    return pipe.pre_cluster_steps(), pipe.steps()


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
            and "vpc.amazonaws.com/PrivateIPv4Address" in (p.metadata.annotations or {})
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
                "capacity": cap.get("vpc.amazonaws.com/PrivateIPv4Address"),
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
