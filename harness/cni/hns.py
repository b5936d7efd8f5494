"""One node's HNS as the CNI plugin, the kubelet emulation and kube-proxy use it.

A thin layer over fake_hns's gRPC API (``fake_hns/proto/hns.proto``): it speaks in the
terms vpc-bridge and winkernel use (find-or-create network, ``cid-`` endpoints,
namespace attach, load balancers for a Service port) and turns gRPC failures into
``HnsFailure`` carrying the HRESULT and the hcsshim-formatted line
(``hcnCreateLoadBalancer failed in Win32: ... (0x803b0013)``). Imports only grpc and
the generated stubs, so the exec'd plugin stays light.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from fake_hns.proto import hns_pb2 as pb
from fake_hns.proto import hns_pb2_grpc as pb_grpc

REMOTE_ENDPOINT = 1  # hcn.EndpointFlags RemoteEndpoint
LB_DSR = 1  # hcn.LoadBalancerFlags
PORTMAP_LOCAL_ROUTED_VIP = 2  # hcn.LoadBalancerPortMappingFlags
NOT_FOUND_HRESULTS = {0x803B0001, 0x803B0002, 0x490}
BUILDS = {"10.0.17763": "ltsc2019", "10.0.20348": "ltsc2022"}
RPC_TIMEOUT_S = 30.0


class HnsFailure(Exception):
    """An HNS call failed. ``str()`` is the hcsshim-formatted line when HNS gave one."""

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


def _failure(e: grpc.RpcError, what: str) -> HnsFailure:
    md: dict[str, Any] = {}
    if hasattr(e, "trailing_metadata"):
        for item in e.trailing_metadata() or ():
            md[str(item[0])] = item[1]  # type: ignore[index]
    raw = md.get("hns-hresult", "")
    hresult = int(str(raw), 16) if raw else 0
    code = e.code() if hasattr(e, "code") else None
    details = (e.details() if hasattr(e, "details") else "") or ""
    if not hresult:
        details = f"{what}: {code.name if code else 'error'}: {details}"
    return HnsFailure(details, hresult, str(md.get("hns-call", "")), code)


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


def _network(n: Any) -> NetworkInfo:
    subnet, gateway = "", ""
    for ipam in n.ipams:
        for s in ipam.subnets:
            subnet = subnet or s.ip_address_prefix
            for r in s.routes:
                if r.destination_prefix == "0.0.0.0/0":
                    gateway = gateway or r.next_hop
    type_name = pb.NetworkType.Name(n.type).removeprefix("NETWORK_TYPE_")
    pretty = {
        "L2BRIDGE": "L2Bridge",
        "L2TUNNEL": "L2Tunnel",
        "NAT": "NAT",
        "ICS": "ICS",
        "TRANSPARENT": "Transparent",
        "PRIVATE": "Private",
        "OVERLAY": "Overlay",
    }
    return NetworkInfo(n.id, n.name, pretty.get(type_name, type_name), subnet, gateway)


def _endpoint(e: Any) -> EndpointInfo:
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


def _lb(lb: Any) -> LbInfo:
    pm = lb.port_mappings[0] if lb.port_mappings else None
    return LbInfo(
        lb.id,
        lb.frontend_vips[0] if lb.frontend_vips else "",
        pm.protocol if pm else 0,
        pm.internal_port if pm else 0,
        pm.external_port if pm else 0,
        bool(lb.flags & LB_DSR),
        tuple(lb.host_compute_endpoints),
    )


class NodeHns:
    """The HNS of one node on a fake_hns server. Blocking, thread-safe; its own channel
    unless one is passed in."""

    def __init__(self, target: str, host: str, channel: grpc.Channel | None = None) -> None:
        self.target = target.removeprefix("grpc://")
        self.host = host
        # A channel passed in is shared (many nodes, one fake_hns) and not ours to close.
        self.owns_channel = channel is None
        self.channel = channel if channel is not None else grpc.insecure_channel(self.target)
        self.stub = pb_grpc.HostNetworkServiceStub(self.channel)

    def __enter__(self) -> NodeHns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel (unless it is shared)."""
        if self.owns_channel:
            self.channel.close()

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as e:
            raise _failure(e, method) from None

    # -- host ------------------------------------------------------------------------------
    def ensure_host(self, windows_build: str, settings: Mapping[str, Any] | None = None) -> None:
        """Create this node's HNS unless it exists (a restarted agent keeps its objects).

        `settings` carries the port-pool model's parameters (AgentConfig.hns_host)."""
        build = BUILDS.get(windows_build, windows_build)
        fields = host_fields(settings or {})
        try:
            self._call(
                "CreateHost", pb.CreateHostRequest(host=self.host, windows_build=build, **fields)
            )
        except HnsFailure as e:
            if e.code != grpc.StatusCode.ALREADY_EXISTS:
                raise

    # -- networks ----------------------------------------------------------------------------
    def get_network(self, name: str) -> NetworkInfo | None:
        """The network called `name`, or None."""
        resp = self._call("ListNetworks", pb.ListRequest(host=self.host, name=name))
        return _network(resp.networks[0]) if resp.networks else None

    def find_or_create_network(self, name: str, subnet: str, gateway: str) -> str:
        """vpc-bridge's FindOrCreateNetwork: L2Bridge, ENI subnet, default route via gateway."""
        found = self.get_network(name)
        if found is not None:
            return found.id
        net = pb.Network(
            name=name,
            type=pb.NETWORK_TYPE_L2BRIDGE,
            ipams=[
                pb.Ipam(
                    type="Static",
                    subnets=[
                        pb.Subnet(
                            ip_address_prefix=subnet,
                            routes=[pb.Route(next_hop=gateway, destination_prefix="0.0.0.0/0")],
                        )
                    ],
                )
            ],
            policies=[
                pb.NetworkPolicy(
                    type="NetAdapterName", settings='{"NetworkAdapterName": "Ethernet"}'
                )
            ],
        )
        try:
            return str(
                self._call("CreateNetwork", pb.CreateNetworkRequest(host=self.host, network=net)).id
            )
        except HnsFailure as e:
            if e.hresult == 0x1392:  # created concurrently by another ADD: use it
                again = self.get_network(name)
                if again is not None:
                    return again.id
            raise

    # -- endpoints ---------------------------------------------------------------------------
    def get_endpoint(self, name: str) -> EndpointInfo | None:
        """The endpoint called `name`, or None."""
        resp = self._call("ListEndpoints", pb.ListRequest(host=self.host, name=name))
        return _endpoint(resp.endpoints[0]) if resp.endpoints else None

    def endpoints_with_ip(self, ip: str) -> list[EndpointInfo]:
        """Endpoints (local and remote) holding `ip`."""
        resp = self._call("ListEndpoints", pb.ListRequest(host=self.host, ip_address=ip))
        return [_endpoint(e) for e in resp.endpoints]

    def find_endpoint_by_ip(self, ip: str) -> tuple[EndpointInfo, str] | None:
        """The local (pod) endpoint with `ip` and its namespace id, or None."""
        for ep in self.endpoints_with_ip(ip):
            if not ep.remote:
                return ep, ep.namespace
        return None

    def list_endpoints(self) -> list[EndpointInfo]:
        """All endpoints of the node."""
        resp = self._call("ListEndpoints", pb.ListRequest(host=self.host))
        return [_endpoint(e) for e in resp.endpoints]

    def count_endpoints(self) -> int:
        """Local (pod) endpoints."""
        return sum(1 for e in self.list_endpoints() if not e.remote)

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
                        protocol=17 if proto == "udp" else 6,
                        flags=1,
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
        return _endpoint(
            self._call("CreateEndpoint", pb.CreateEndpointRequest(host=self.host, endpoint=ep))
        )

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """Delete; False when it was already gone."""
        return bool(
            self._call("DeleteEndpoint", pb.DeleteRequest(host=self.host, id=endpoint_id)).deleted
        )

    # -- namespaces --------------------------------------------------------------------------
    def create_namespace(self) -> str:
        """A new HOST namespace (containerd creates one per pod sandbox); its id."""
        ns = self._call(
            "CreateNamespace",
            pb.CreateNamespaceRequest(
                host=self.host, namespace=pb.Namespace(type=pb.NAMESPACE_TYPE_HOST)
            ),
        )
        return str(ns.id)

    def delete_namespace(self, namespace_id: str) -> bool:
        """Delete; False when it was already gone."""
        return bool(
            self._call("DeleteNamespace", pb.DeleteRequest(host=self.host, id=namespace_id)).deleted
        )

    def namespace_endpoints(self, namespace_id: str) -> list[str]:
        """Endpoint ids attached to a namespace ([] when the namespace does not exist)."""
        resp = self._call("ListNamespaces", pb.ListRequest(host=self.host, id=namespace_id))
        return list(resp.namespaces[0].endpoint_ids) if resp.namespaces else []

    def attach(self, namespace_id: str, endpoint_id: str) -> None:
        """hcn.AddNamespaceEndpoint (no-op when already attached)."""
        if endpoint_id in self.namespace_endpoints(namespace_id):
            return
        self._call(
            "ModifyNamespace",
            pb.ModifyNamespaceRequest(
                host=self.host,
                namespace_id=namespace_id,
                request_type=pb.MODIFY_REQUEST_TYPE_ADD,
                endpoint_id=endpoint_id,
            ),
        )

    def detach(self, namespace_id: str, endpoint_id: str) -> None:
        """hcn.RemoveNamespaceEndpoint."""
        self._call(
            "ModifyNamespace",
            pb.ModifyNamespaceRequest(
                host=self.host,
                namespace_id=namespace_id,
                request_type=pb.MODIFY_REQUEST_TYPE_REMOVE,
                endpoint_id=endpoint_id,
            ),
        )

    # -- load balancers (kube-proxy) -----------------------------------------------------------
    def list_load_balancers(self) -> list[LbInfo]:
        """All load balancers of the node."""
        resp = self._call("ListLoadBalancers", pb.ListRequest(host=self.host))
        return [_lb(lb) for lb in resp.load_balancers]

    def count_load_balancers(self) -> int:
        """Number of load balancers."""
        return len(self.list_load_balancers())

    def backend_endpoint_ids(self, ips: list[str]) -> list[str]:
        """HNS endpoint ids for backend IPs: the local endpoint, else a remote endpoint
        (created on the node's L2Bridge network, as winkernel does for remote pods)."""
        ids: list[str] = []
        network: NetworkInfo | None = None
        for ip in ips:
            existing = self.endpoints_with_ip(ip)
            local = [e for e in existing if not e.remote]
            if local or existing:
                ids.append((local or existing)[0].id)
                continue
            if network is None:
                network = self._l2bridge_for(ip)
            ep = pb.Endpoint(
                name="",
                host_compute_network=network.id,
                flags=REMOTE_ENDPOINT,
                ip_configurations=[pb.IpConfig(ip_address=ip, prefix_length=32)],
            )
            ids.append(
                str(
                    self._call(
                        "CreateEndpoint", pb.CreateEndpointRequest(host=self.host, endpoint=ep)
                    ).id
                )
            )
        return ids

    def _l2bridge_for(self, ip: str) -> NetworkInfo:
        resp = self._call("ListNetworks", pb.ListRequest(host=self.host))
        nets = [_network(n) for n in resp.networks if n.type == pb.NETWORK_TYPE_L2BRIDGE]
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
                    flags=PORTMAP_LOCAL_ROUTED_VIP if spec.local_routed_vip else 0,
                )
            ],
            flags=LB_DSR if spec.dsr else 0,
        )
        return str(
            self._call(
                "CreateLoadBalancer", pb.CreateLoadBalancerRequest(host=self.host, load_balancer=lb)
            ).id
        )

    def delete_load_balancer(self, lb_id: str) -> bool:
        """Delete; False when it was already gone."""
        return bool(
            self._call("DeleteLoadBalancer", pb.DeleteRequest(host=self.host, id=lb_id)).deleted
        )

    def load_balancer_matches(self, lb_id: str, spec: Any) -> bool:
        """True when load balancer `lb_id` already implements `spec` (adoption)."""
        resp = self._call("ListLoadBalancers", pb.ListRequest(host=self.host, id=lb_id))
        if not resp.load_balancers:
            return False
        have = _lb(resp.load_balancers[0])
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
