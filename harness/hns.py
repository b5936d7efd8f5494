"""One node's HNS as the harness uses it: the CNI plugin, the kubelet emulation, kube-proxy.

Built on fake_hns's own client (``fake_hns.client.HnsClient``, which speaks the gRPC
API and rebuilds HNS errors from the trailing metadata); this layer speaks in the terms
vpc-bridge and winkernel use (find-or-create network, ``cid-`` endpoints, namespace
attach, load balancers for a Service port) and turns every failure into one
``HnsFailure`` carrying the HRESULT and the hcsshim-formatted line
(``hcnCreateLoadBalancer failed in Win32: ... (0x803b0013)``). Imports grpc and the
generated stubs, nothing heavier: the exec'd plugin imports it when it runs locally.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import grpc

from fake_hns.client import (
    DSR,
    LOCAL_ROUTED_VIP,
    NAT_LOCAL_ROUTED_VIP,
    NOT_FOUND_HRESULTS,
    REMOTE_ENDPOINT,
    TCP,
    UDP,
    HnsClient,
    HnsError,
    HnsRpcError,
    UnknownHostError,
    l2bridge_network,
    pb,
)
from fake_hns.errors import ERROR_OBJECT_ALREADY_EXISTS, HCN_E_NETWORK_ALREADY_EXISTS
from fake_hns.objects import NETWORK_TYPES

BUILDS = {"10.0.17763": "ltsc2019", "10.0.20348": "ltsc2022"}
RPC_TIMEOUT_S = 30.0
# A network another ADD created between our lookup and our create: same name or same id.
_NETWORK_EXISTS = (HCN_E_NETWORK_ALREADY_EXISTS, ERROR_OBJECT_ALREADY_EXISTS)
_TYPE_NAMES = {t.upper(): t for t in NETWORK_TYPES}  # NETWORK_TYPE_L2BRIDGE -> "L2Bridge"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class HnsFailure(Exception):
    """An HNS call failed. ``str()`` is the hcsshim-formatted line when HNS gave one,
    else ``<RPC>: <gRPC status>: <details>``."""

    def __init__(
        self, message: str, hresult: int = 0, call: str = "", code: grpc.StatusCode | None = None
    ) -> None:
        super().__init__(message)
        self.hresult = hresult
        self.call = call
        self.code = code

    @property
    def not_found(self) -> bool:
        """The object was not there (network/endpoint not found, element not found)."""
        return self.hresult in NOT_FOUND_HRESULTS


def _failure(err: HnsError | HnsRpcError | UnknownHostError) -> HnsFailure:
    if isinstance(err, HnsError):
        return HnsFailure(str(err), err.hresult, err.call)
    if isinstance(err, HnsRpcError):
        return HnsFailure(f"{err.method}: {err}", code=err.code)
    return HnsFailure(f"{err.method}: NOT_FOUND: {err}", code=grpc.StatusCode.NOT_FOUND)


def _hns_call(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Raise fake_hns client errors out of `fn` as HnsFailure."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except (HnsError, HnsRpcError, UnknownHostError) as e:
            raise _failure(e) from None

    return wrapper


@dataclass(frozen=True)
class NetworkInfo:
    """The parts of an HNS network the plugin and tests look at."""

    id: str
    name: str
    type: str  # "L2Bridge", ...
    subnet: str
    gateway: str


@dataclass(frozen=True)
class EndpointInfo:
    """The parts of an HNS endpoint the plugin, kubelet and tests look at."""

    id: str
    name: str
    ip: str
    mac: str
    namespace: str
    remote: bool
    snat_exceptions: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LbInfo:
    """An HNS load balancer as kube-proxy sees it."""

    id: str
    frontend_vip: str
    protocol: int
    internal_port: int
    external_port: int
    dsr: bool
    backends: tuple[str, ...]


def _network(n: pb.Network) -> NetworkInfo:
    subnet, gateway = "", ""
    for ipam in n.ipams:
        for s in ipam.subnets:
            subnet = subnet or s.ip_address_prefix
            for r in s.routes:
                if r.destination_prefix == "0.0.0.0/0":
                    gateway = gateway or r.next_hop
    type_name = pb.NetworkType.Name(n.type).removeprefix("NETWORK_TYPE_")
    return NetworkInfo(n.id, n.name, _TYPE_NAMES.get(type_name, type_name), subnet, gateway)


def _endpoint(e: pb.Endpoint) -> EndpointInfo:
    snat: list[str] = []
    routes: list[str] = []
    for p in e.policies:
        kind = p.WhichOneof("policy")
        if kind == "out_bound_nat":
            snat.extend(p.out_bound_nat.exceptions)
        elif kind == "sdn_route":
            routes.append(p.sdn_route.destination_prefix)
    ip = e.ip_configurations[0].ip_address if e.ip_configurations else ""
    mac = e.mac_address.replace("-", ":").lower()
    return EndpointInfo(
        e.id,
        e.name,
        ip,
        mac,
        e.host_compute_namespace,
        bool(e.flags & REMOTE_ENDPOINT),
        snat,
        routes,
    )


def _lb(lb: pb.LoadBalancer) -> LbInfo:
    pm = lb.port_mappings[0] if lb.port_mappings else None
    return LbInfo(
        lb.id,
        lb.frontend_vips[0] if lb.frontend_vips else "",
        pm.protocol if pm else 0,
        pm.internal_port if pm else 0,
        pm.external_port if pm else 0,
        bool(lb.flags & DSR),
        tuple(lb.host_compute_endpoints),
    )


class NodeHns:
    """The HNS of one node on a fake_hns server. Blocking, thread-safe; its own channel
    unless one is passed in (a shared channel is not closed by ``close``)."""

    def __init__(self, target: str, host: str, channel: grpc.Channel | None = None) -> None:
        self.client = HnsClient(target, host, timeout=RPC_TIMEOUT_S, channel=channel)
        self.target = self.client.target
        self.host = host

    def __enter__(self) -> NodeHns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel (unless it is shared)."""
        self.client.close()

    # -- host ------------------------------------------------------------------------------
    @_hns_call
    def ensure_host(self, windows_build: str, settings: Mapping[str, Any] | None = None) -> None:
        """Create this node's HNS unless it exists (a restarted agent keeps its objects).

        `settings` carries the port-pool model's parameters (AgentConfig.hns_host)."""
        try:
            self.client.create_host(
                BUILDS.get(windows_build, windows_build), **host_fields(settings or {})
            )
        except HnsRpcError as e:
            if e.code != grpc.StatusCode.ALREADY_EXISTS:
                raise

    def host_exists(self) -> bool:
        """False when fake_hns does not know this node (it restarted empty); gRPC
        failures (HNS down) raise HnsFailure."""
        try:
            self.client.get_host()
        except UnknownHostError:
            return False
        except (HnsError, HnsRpcError) as e:
            raise _failure(e) from e
        return True

    @_hns_call
    def known_hosts(self) -> set[str]:
        """Every node fake_hns knows (one call for a whole agent's nodes: a node missing
        here lost its HNS state); gRPC failures raise HnsFailure."""
        return {h.name for h in self.client.list_hosts()}

    @_hns_call
    def list_namespaces(self) -> dict[str, list[str]]:
        """Namespace id -> the endpoint ids attached to it."""
        return {str(n.id): list(n.endpoint_ids) for n in self.client.list_namespaces()}

    # -- networks ----------------------------------------------------------------------------
    @_hns_call
    def get_network(self, name: str) -> NetworkInfo | None:
        """The network called `name`, or None."""
        found = self.client.list_networks(name=name)
        return _network(found[0]) if found else None

    @_hns_call
    def find_or_create_network(self, name: str, subnet: str, gateway: str) -> str:
        """vpc-bridge's FindOrCreateNetwork: L2Bridge, ENI subnet, default route via gateway."""
        found = self.get_network(name)
        if found is not None:
            return found.id
        try:
            return str(self.client.create_network(l2bridge_network(name, subnet, gateway)).id)
        except HnsError as e:
            if e.hresult in _NETWORK_EXISTS:  # created concurrently by another ADD: use it
                again = self.get_network(name)
                if again is not None:
                    return again.id
            raise

    # -- endpoints ---------------------------------------------------------------------------
    @_hns_call
    def get_endpoint(self, name: str) -> EndpointInfo | None:
        """The endpoint called `name`, or None."""
        found = self.client.list_endpoints(name=name)
        return _endpoint(found[0]) if found else None

    @_hns_call
    def endpoints_with_ip(self, ip: str) -> list[EndpointInfo]:
        """Endpoints (local and remote) holding `ip`."""
        return [_endpoint(e) for e in self.client.list_endpoints(ip_address=ip)]

    def find_endpoint_by_ip(self, ip: str) -> tuple[EndpointInfo, str] | None:
        """The local (pod) endpoint with `ip` and its namespace id, or None."""
        for ep in self.endpoints_with_ip(ip):
            if not ep.remote:
                return ep, ep.namespace
        return None

    @_hns_call
    def list_endpoints(self) -> list[EndpointInfo]:
        """All endpoints of the node."""
        return [_endpoint(e) for e in self.client.list_endpoints()]

    def count_endpoints(self) -> int:
        """Local (pod) endpoints."""
        return sum(1 for e in self.list_endpoints() if not e.remote)

    @_hns_call
    def create_endpoint(
        self,
        *,
        network_id: str,
        name: str,
        ip: str,
        prefix_length: int,
        snat_exceptions: list[str],
        routes: list[str],
        port_mappings: list[tuple[str, int, int]],
        dns_servers: list[str],
        dns_search: list[str],
    ) -> EndpointInfo:
        """An endpoint as vpc-bridge builds it (OutBoundNAT, SDN routes, port mappings)."""
        policies = [
            pb.EndpointPolicy(out_bound_nat=pb.OutboundNatPolicy(exceptions=snat_exceptions))
        ]
        for proto, container_port, host_port in port_mappings:
            policies.append(
                pb.EndpointPolicy(
                    port_mapping=pb.PortMappingPolicy(
                        internal_port=container_port,
                        external_port=host_port,
                        protocol=UDP if proto == "udp" else TCP,
                        flags=NAT_LOCAL_ROUTED_VIP,
                    )
                )
            )
        for dest in routes:
            policies.append(
                pb.EndpointPolicy(
                    sdn_route=pb.SdnRoutePolicy(destination_prefix=dest, need_encap=True)
                )
            )
        ep = pb.Endpoint(
            name=name,
            host_compute_network=network_id,
            ip_configurations=[pb.IpConfig(ip_address=ip, prefix_length=prefix_length)],
            dns=pb.Dns(search=dns_search, server_list=dns_servers),
            policies=policies,
        )
        return _endpoint(self.client.create_endpoint(ep))

    @_hns_call
    def delete_endpoint(self, endpoint_id: str) -> bool:
        """Delete; False when it was already gone."""
        return self.client.delete_endpoint(endpoint_id)

    # -- namespaces --------------------------------------------------------------------------
    @_hns_call
    def create_namespace(self) -> str:
        """A new HOST namespace (containerd creates one per pod sandbox); its id."""
        return str(self.client.create_namespace(pb.Namespace(type=pb.NAMESPACE_TYPE_HOST)).id)

    @_hns_call
    def delete_namespace(self, namespace_id: str) -> bool:
        """Delete; False when it was already gone."""
        return self.client.delete_namespace(namespace_id)

    @_hns_call
    def namespace_endpoints(self, namespace_id: str) -> list[str]:
        """Endpoint ids attached to a namespace ([] when the namespace does not exist)."""
        found = self.client.list_namespaces(id=namespace_id)
        return list(found[0].endpoint_ids) if found else []

    @_hns_call
    def attach(self, namespace_id: str, endpoint_id: str) -> None:
        """hcn.AddNamespaceEndpoint (no-op when already attached)."""
        if endpoint_id not in self.namespace_endpoints(namespace_id):
            self.client.add_namespace_endpoint(namespace_id, endpoint_id)

    @_hns_call
    def detach(self, namespace_id: str, endpoint_id: str) -> None:
        """hcn.RemoveNamespaceEndpoint."""
        self.client.remove_namespace_endpoint(namespace_id, endpoint_id)

    # -- load balancers (kube-proxy) -----------------------------------------------------------
    @_hns_call
    def list_load_balancers(self) -> list[LbInfo]:
        """All load balancers of the node."""
        return [_lb(lb) for lb in self.client.list_load_balancers()]

    def count_load_balancers(self) -> int:
        """Number of load balancers."""
        return len(self.list_load_balancers())

    @_hns_call
    def backend_endpoint_ids(self, ips: list[str], local_ips: Collection[str] = ()) -> list[str]:
        """HNS endpoint ids for backend IPs: the local endpoint, else a remote endpoint
        (created on the node's L2Bridge network, as winkernel does for remote pods).
        An IP of `local_ips` (this node's pods) without its endpoint yet is left out, as
        winkernel skips a local endpoint it does not find: never a remote one for it."""
        ids: list[str] = []
        network: NetworkInfo | None = None
        for ip in ips:
            existing = self.endpoints_with_ip(ip)
            local = [e for e in existing if not e.remote]
            if local or existing:
                ids.append((local or existing)[0].id)
                continue
            if ip in local_ips:
                continue
            if network is None:
                network = self._l2bridge_for(ip)
            ep = pb.Endpoint(
                name="",
                host_compute_network=network.id,
                flags=REMOTE_ENDPOINT,
                ip_configurations=[pb.IpConfig(ip_address=ip, prefix_length=32)],
            )
            ids.append(str(self.client.create_endpoint(ep).id))
        return ids

    def _l2bridge_for(self, ip: str) -> NetworkInfo:
        nets = [
            _network(n) for n in self.client.list_networks() if n.type == pb.NETWORK_TYPE_L2BRIDGE
        ]
        if not nets:
            raise HnsFailure("no L2Bridge network on the node yet (kube-proxy waits for it)")
        addr = ipaddress.ip_address(ip)
        for n in nets:
            if n.subnet and addr in ipaddress.ip_network(n.subnet, strict=False):
                return n
        return nets[0]

    def remove_unused_remote_endpoints(self, keep: set[str]) -> int:
        """Delete remote endpoints no load balancer references (winkernel's refcount)."""
        removed = 0
        for ep in self.list_endpoints():
            if ep.remote and ep.id not in keep:
                self.delete_endpoint(ep.id)
                removed += 1
        return removed

    @_hns_call
    def create_load_balancer(self, spec: Any, backend_ids: list[str], source_vip: str) -> str:
        """hcnCreateLoadBalancer for one kube-proxy LbSpec; the new id."""
        lb = pb.LoadBalancer(
            host_compute_endpoints=backend_ids,
            source_vip=source_vip,
            frontend_vips=[spec.frontend_vip] if spec.frontend_vip else [],
            port_mappings=[
                pb.LoadBalancerPortMapping(
                    protocol=spec.protocol,
                    internal_port=spec.internal_port,
                    external_port=spec.external_port,
                    distribution_type=pb.LOAD_BALANCER_DISTRIBUTION_NONE,
                    flags=LOCAL_ROUTED_VIP if spec.local_routed_vip else 0,
                )
            ],
            flags=DSR if spec.dsr else 0,
        )
        return str(self.client.create_load_balancer(lb).id)

    @_hns_call
    def delete_load_balancer(self, lb_id: str) -> bool:
        """Delete; False when it was already gone."""
        return self.client.delete_load_balancer(lb_id)

    @_hns_call
    def load_balancer_matches(self, lb_id: str, spec: Any) -> bool:
        """True when load balancer `lb_id` already implements `spec` (adoption)."""
        found = self.client.list_load_balancers(id=lb_id)
        if not found:
            return False
        have = _lb(found[0])
        return (
            have.frontend_vip,
            have.protocol,
            have.internal_port,
            have.external_port,
            have.dsr,
        ) == (
            spec.frontend_vip,
            spec.protocol,
            spec.internal_port,
            spec.external_port,
            spec.dsr,
        ) and len(have.backends) == len(spec.backends)


def host_fields(settings: Mapping[str, Any]) -> dict[str, Any]:
    """CreateHostRequest fields from AgentConfig.hns_host (ranges as [first, last])."""
    out: dict[str, Any] = {}
    if "dynamic_port_range" in settings:
        a, b = settings["dynamic_port_range"]
        out["dynamic_port_range"] = pb.PortRange(start=int(a), end=int(b))
    if "excluded_port_ranges" in settings:
        out["excluded_port_ranges"] = [
            pb.PortRange(start=int(a), end=int(b)) for a, b in settings["excluded_port_ranges"]
        ]
    for key in ("port_block_size", "max_non_dsr_backends"):
        if key in settings:
            out[key] = int(settings[key])
    if "host_held_ports" in settings:
        out["host_held_ports"] = [int(p) for p in settings["host_held_ports"]]
    return out
