"""HNS objects as plain data, shaped after hcsshim's hcn types.

``to_json`` renders each as the HNS v2 JSON schema names it (``Id``, ``IpConfigurations``,
``HostComputeEndpoints``...), which is what state dumps and reports show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fake_hns.portpool import PortBlock

# HNS names of network types (hcn.NetworkType), keyed case-insensitively.
NETWORK_TYPES = ("NAT", "ICS", "Transparent", "L2Bridge", "L2Tunnel", "Private", "Overlay")
NAMESPACE_TYPES = ("Host", "HostDefault", "Guest", "GuestDefault")

# Flag values as hcsshim's hcn types define them (the wire carries them as they are).
ENDPOINT_FLAG_REMOTE = 0x1  # hcn.EndpointFlagsRemoteEndpoint
NAT_FLAG_LOCAL_ROUTED_VIP = 0x1  # hcn.NatFlagsLocalRoutedVip (endpoint port mappings)
LB_FLAG_DSR = 0x1  # hcn.LoadBalancerFlagsDSR
LB_FLAG_IPV6 = 0x2  # hcn.LoadBalancerFlagsIPv6
LB_FLAGS_KNOWN = LB_FLAG_DSR | LB_FLAG_IPV6
LB_PORT_FLAG_LOCAL_ROUTED_VIP = 0x2  # hcn.LoadBalancerPortMappingFlagsLocalRoutedVIP
PROTOCOL_TCP = 6
PROTOCOL_UDP = 17
DISTRIBUTIONS = ("None", "SourceIPProtocol", "SourceIP")


@dataclass
class Route:
    """hcn.Route."""

    next_hop: str = ""
    destination_prefix: str = ""
    metric: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "NextHop": self.next_hop,
            "DestinationPrefix": self.destination_prefix,
            "Metric": self.metric,
        }


@dataclass
class Dns:
    """hcn.Dns."""

    domain: str = ""
    search: list[str] = field(default_factory=list)
    server_list: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {"Domain": self.domain, "Search": self.search, "ServerList": self.server_list}


@dataclass
class Subnet:
    """hcn.Subnet."""

    ip_address_prefix: str
    routes: list[Route] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "IpAddressPrefix": self.ip_address_prefix,
            "Routes": [r.to_json() for r in self.routes],
        }


@dataclass
class Ipam:
    """hcn.Ipam."""

    type: str = "Static"
    subnets: list[Subnet] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {"Type": self.type, "Subnets": [s.to_json() for s in self.subnets]}


@dataclass
class GenericPolicy:
    """A policy kept as HNS takes it: type and JSON settings text."""

    type: str
    settings: str = ""

    def to_json(self) -> dict[str, Any]:
        """HNS JSON (settings parsed back to an object when present)."""
        import json

        return {"Type": self.type, "Settings": json.loads(self.settings) if self.settings else {}}


@dataclass
class OutboundNatPolicy:
    """Endpoint policy OutBoundNAT."""

    virtual_ip: str = ""
    exceptions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Type": "OutBoundNAT",
            "Settings": {"VirtualIP": self.virtual_ip, "Exceptions": self.exceptions},
        }


@dataclass
class SdnRoutePolicy:
    """Endpoint policy SDNRoute."""

    destination_prefix: str = ""
    next_hop: str = ""
    need_encap: bool = False

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Type": "SDNRoute",
            "Settings": {
                "DestinationPrefix": self.destination_prefix,
                "NextHop": self.next_hop,
                "NeedEncap": self.need_encap,
            },
        }


@dataclass
class PortMappingPolicy:
    """Endpoint policy PortMapping."""

    internal_port: int = 0
    external_port: int = 0
    protocol: int = PROTOCOL_TCP
    vip: str = ""
    flags: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Type": "PortMapping",
            "Settings": {
                "InternalPort": self.internal_port,
                "ExternalPort": self.external_port,
                "Protocol": self.protocol,
                "VIP": self.vip,
                "Flags": self.flags,
            },
        }


EndpointPolicy = OutboundNatPolicy | SdnRoutePolicy | PortMappingPolicy | GenericPolicy


@dataclass
class IpConfig:
    """hcn.IpConfig."""

    ip_address: str
    prefix_length: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {"IpAddress": self.ip_address, "PrefixLength": self.prefix_length}


@dataclass
class Network:
    """hcn.HostComputeNetwork."""

    id: str
    name: str
    type: str
    ipams: list[Ipam] = field(default_factory=list)
    policies: list[GenericPolicy] = field(default_factory=list)
    dns: Dns = field(default_factory=Dns)
    flags: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Id": self.id,
            "Name": self.name,
            "Type": self.type,
            "Ipams": [i.to_json() for i in self.ipams],
            "Policies": [p.to_json() for p in self.policies],
            "Dns": self.dns.to_json(),
            "Flags": self.flags,
        }


@dataclass
class Endpoint:
    """hcn.HostComputeEndpoint."""

    id: str
    name: str
    network_id: str
    namespace_id: str = ""
    ip_configurations: list[IpConfig] = field(default_factory=list)
    mac_address: str = ""
    routes: list[Route] = field(default_factory=list)
    dns: Dns = field(default_factory=Dns)
    policies: list[EndpointPolicy] = field(default_factory=list)
    flags: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Id": self.id,
            "Name": self.name,
            "HostComputeNetwork": self.network_id,
            "HostComputeNamespace": self.namespace_id,
            "IpConfigurations": [c.to_json() for c in self.ip_configurations],
            "MacAddress": self.mac_address,
            "Routes": [r.to_json() for r in self.routes],
            "Dns": self.dns.to_json(),
            "Policies": [p.to_json() for p in self.policies],
            "Flags": self.flags,
        }


@dataclass
class Namespace:
    """hcn.HostComputeNamespace (resources of type Endpoint and Container)."""

    id: str
    type: str = "Host"
    endpoint_ids: list[str] = field(default_factory=list)
    container_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        resources = [{"Type": "Container", "Data": {"Id": c}} for c in self.container_ids]
        resources += [{"Type": "Endpoint", "Data": {"Id": e}} for e in self.endpoint_ids]
        return {"Id": self.id, "Type": self.type, "Resources": resources}


@dataclass
class LoadBalancerPortMapping:
    """hcn.LoadBalancerPortMapping."""

    protocol: int
    internal_port: int
    external_port: int
    distribution_type: str = "None"
    flags: int = 0

    def to_json(self) -> dict[str, Any]:
        """HNS JSON."""
        return {
            "Protocol": self.protocol,
            "InternalPort": self.internal_port,
            "ExternalPort": self.external_port,
            "DistributionType": self.distribution_type,
            "Flags": self.flags,
        }


@dataclass
class LoadBalancer:
    """hcn.HostComputeLoadBalancer, plus the port block the pool model gave it."""

    id: str
    endpoint_ids: list[str] = field(default_factory=list)
    source_vip: str = ""
    frontend_vips: list[str] = field(default_factory=list)
    port_mappings: list[LoadBalancerPortMapping] = field(default_factory=list)
    flags: int = 0
    reserved_ports: PortBlock | None = None

    @property
    def dsr(self) -> bool:
        """True when the DSR flag is set."""
        return bool(self.flags & LB_FLAG_DSR)

    def to_json(self) -> dict[str, Any]:
        """HNS JSON (``ReservedPorts`` is this emulation's port-pool bookkeeping)."""
        block = self.reserved_ports
        return {
            "Id": self.id,
            "HostComputeEndpoints": self.endpoint_ids,
            "SourceVIP": self.source_vip,
            "FrontendVIPs": self.frontend_vips,
            "PortMappings": [m.to_json() for m in self.port_mappings],
            "Flags": self.flags,
            "ReservedPorts": None if block is None else {"Start": block.start, "End": block.end},
        }
