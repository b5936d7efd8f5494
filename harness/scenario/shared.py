"""Scenarios whose environment specs are equal share one running environment, reset
between them instead of restarting it.

Reset brings a used environment back to what a fresh start of its spec gives: the
scenario's pods and Services deleted (their IPs released, HNS endpoints and load
balancers gone), the ConfigMap as the spec has it, EC2 faults cleared and the fault
seed restarted, fragmentation and CIDR reservations as the spec has them, every
secondary IP and prefix unassigned from the nodes' ENIs, and the controller's IPAM
rebuilt with no state, so its pools (and cool-downs) are learnt again from EC2 — as the
real controller learns them after a restart. The controller process is not restarted:
it pauses its IPAM (SIGUSR1, its workers joined, so none of its EC2 calls lands during
the reset) and rebuilds it (SIGUSR2) around the EC2 reset, which keeps a reset well
under a second instead of a process start, a leader election and a webhook
registration. A scenario that changed the environment's structure (added or
removed nodes, added subnets, switched DSR, reconfigured HNS ports, stopped, restarted
or killed a component) is not reused: its environment is stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.env import Environment
from harness.scenario.live import put_configmap
from harness.scenario.model import Scenario
from harness.scenario.workload import GROUP_LABEL, NAMESPACE
from harness.spec import REGION, EnvSpec
from harness.waiting import wait_until

#: Step kinds after which an environment no longer equals a fresh start of its spec.
STRUCTURAL = frozenset(
    {
        "add_nodes",
        "remove_nodes",
        "add_subnet",
        "set_dsr",
        "hns_ports",
        "stop",
        "start",
        "restart",
        "kill",
        "apply",
    }
)
RESET_TIMEOUT_S = 60.0


def share_key(spec: EnvSpec) -> str:
    """Specs that may share an environment have equal keys (the name does not count)."""
    doc = spec.to_dict()
    doc.pop("name", None)
    return json.dumps(doc, sort_keys=True)


def reusable_after(scenario: Scenario) -> bool:
    """True when no step changed the environment's structure."""
    return not any(step.kind in STRUCTURAL for step in scenario.steps)


def reset(env: Environment) -> float:
    """Bring `env` back to a fresh start's state (see the module docstring); seconds."""
    from kubernetes import client

    t0 = time.monotonic()
    core = client.CoreV1Api(env.cluster.api)
    pipe = env.pipeline
    core.delete_collection_namespaced_pod(
        NAMESPACE, label_selector=GROUP_LABEL, grace_period_seconds=0
    )
    for svc in core.list_namespaced_service(NAMESPACE, label_selector=GROUP_LABEL).items:
        core.delete_namespaced_service(svc.metadata.name, NAMESPACE)
    put_configmap(core, env.spec.configmap)
    if pipe is None:
        return time.monotonic() - t0
    wait_until(
        lambda: not core.list_namespaced_pod(NAMESPACE, label_selector=GROUP_LABEL).items,
        RESET_TIMEOUT_S,
        "the previous scenario's pods gone (CNI DEL on their nodes)",
    )
    wait_until(
        lambda: _hns_empty(pipe.hns_target),
        RESET_TIMEOUT_S,
        "HNS endpoints and load balancers gone",
    )
    pipe.reset_controllers(lambda: _reset_ec2(pipe, env.spec))
    pipe.wait_nodes_schedulable(lambda m: None, RESET_TIMEOUT_S)
    return time.monotonic() - t0


def _hns_empty(target: str) -> bool:
    from fake_hns.client import HnsClient

    with HnsClient(target, host="") as hns:
        dump = json.loads(hns.dump_state(all_hosts=True))
    return all(
        not body.get("endpoints") and not body.get("loadBalancers")
        for body in (dump.get("hosts") or {}).values()
    )


def _reset_ec2(pipe: Any, spec: EnvSpec) -> None:
    """Faults, fragmentation, reservations as the spec has them; ENIs emptied."""
    from harness.nodes.ec2 import ec2_client

    admin = pipe.admin()
    admin.clear_faults()
    admin.set_seed(spec.seed)
    ec2 = ec2_client(pipe.ec2_url, REGION)
    for subnet in spec.vpc.subnets:
        sid = pipe.subnet_ids[subnet.name]
        admin.unfragment(sid)
        wanted = {(r.cidr, r.type) for r in subnet.reservations}
        have = ec2.get_subnet_cidr_reservations(SubnetId=sid)["SubnetIpv4CidrReservations"]
        for r in have:
            if (r["Cidr"], r["ReservationType"]) not in wanted:
                ec2.delete_subnet_cidr_reservation(
                    SubnetCidrReservationId=r["SubnetCidrReservationId"]
                )
        if subnet.fragment is not None:
            admin.fragment(sid, subnet.fragment.every, subnet.fragment.offset)
    enis = [n["eni_id"] for n in pipe.nodes]
    for eni in ec2.describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"]:
        secondary = [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"] if not a["Primary"]]
        prefixes = [p["Ipv4Prefix"] for p in eni.get("Ipv4Prefixes", [])]
        if secondary or prefixes:
            kwargs: dict[str, Any] = {"NetworkInterfaceId": eni["NetworkInterfaceId"]}
            if secondary:
                kwargs["PrivateIpAddresses"] = secondary
            if prefixes:
                kwargs["Ipv4Prefixes"] = prefixes
            ec2.unassign_private_ip_addresses(**kwargs)


class SharedEnvironments:
    """Keeps the last scenario's environment running for the next one with an equal
    spec (one idle environment at most, so memory stays that of one)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.idle: tuple[str, Environment] | None = None
        self.reused = 0
        self.last_reset_s: float | None = None

    def take(self, scenario: Scenario) -> Environment | None:
        """A reset environment for `scenario`'s spec, or None (start a fresh one)."""
        key = share_key(scenario.spec)
        if self.idle is None:
            return None
        idle_key, env = self.idle
        self.idle = None
        if idle_key != key:
            env.stop()
            return None
        try:
            self.last_reset_s = reset(env)
        except Exception:  # a reset that fails: start fresh rather than run dirty
            env.stop()
            return None
        self.reused += 1
        return env

    def give_back(self, scenario: Scenario, env: Environment) -> None:
        """Keep `env` for the next scenario when it still equals its spec, else stop it."""
        if not reusable_after(scenario):
            env.stop()
            return
        if self.idle is not None:
            self.idle[1].stop()
        self.idle = (share_key(env.spec), env)

    def close(self) -> None:
        """Stop the idle environment."""
        if self.idle is not None:
            self.idle[1].stop()
            self.idle = None
