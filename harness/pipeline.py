"""Compose the Windows pod-networking pipeline around a running cluster, from a spec.

Steps (each a named action shown with progress by `ekswin up`): fake EC2 + fake HNS
(started before the control plane, so they boot in parallel with it), the VPC and
subnets in EC2 (with CIDR reservations and fragmentation), RBAC + the
`amazon-vpc-cni` ConfigMap, the VPC Resource Controller replicas with the admission
webhook (own ServiceAccount identity), the webhook registrations (caBundle = the
backend's CA that signed the serving cert), then the Windows nodes (EC2 instances and
the node agent) and a wait until every node is schedulable.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends import ClusterAccess
from harness.backends.owned import ObjectRef
from harness.backends.reach import serving_sans
from harness.components import Component, ListeningLine, python_module
from harness.nodes.ec2 import ec2_client
from harness.nodes.launch import (
    NodeLaunch,
    NodeRecord,
    kube_proxy_settings,
    node_specs,
    node_specs_for,
    start_nodes,
)
from harness.spec import REGION, EnvSpec, NodeGroup, Subnet

CONTROLLER_SA = ("kube-system", "vpc-resource-controller")
START_TIMEOUT_S = 60.0
WEBHOOK_LINE = r"(?m)^webhook on (\S+)"
NODE_LEASES = "kube-node-lease"

Progress = Callable[[str], None]
Step = tuple[str, Callable[[Progress], None]]


@dataclass
class RemovedNodes:
    """What removing nodes did (Pipeline.remove_nodes)."""

    names: list[str]
    instance_ids: list[str]
    agents_stopped: list[Component] = field(default_factory=list)  # all their nodes gone
    pods_left_to_gc: list[tuple[str, str]] = field(default_factory=list)  # pod GC's to delete
    pods_deleted: int = 0  # deleted here: no pod GC runs in the cluster
    hns_unreachable: list[str] = field(default_factory=list)


class Pipeline:
    """The components an environment spec asks for around the cluster."""

    def __init__(
        self, spec: EnvSpec, cluster: ClusterAccess, run_dir: Path, endpoints: dict[str, str]
    ) -> None:
        self.spec = spec
        self.cluster = cluster
        self.run_dir = run_dir
        self.endpoints = endpoints
        self.sup = cluster.supervisor
        self.ec2 = Component(
            "fake-ec2",
            python_module("fake_ec2", "--port", "0", "--seed", str(spec.seed)),
            ListeningLine(),
        )
        self.hns = Component(
            "fake-hns",
            python_module("fake_hns", "--port", "0", "--seed", str(spec.seed)),
            ListeningLine(),
        )
        self.controllers: list[Component] = []
        self.webhook_replica = ""  # the replica the webhook configurations point at
        self._webhook_lock = threading.Lock()
        self.vpc_id = ""
        self.subnet_ids: dict[str, str] = {}
        self.subnets: dict[str, Subnet] = {}
        self.nodes: list[dict[str, Any]] = []
        self.agents: list[Component] = []
        self.agent_nodes: dict[str, list[str]] = {}  # node-agent shard -> its nodes
        self.groups: dict[str, list[str]] = {}  # node group -> its nodes (as launched)
        self._records: list[NodeRecord] = []
        self._host_lock: Any = None  # the upstream binary's host lock (harness/upstream/host)

    @property
    def ec2_url(self) -> str:
        """fake_ec2's URL (once ready)."""
        return self.ec2.url

    @property
    def hns_target(self) -> str:
        """fake_hns's host:port (once ready)."""
        return self.hns.url.removeprefix("grpc://")

    # -- steps ----------------------------------------------------------------------
    def pre_cluster_steps(self) -> list[Step]:
        """Steps that do not need the API server (run before it, overlapping its start)."""
        return [("Starting fake EC2 and fake HNS", self.spawn_ec2_hns)]

    def steps(self) -> list[Step]:
        """Steps after the control plane is up."""
        steps: list[Step] = [("Creating the VPC and subnets in fake EC2", self.create_vpc)]
        steps.append(("Installing RBAC and the amazon-vpc-cni ConfigMap", self.install_config))
        if self.spec.controller.replicas > 0:
            steps.append(
                (
                    "Starting the VPC resource controller and admission webhook",
                    self.start_controller,
                )
            )
        n = self.spec.node_count()
        if n:
            types = sorted({g.instance_type for g in self.spec.nodes})
            steps.append(
                (
                    f"Starting {n} Windows node{'s' if n != 1 else ''} ({', '.join(types)})",
                    self.start_nodes,
                )
            )
        return steps

    def spawn_ec2_hns(self, say: Progress) -> None:
        """Start both servers; their URLs are read later (they boot while etcd does)."""
        self.ec2.start(self.sup)
        self.hns.start(self.sup)

    def create_vpc(self, say: Progress) -> None:
        """Wait for the servers; create the VPC, its subnets, reservations, fragmentation."""
        self.endpoints["ec2"] = self.ec2.wait_ready(START_TIMEOUT_S)
        self.endpoints["hns"] = self.hns.wait_ready(START_TIMEOUT_S)
        ec2 = ec2_client(self.ec2_url, REGION)
        self.vpc_id = ec2.create_vpc(CidrBlock=self.spec.vpc.cidr)["Vpc"]["VpcId"]
        for s in self.spec.vpc.subnets:
            self.add_subnet(s, say, ec2)
        say(f"    vpc {self.vpc_id} {self.spec.vpc.cidr}")

    def add_subnet(self, s: Subnet, say: Progress, ec2: Any = None) -> str:
        """Create one subnet (with its reservations and fragmentation); return its id."""
        ec2 = ec2 or ec2_client(self.ec2_url, REGION)
        sid = str(
            ec2.create_subnet(VpcId=self.vpc_id, CidrBlock=s.cidr, AvailabilityZone=s.az)["Subnet"][
                "SubnetId"
            ]
        )
        self.subnet_ids[s.name] = sid
        self.subnets[s.name] = s
        for r in s.reservations:
            ec2.create_subnet_cidr_reservation(SubnetId=sid, Cidr=r.cidr, ReservationType=r.type)
        if s.fragment is not None:
            self.admin().fragment(sid, s.fragment.every, s.fragment.offset)
        say(f"    subnet {s.name}: {sid} {s.cidr} ({s.az})")
        return sid

    def admin(self) -> Any:
        """fake_ec2's admin client."""
        from fake_ec2.admin import AdminClient

        return AdminClient(self.ec2_url)

    @property
    def upstream(self) -> bool:
        """True when the spec runs the real controller binary (harness/upstream)."""
        return self.spec.controller.implementation == "upstream"

    def controller_manifests(self) -> list[dict[str, Any]]:
        """RBAC (and, for the upstream binary, its CRDs) of the controller."""
        if self.upstream:
            from harness.upstream import manifests

            return manifests.crds() + manifests.rbac()
        from controller import deploy

        return deploy.rbac_manifests()

    def install_config(self, say: Progress) -> None:
        """RBAC for the controller and, when the spec has one, the ConfigMap."""
        self.cluster.install(self.controller_manifests())
        if self.spec.configmap is not None:
            self.cluster.install([self.configmap_manifest()])

    def configmap_manifest(self) -> dict[str, Any]:
        """The amazon-vpc-cni ConfigMap of the spec."""
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"},
            "data": dict(self.spec.configmap or {}),
        }

    def planned_objects(self) -> list[ObjectRef]:
        """Every object the steps will create in the cluster, themselves or through the
        identities they issue (the controller's leader Lease, the nodes and their Leases):
        what a backend checks before anything is installed and deletes at `down`."""
        from controller import deploy
        from harness.kubeproxy.identity import binding_manifests

        manifests = list(self.controller_manifests())
        if self.spec.configmap is not None:
            manifests.append(self.configmap_manifest())
        refs = [ObjectRef.of(m) for m in manifests]
        if self.spec.controller.replicas > 0:
            refs += [
                ObjectRef("admissionregistration.k8s.io/v1", kind, name)
                for kind, name in (
                    ("MutatingWebhookConfiguration", deploy.MUTATING_WEBHOOK_CONFIGURATION),
                    ("ValidatingWebhookConfiguration", deploy.VALIDATING_WEBHOOK_CONFIGURATION),
                )
            ]
            refs.append(
                ObjectRef("coordination.k8s.io/v1", "Lease", deploy.LEASE_NAME, deploy.NAMESPACE)
            )
        if self.joinable():
            from harness.join.access import manifests as join_manifests

            refs += [ObjectRef.of(m) for m in join_manifests()]
        if self.spec.node_count():
            refs += [ObjectRef.of(m) for m in binding_manifests()]
            for node in self.spec.node_names():
                refs.append(ObjectRef("v1", "Node", node))
                refs.append(ObjectRef("coordination.k8s.io/v1", "Lease", node, NODE_LEASES))
        return refs

    def joinable(self) -> bool:
        """Whether node-agent shards on other hosts may join (`ekswin agent --join`): on a
        cluster this host does not run (existing, kind); the local control plane
        listens on loopback only."""
        return self.cluster.backend in ("existing", "kind")

    def controller_argv(self, kubeconfig: Path, cert_dir: Path, webhook: bool) -> list[str]:
        """The controller's command line for this spec (timing flags, then the spec's)."""
        ctl = self.spec.controller
        return python_module(
            "controller",
            f"--kubeconfig={kubeconfig}",
            f"--ec2-endpoint={self.ec2_url}",
            f"--region={REGION}",
            "--metrics-port=0",
            "--webhook-port=0",
            f"--webhook-cert-dir={cert_dir}",
            f"--components={'controller,webhook' if webhook else 'controller'}",
            f"--log-level={ctl.log_level}",
            f"--seed={self.spec.seed}",
            *self.spec.timing.controller_flags(),
            *ctl.extra_argv(),
        )

    def start_controller(self, say: Progress) -> None:
        """Controller replicas under their own ServiceAccount; register the webhooks."""
        if self.upstream:
            self.start_upstream_controller(say)
            return
        comp = self.run_dir / "components"
        kubeconfig = self.cluster.service_account_kubeconfig(
            *CONTROLLER_SA, comp / "controller.kubeconfig"
        )
        cert_dir = comp / "webhook-certs"
        cert_dir.mkdir(parents=True, exist_ok=True)
        # SANs for loopback and for the address the API server calls (webhook_url).
        dns, ips = serving_sans(self.cluster.webhook_host)
        self.cluster.certificate_authority().issue_server(
            "vpc-resource-controller-webhook", dns=dns, ips=ips
        ).write(cert_dir / "tls.crt", cert_dir / "tls.key")
        for i in range(self.spec.controller.replicas):
            name = "controller" if i == 0 else f"controller-{i}"
            # Every replica serves the webhook, leader or not, as upstream's manager does
            # (main.go registers its webhooks on every pod); register_webhook() picks one.
            argv = self.controller_argv(kubeconfig, cert_dir, webhook=True)
            self.controllers.append(Component(name, argv, ListeningLine()).start(self.sup))
        for c in self.controllers:
            self.endpoints[c.name] = c.wait_ready(START_TIMEOUT_S)
        self.register_webhook()

    def upstream_launch(self, kubeconfig: Path, introspect_port: int) -> Any:
        """The upstream binary's launch plan for this environment (harness/upstream/plan.py)."""
        from harness.upstream.plan import Launch, passthrough, resolve_binary

        return Launch(
            binary=resolve_binary(None),
            cluster_name=self.spec.name or "ekswin",
            vpc_id=self.vpc_id,
            ec2_url=self.ec2_url,
            kubeconfig=kubeconfig,
            tmpdir=self.run_dir / "components" / "upstream-tmp",
            introspect_port=introspect_port,
            prefix_delegation=self.spec.prefix_delegation_flag(),
            log_level=self.spec.controller.log_level,
            flags=passthrough(self.spec.controller.flags),
        )

    def start_upstream_controller(self, say: Progress) -> None:
        """The real controller binary as a supervised host process (one per host)."""
        from harness.components import Probe
        from harness.netutil import free_port
        from harness.upstream import host
        from harness.upstream.plan import WEBHOOK_PORT

        self._host_lock = host.acquire()  # held until this process exits
        comp = self.run_dir / "components"
        kubeconfig = self.cluster.service_account_kubeconfig(
            *CONTROLLER_SA, comp / "controller.kubeconfig"
        )
        launch = self.upstream_launch(kubeconfig, free_port())
        crt, key = launch.cert_paths()
        crt.parent.mkdir(parents=True, exist_ok=True)
        dns, ips = serving_sans(self.cluster.webhook_host)
        self.cluster.certificate_authority().issue_server(
            "vpc-resource-controller-webhook", dns=dns, ips=ips
        ).write(crt, key)
        health = launch.health_url()
        comp_ = Component(
            "controller",
            launch.argv(),
            Probe(
                lambda: _answers(health) and _listening(WEBHOOK_PORT),
                f"{health} to answer and the webhook port {WEBHOOK_PORT} to listen",
                launch.introspect_url(),
            ),
            env=launch.env(),
        )
        self.controllers.append(comp_.start(self.sup))
        self.endpoints["controller"] = comp_.wait_ready(START_TIMEOUT_S)
        self.register_webhook()
        say(f"    upstream controller {launch.binary.name} (webhook :9443, health :61779)")

    def release_cninodes(self, names: set[str] | None = None) -> list[str]:
        """Upstream teardown: stop the binary, then drop the finalizer it puts on the
        CNINode of each node (`names`, default this environment's), so deleting the nodes
        and the CRD does not wait for a controller that is gone. Returns the released."""
        from kubernetes import client

        from harness.upstream.manifests import CNINODE_FINALIZER

        for c in self.controllers:
            c.stop()
        names = (
            names
            if names is not None
            else ({n["name"] for n in self.nodes} | set(self.spec.node_names()))
        )
        api = client.CustomObjectsApi(self.cluster.api)
        group, version, plural = "vpcresources.k8s.aws", "v1alpha1", "cninodes"
        released = []
        for item in api.list_cluster_custom_object(group, version, plural).get("items", []):
            meta = item.get("metadata", {})
            if meta.get("name") in names and CNINODE_FINALIZER in (meta.get("finalizers") or []):
                rest = [f for f in meta["finalizers"] if f != CNINODE_FINALIZER]
                body = {"metadata": {"finalizers": rest or None}}
                api.patch_cluster_custom_object(group, version, plural, meta["name"], body)
                released.append(meta["name"])
        return sorted(released)

    def register_webhook(self, avoid: str = "") -> None:
        """Point the webhook configurations at a running replica's webhook (the first
        one running, never `avoid`). The harness plays the webhook's Service, whose
        endpoints are the ready pods; with none running, the configurations keep the
        last address and the API server applies failurePolicy (Ignore)."""
        from controller import deploy

        if self.upstream:  # the binary's webhook listens on its fixed port
            from harness.upstream import manifests
            from harness.upstream.plan import WEBHOOK_PORT

            webhook = self.cluster.webhook_url(f"https://127.0.0.1:{WEBHOOK_PORT}")
            self.endpoints["webhook"] = webhook
            self.cluster.install(
                manifests.webhook_configurations(
                    webhook, self.cluster.certificate_authority().cert_pem
                )
            )
            return
        with self._webhook_lock:
            running = [c for c in self.controllers if c.alive() and c.name != avoid]
            if not running or running[0].process is None:
                return
            target = running[0]
            assert target.process is not None
            local = target.process.wait_for_line(WEBHOOK_LINE, START_TIMEOUT_S).group(1)
            webhook = self.cluster.webhook_url(local)
            self.cluster.install(
                deploy.webhook_configurations(
                    webhook, self.cluster.certificate_authority().cert_pem
                )
            )
            self.endpoints["webhook"] = webhook
            self.webhook_replica = target.name

    def controller_gone(self, name: str) -> None:
        """Replica `name` died or was stopped: when it served the webhook, point the
        configurations at another running replica (a Service drops a dead endpoint)."""
        if name == self.webhook_replica:
            self.register_webhook(avoid=name)

    # -- changes to a running environment (scenario steps) ----------------------------
    def restart_controller(self, index: int = 0) -> None:
        """Start replica `index` again (new ports); re-register the webhook when it was
        this replica's or its replica is not running."""
        c = self.controllers[index]
        self.endpoints[c.name] = c.restart(START_TIMEOUT_S)
        served = next((x for x in self.controllers if x.name == self.webhook_replica), None)
        if served is None or served is c or not served.alive():
            self.register_webhook()

    def reset_controllers(self, between: Callable[[], None]) -> None:
        """Pause every controller replica's IPAM (no EC2 call of theirs lands after),
        run `between`, then rebuild their IPAM with no state, as a restart would — the
        processes, their leases and the webhook stay (controller/__main__.py)."""
        for c in self.controllers:
            assert c.process is not None, f"{c.name} is not running"
            c.process.signal_and_wait(signal.SIGUSR1, "ipam paused", START_TIMEOUT_S)
        between()
        for c in self.controllers:
            assert c.process is not None
            c.process.signal_and_wait(signal.SIGUSR2, "ipam rebuilt", START_TIMEOUT_S)

    def restart_hns(self) -> None:
        """Start fake_hns again on the same port, so every client reconnects to it."""
        port = self.hns_target.rsplit(":", 1)[1]
        argv = list(self.hns.argv)
        argv[argv.index("--port") + 1] = port
        self.hns.restart(START_TIMEOUT_S, argv)

    def restart_agents(self) -> None:
        """Restart every node agent (they adopt their running pods)."""
        for agent in self.agents:
            self.restart_agent(agent)

    def restart_agent(self, agent: Component) -> None:
        """Start one node agent again and wait until it is ready."""
        from harness.spec.scale import agent_ready_deadline_s

        agent.restart(agent_ready_deadline_s(len(self.agent_nodes.get(agent.name, ()))))

    def _launch(self, plan: NodeLaunch, say: Progress, names: list[str]) -> list[NodeRecord]:
        """Start the nodes of `plan` under the node agents `names`, record them and wait
        until they are schedulable, showing how many are registered / initialised / Ready."""
        from harness.nodes.progress import NodeProgress
        from harness.spec.scale import shard_slices

        wanted = {s.name for s in plan.nodes}
        with NodeProgress(self.cluster.api, wanted, self._needs_ip(), say):
            agents, records = start_nodes(plan, self.cluster, lambda m: say(f"    {m}"), names)
            for agent, part in zip(agents, shard_slices(len(records), len(agents)), strict=True):
                self.agent_nodes[agent.name] = [records[i].name for i in part]
            self.agents.extend(agents)
            self._records.extend(records)
            self.nodes = [r.to_dict() for r in self._records]
            self.write_nodes_file(self._records)
            self.wait_nodes_schedulable(say, plan.ready_timeout_s(), wanted)
        return records

    def _needs_ip(self) -> bool:
        """Nodes are schedulable once they advertise pod IPs (IPAM on, a controller runs)."""
        return self.spec.ipam_enabled() and self.spec.controller.replicas > 0

    def _agent_names(self, shards: int) -> list[str]:
        """Names for `shards` more node agents: node-agent, then node-agent-N."""
        first = len(self.agents)
        return ["node-agent" if i == 0 else f"node-agent-{i}" for i in range(first, first + shards)]

    def add_nodes(self, group: NodeGroup, say: Progress) -> list[str]:
        """Launch a node group into a running environment: its own node agent."""
        subnet = self.subnets[group.subnet] if group.subnet else self.spec.vpc.subnets[0]
        specs = node_specs_for(group, subnet, self.subnet_ids[subnet.name], REGION)
        plan = NodeLaunch(
            nodes=tuple(specs),
            ec2_url=self.ec2_url,
            hns_target=self.hns_target,
            region=REGION,
            run_dir=self.run_dir,
            spec=self.spec,
        )
        records = self._launch(plan, say, self._agent_names(1))
        self.groups[group.name] = [r.name for r in records]
        return [r.name for r in records]

    def node_names_of(self, name: str) -> list[str]:
        """The running nodes `name` stands for: that node, or else the nodes of the node
        group `name` still running (a group of one is named as its node)."""
        running = [n["name"] for n in self.nodes]
        if name in running:
            return [name]
        return [n for n in self.groups.get(name, ()) if n in running]

    def remove_nodes(self, names: Sequence[str], say: Progress) -> RemovedNodes:
        """The nodes leave as when their EC2 instances are terminated (harness/nodes/
        removal.py): their node agents stop driving them (an agent left with none
        stops), EC2 terminates the instances (their ENIs' addresses return to the
        subnet), HNS forgets their hosts, their Node objects are deleted, and their pods
        are left to the pod garbage collector (deleted here when none runs). The caller
        holds the supervision lock: an agent stopped here is no crash."""
        from harness.nodes import removal

        records = {r.name: r for r in self._records}
        unknown = [n for n in names if n not in records]
        if unknown:
            raise ValueError(f"not nodes of this environment: {', '.join(unknown)}")
        leaving = set(names)
        out = RemovedNodes(sorted(leaving), [records[n].instance_id for n in sorted(leaving)])
        out.agents_stopped = self._agents_forget(leaving)
        say(f"    node agents stopped driving {', '.join(out.names)}")
        # From now on the environment's node list (nodes.json too) no longer has them, so
        # no observer asks EC2 about an ENI that is about to go.
        self._records = [r for r in self._records if r.name not in leaving]
        self.nodes = [r.to_dict() for r in self._records]
        self.write_nodes_file(self._records)
        for group, members in self.groups.items():
            self.groups[group] = [m for m in members if m not in leaving]
        removal.terminate_instances(self.ec2_url, REGION, out.instance_ids)
        say(f"    instances {', '.join(out.instance_ids)} terminated")
        out.hns_unreachable = removal.forget_hns_hosts(self.hns_target, out.names)
        removal.delete_node_objects(self.cluster.api, out.names)
        say(f"    Nodes {', '.join(out.names)} deleted")
        orphans = removal.pods_on(self.cluster.api, out.names)
        if removal.pod_gc_runs(self.cluster.api):
            out.pods_left_to_gc = orphans
        else:
            out.pods_deleted = removal.delete_orphaned_pods(self.cluster.api, orphans)
        return out

    def _agents_forget(self, leaving: set[str]) -> list[Component]:
        """Rewrite each affected agent's config without the nodes `leaving` and have it
        re-read it (SIGHUP), or stop an agent none of whose nodes stays; return those
        stopped. A restarted agent reads the rewritten config, so it never drives them
        again."""
        from dataclasses import replace

        from harness.nodes.config import AgentConfig

        stopped = []
        for agent in list(self.agents):
            mine = self.agent_nodes.get(agent.name, [])
            rest = [n for n in mine if n not in leaving]
            if len(rest) == len(mine):
                continue
            path = Path(agent.argv[list(agent.argv).index("--config") + 1])
            cfg = AgentConfig.read(path)
            if not rest:
                agent.stop()
                self.agents.remove(agent)
                self.agent_nodes.pop(agent.name, None)
                if cfg.status_file:  # no stale rows of its nodes for status and reports
                    Path(cfg.status_file).unlink(missing_ok=True)
                stopped.append(agent)
                continue
            kept = tuple(e for e in cfg.nodes if e.spec.name not in leaving)
            replace(cfg, nodes=kept).write(path)
            self.agent_nodes[agent.name] = rest
            if agent.process is not None and agent.process.alive():
                agent.process.signal_and_wait(signal.SIGHUP, "nodes removed", START_TIMEOUT_S)
        return stopped

    def set_dsr(self, enabled: bool) -> None:
        """kube-proxy --enable-dsr (WinDSR) on or off: rewrite each agent's config, restart."""
        from dataclasses import replace

        self.spec = replace(self.spec, kube_proxy=replace(self.spec.kube_proxy, dsr=enabled))
        for agent in self.agents:
            path = Path(agent.argv[agent.argv.index("--config") + 1])
            config = json.loads(path.read_text())
            config["kube_proxy"] = kube_proxy_settings(self.spec)
            path.write_text(json.dumps(config, indent=2))
        self.restart_agents()

    def start_nodes(self, say: Progress) -> None:
        """EC2 instances, node credentials and the node agent; wait until all are Ready."""
        for group in self.spec.nodes:
            self.groups[group.name] = group.node_names()
        plan = NodeLaunch(
            nodes=tuple(node_specs(self.spec, self.subnet_ids, REGION)),
            ec2_url=self.ec2_url,
            hns_target=self.hns_target,
            region=REGION,
            run_dir=self.run_dir,
            spec=self.spec,
        )
        self._launch(plan, say, self._agent_names(self.spec.node_agent.shards(len(plan.nodes))))

    def write_nodes_file(self, records: list[NodeRecord]) -> None:
        """nodes.json: where `ekswin status` and the invariants find the nodes."""
        (self.run_dir / "nodes.json").write_text(
            json.dumps(
                {
                    "ec2": self.ec2_url,
                    "hns": self.hns_target,
                    "region": REGION,
                    "vpc_id": self.vpc_id,
                    "subnets": self.subnet_ids,
                    "prefix_delegation_flag": self.spec.prefix_delegation_flag(),
                    "nodes": [r.to_dict() for r in records],
                },
                indent=1,
            )
        )

    def wait_nodes_schedulable(
        self, say: Progress, timeout_s: float, names: set[str] | None = None
    ) -> None:
        """Wait until every node (or those `names`) is Ready and (IPAM on, a controller
        running) advertises its pod IPs as allocatable, so the scheduler can place
        Windows pods at once."""
        from harness.nodes.progress import list_windows_nodes, wait_schedulable

        names = names if names is not None else {n["name"] for n in self.nodes}
        wait_schedulable(
            lambda: list_windows_nodes(self.cluster.api),
            names,
            self._needs_ip(),
            timeout_s,
            "every Windows node Ready",
            say,
        )


def _answers(url: str) -> bool:
    """True once `url` answers 200 (the upstream controller's health probe)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=2.0) as resp:
        return bool(resp.status == 200)


def _listening(port: int) -> bool:
    """True once something accepts TCP connections on loopback `port`."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2.0):
        return True
