"""Start the Windows nodes of an environment: EC2 instances, node identities, the agent.

:func:`start_nodes` takes a typed :class:`NodeLaunch` (built by the pipeline from the
environment spec) and the cluster; it never reaches into the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.components import Component, ListeningLine, python_module
from harness.nodes.config import AgentConfig, CniSettings, NodeEntry
from harness.nodes.ec2 import register_instances
from harness.nodes.spec import NodeSpec
from harness.spec import EnvSpec, NodeGroup, Subnet, Timing

if TYPE_CHECKING:
    from harness.process import Supervisor


class NodeIdentities(Protocol):
    """What starting nodes needs of a cluster: node credentials and a supervisor (a
    backend, or the join credentials of a host joining another's environment)."""

    @property
    def supervisor(self) -> Supervisor:
        """Where the node agents run."""

    def issue_client_kubeconfig(self, user: str, groups: Sequence[str], path: Path) -> Path:
        """A kubeconfig with a client certificate for `user` in `groups`."""


@dataclass(frozen=True)
class NodeRecord:
    """One started node, as nodes.json records it."""

    name: str
    instance_id: str
    instance_type: str
    private_ip: str
    eni_id: str
    kubeconfig: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class NodeLaunch:
    """Everything the node step needs, typed."""

    nodes: tuple[NodeSpec, ...]
    ec2_url: str
    hns_target: str  # host:port
    region: str
    run_dir: Path
    spec: EnvSpec

    @property
    def timing(self) -> Timing:
        """The environment's timing."""
        return self.spec.timing

    def ready_timeout_s(self) -> float:
        """How long the nodes may take to be registered, initialised and Ready: grows
        with the node count and the controller's client rate limits."""
        from harness.spec.scale import nodes_ready_deadline_s

        return nodes_ready_deadline_s(len(self.nodes), self.timing, ipam=self.spec.ipam_enabled())


def node_specs(spec: EnvSpec, subnet_ids: dict[str, str], region: str) -> list[NodeSpec]:
    """A NodeSpec per node of the environment spec, launched into its group's subnet."""
    out = []
    for group in spec.nodes:
        subnet = spec.subnet_of(group)
        out += node_specs_for(group, subnet, subnet_ids[subnet.name], region)
    return out


def node_specs_for(group: NodeGroup, subnet: Subnet, subnet_id: str, region: str) -> list[NodeSpec]:
    """The NodeSpecs of one node group in its subnet."""
    return [
        NodeSpec(
            name=name,
            instance_type=group.instance_type,
            subnet_id=subnet_id,
            availability_zone=subnet.az,
            region=region,
            max_pods=group.max_pods,
            windows_build=group.windows_build,
        )
        for name in group.node_names()
    ]


def kube_proxy_settings(spec: EnvSpec) -> dict[str, Any]:
    """The agent's kube_proxy block: `dsr` means ``--enable-dsr`` plus ``WinDSR=true``."""
    kp: dict[str, Any] = {
        "sync_period_s": spec.kube_proxy.sync_period_s,
        "min_sync_period_s": spec.kube_proxy.min_sync_period_s,
    }
    if spec.kube_proxy.dsr:
        kp["enable_dsr"] = True
        kp["feature_gates"] = {"WinDSR": True}
    return kp


def hns_host_settings(spec: EnvSpec) -> dict[str, Any]:
    """fake_hns CreateHost fields for the spec's port-pool parameters (unset: defaults)."""
    return spec.hns.to_dict()


def agent_config(
    plan: NodeLaunch, entries: Sequence[NodeEntry], kube_proxy_kubeconfig: str, comp: Path
) -> AgentConfig:
    """The node agent's configuration for this launch."""
    agent = plan.spec.node_agent
    return AgentConfig(
        kube_proxy_kubeconfig=kube_proxy_kubeconfig,
        kube_proxy_enabled=agent.kube_proxy,
        nodes=tuple(entries),
        hns_target=plan.hns_target,
        timing_profile=plan.timing.kubelet_profile(),
        kube_proxy=kube_proxy_settings(plan.spec),
        hns_host=hns_host_settings(plan.spec),
        cni=CniSettings(
            mode=agent.cni_mode,
            service_cidr=agent.service_cidr,
            annotation_timeout_s=plan.timing.cni_annotation_wait_s,
            concurrency=agent.cni_concurrency,
        ),
        ec2_endpoint=plan.ec2_url,
        region=plan.region,
        seed=plan.spec.seed,
        status_file=str(comp / "agent-status.json"),
    )


def start_nodes(
    plan: NodeLaunch,
    cluster: NodeIdentities,
    say: Callable[[str], None],
    agent_names: Sequence[str] = ("node-agent",),
    *,
    kube_proxy: Callable[[Path], Path] | None = None,
    identity_workers: int = 1,
) -> tuple[list[Component], list[NodeRecord]]:
    """Launch instances, issue node credentials (`identity_workers` at a time), then
    start one node agent per name in `agent_names` (shards, each driving a contiguous
    slice of the nodes) and wait for every one of them. `kube_proxy(path)` writes
    kube-proxy's kubeconfig (default: its ServiceAccount, installed through `cluster`)."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.kubeproxy.identity import kube_proxy_kubeconfig
    from harness.spec.scale import agent_ready_deadline_s, shard_slices

    comp = plan.run_dir / "components" / "nodes"
    comp.mkdir(parents=True, exist_ok=True)
    launched = register_instances(plan.nodes, plan.ec2_url, plan.region)
    say(f"{len(launched)} EC2 instance(s) running")

    def identity(spec: NodeSpec) -> str:
        path = comp / f"{spec.name}.kubeconfig"
        return str(
            cluster.issue_client_kubeconfig(f"system:node:{spec.name}", ["system:nodes"], path)
        )

    specs = [spec for spec, _ in launched]
    if identity_workers > 1:
        with ThreadPoolExecutor(max_workers=identity_workers) as pool:
            kubeconfigs = list(pool.map(identity, specs))
    else:
        kubeconfigs = [identity(spec) for spec in specs]
    entries = [
        NodeEntry(spec, kubeconfig, inst)
        for (spec, inst), kubeconfig in zip(launched, kubeconfigs, strict=True)
    ]
    say(f"{len(entries)} node identities issued")
    kp_path = comp / "kube-proxy.kubeconfig"
    kp = kube_proxy(kp_path) if kube_proxy else kube_proxy_kubeconfig(cluster, kp_path)
    slices = shard_slices(len(entries), len(agent_names))
    agents = []
    for name, part in zip(agent_names, slices, strict=False):
        files = comp if name == "node-agent" else comp / name
        files.mkdir(parents=True, exist_ok=True)
        shard = [entries[i] for i in part]
        path = agent_config(plan, shard, str(kp), files).write(files / "agent.json")
        agents.append(
            Component(
                name,
                python_module("harness.nodes", "--config", str(path)),
                ListeningLine(),
                stop_grace_s=3.0,
            ).start(cluster.supervisor)
        )
    # The shards register their nodes side by side: each may take as long as all the
    # nodes would (they share the machine's cores and the API server).
    deadline = agent_ready_deadline_s(len(entries))
    for agent in agents:
        agent.wait_ready(deadline)  # printed once every node of the shard is registered
    say(
        f"{len(entries)} Windows node(s) registered by {len(agents)} node agent(s)"
        if len(agents) > 1
        else f"{len(entries)} Windows node(s) registered"
    )
    records = [
        NodeRecord(
            name=s.name,
            instance_id=i.instance_id,
            instance_type=s.instance_type,
            private_ip=i.private_ip,
            eni_id=i.eni_id,
            kubeconfig=str(e.kubeconfig),
        )
        for (s, i), e in zip(launched, entries, strict=True)
    ]
    return agents, records
