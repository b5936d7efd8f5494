"""Translate between the wire messages (hns_pb2) and the plain model objects.

Thin and rule-free: a malformed message the real HNS could never receive (an enum value
out of range) raises ValueError naming the field; every HNS rule lives in host.py.
"""

from __future__ import annotations

from fake_hns import objects as o
from fake_hns.host import HostConfig, HostHns
from fake_hns.names import check_object_name
from fake_hns.proto import hns_pb2 as pb
from fake_hns.versions import DEFAULT_BUILD

_NETWORK_TYPES = {
    pb.NETWORK_TYPE_NAT: "NAT",
    pb.NETWORK_TYPE_TRANSPARENT: "Transparent",
    pb.NETWORK_TYPE_L2BRIDGE: "L2Bridge",
    pb.NETWORK_TYPE_L2TUNNEL: "L2Tunnel",
    pb.NETWORK_TYPE_ICS: "ICS",
    pb.NETWORK_TYPE_PRIVATE: "Private",
    pb.NETWORK_TYPE_OVERLAY: "Overlay",
}
_NETWORK_TYPE_ENUM = {name: value for value, name in _NETWORK_TYPES.items()}
_NAMESPACE_TYPES = {
    pb.NAMESPACE_TYPE_UNSPECIFIED: "Host",
    pb.NAMESPACE_TYPE_HOST: "Host",
    pb.NAMESPACE_TYPE_HOST_DEFAULT: "HostDefault",
    pb.NAMESPACE_TYPE_GUEST: "Guest",
    pb.NAMESPACE_TYPE_GUEST_DEFAULT: "GuestDefault",
}
_NAMESPACE_TYPE_ENUM = {
    "Host": pb.NAMESPACE_TYPE_HOST,
    "HostDefault": pb.NAMESPACE_TYPE_HOST_DEFAULT,
    "Guest": pb.NAMESPACE_TYPE_GUEST,
    "GuestDefault": pb.NAMESPACE_TYPE_GUEST_DEFAULT,
}
_DISTRIBUTIONS = {
    pb.LOAD_BALANCER_DISTRIBUTION_NONE: "None",
    pb.LOAD_BALANCER_DISTRIBUTION_SOURCE_IP_PROTOCOL: "SourceIPProtocol",
    pb.LOAD_BALANCER_DISTRIBUTION_SOURCE_IP: "SourceIP",
}
_DISTRIBUTION_ENUM = {name: value for value, name in _DISTRIBUTIONS.items()}


# ---------------------------------------------------------------------- hosts


def host_config(req: pb.CreateHostRequest) -> HostConfig:
    """CreateHostRequest -> HostConfig (defaults for unset fields)."""
    port_range = (49152, 65535)
    if req.HasField("dynamic_port_range"):
        port_range = (req.dynamic_port_range.start, req.dynamic_port_range.end)
    version = None
    if req.HasField("hns_version"):
        version = (req.hns_version.major, req.hns_version.minor)
    features = req.features
    config = HostConfig(
        name=req.host,
        windows_build=req.windows_build or DEFAULT_BUILD,
        hns_version=version,
        port_range=port_range,
        port_block_size=req.port_block_size or 64,
        excluded_port_ranges=tuple((r.start, r.end) for r in req.excluded_port_ranges),
        host_held_ports=tuple(req.host_held_ports),
        dsr_override=features.dsr if features.HasField("dsr") else None,
        modify_lb_override=(
            features.modify_load_balancer if features.HasField("modify_load_balancer") else None
        ),
        max_non_dsr_backends=req.max_non_dsr_backends or 64,
    )
    config.validate()
    return config


def features_msg(host: HostHns) -> pb.SupportedFeatures:
    """Effective features."""
    f = host.features
    return pb.SupportedFeatures(
        api_v2=f.api_v2, dsr=f.dsr, modify_load_balancer=f.modify_load_balancer, ipv6=f.ipv6
    )


def host_msg(host: HostHns) -> pb.Host:
    """A host's configuration and usage."""
    cfg = host.config
    major, minor = cfg.version()
    pool = host.pool
    return pb.Host(
        name=cfg.name,
        windows_build=cfg.windows_build,
        hns_version=pb.Version(major=major, minor=minor),
        features=features_msg(host),
        port_pool=pb.PortPoolStatus(
            dynamic_port_range=pb.PortRange(start=pool.start, end=pool.end),
            block_size=pool.block_size,
            total_blocks=pool.total_blocks,
            used_blocks=pool.used_blocks,
            free_blocks=pool.free_blocks,
        ),
        networks=len(host.networks),
        endpoints=len(host.endpoints),
        namespaces=len(host.namespaces),
        load_balancers=len(host.load_balancers),
        max_non_dsr_backends=cfg.max_non_dsr_backends,
    )


# ---------------------------------------------------------------------- shared


def _route(m: pb.Route) -> o.Route:
    return o.Route(m.next_hop, m.destination_prefix, m.metric)


def _route_msg(r: o.Route) -> pb.Route:
    return pb.Route(next_hop=r.next_hop, destination_prefix=r.destination_prefix, metric=r.metric)


def _dns(m: pb.Dns) -> o.Dns:
    return o.Dns(m.domain, list(m.search), list(m.server_list))


def _dns_msg(d: o.Dns) -> pb.Dns:
    return pb.Dns(domain=d.domain, search=d.search, server_list=d.server_list)


# ---------------------------------------------------------------------- networks


def network(m: pb.Network) -> o.Network:
    """Network message -> model (type name resolved; UNSPECIFIED stays empty)."""
    if m.type not in _NETWORK_TYPES and m.type != pb.NETWORK_TYPE_UNSPECIFIED:
        raise ValueError(f"network.type {m.type}: not a NetworkType value")
    check_object_name("network.name", m.name)
    return o.Network(
        id=m.id,
        name=m.name,
        type=_NETWORK_TYPES.get(m.type, ""),
        ipams=[
            o.Ipam(
                i.type or "Static",
                [o.Subnet(s.ip_address_prefix, [_route(r) for r in s.routes]) for s in i.subnets],
            )
            for i in m.ipams
        ],
        policies=[o.GenericPolicy(p.type, p.settings) for p in m.policies],
        dns=_dns(m.dns),
        flags=m.flags,
    )


def network_msg(n: o.Network) -> pb.Network:
    """Model -> Network message."""
    return pb.Network(
        id=n.id,
        name=n.name,
        type=_NETWORK_TYPE_ENUM[n.type],
        ipams=[
            pb.Ipam(
                type=i.type,
                subnets=[
                    pb.Subnet(
                        ip_address_prefix=s.ip_address_prefix,
                        routes=[_route_msg(r) for r in s.routes],
                    )
                    for s in i.subnets
                ],
            )
            for i in n.ipams
        ],
        policies=[pb.NetworkPolicy(type=p.type, settings=p.settings) for p in n.policies],
        dns=_dns_msg(n.dns),
        flags=n.flags,
    )


# ---------------------------------------------------------------------- endpoints


def _endpoint_policy(m: pb.EndpointPolicy) -> o.EndpointPolicy:
    kind = m.WhichOneof("policy")
    if kind == "out_bound_nat":
        return o.OutboundNatPolicy(m.out_bound_nat.virtual_ip, list(m.out_bound_nat.exceptions))
    if kind == "sdn_route":
        r = m.sdn_route
        return o.SdnRoutePolicy(r.destination_prefix, r.next_hop, r.need_encap)
    if kind == "port_mapping":
        p = m.port_mapping
        return o.PortMappingPolicy(p.internal_port, p.external_port, p.protocol, p.vip, p.flags)
    if kind == "other":
        return o.GenericPolicy(m.other.type, m.other.settings)
    raise ValueError("endpoint.policies: a policy with no kind set")


def _endpoint_policy_msg(p: o.EndpointPolicy) -> pb.EndpointPolicy:
    if isinstance(p, o.OutboundNatPolicy):
        return pb.EndpointPolicy(
            out_bound_nat=pb.OutboundNatPolicy(virtual_ip=p.virtual_ip, exceptions=p.exceptions)
        )
    if isinstance(p, o.SdnRoutePolicy):
        return pb.EndpointPolicy(
            sdn_route=pb.SdnRoutePolicy(
                destination_prefix=p.destination_prefix,
                next_hop=p.next_hop,
                need_encap=p.need_encap,
            )
        )
    if isinstance(p, o.PortMappingPolicy):
        return pb.EndpointPolicy(
            port_mapping=pb.PortMappingPolicy(
                internal_port=p.internal_port,
                external_port=p.external_port,
                protocol=p.protocol,
                vip=p.vip,
                flags=p.flags,
            )
        )
    return pb.EndpointPolicy(other=pb.GenericPolicy(type=p.type, settings=p.settings))


def endpoint(m: pb.Endpoint) -> o.Endpoint:
    """Endpoint message -> model."""
    check_object_name("endpoint.name", m.name)
    return o.Endpoint(
        id=m.id,
        name=m.name,
        network_id=m.host_compute_network,
        namespace_id=m.host_compute_namespace,
        ip_configurations=[o.IpConfig(c.ip_address, c.prefix_length) for c in m.ip_configurations],
        mac_address=m.mac_address,
        routes=[_route(r) for r in m.routes],
        dns=_dns(m.dns),
        policies=[_endpoint_policy(p) for p in m.policies],
        flags=m.flags,
    )


def endpoint_msg(e: o.Endpoint) -> pb.Endpoint:
    """Model -> Endpoint message."""
    return pb.Endpoint(
        id=e.id,
        name=e.name,
        host_compute_network=e.network_id,
        host_compute_namespace=e.namespace_id,
        ip_configurations=[
            pb.IpConfig(ip_address=c.ip_address, prefix_length=c.prefix_length)
            for c in e.ip_configurations
        ],
        mac_address=e.mac_address,
        routes=[_route_msg(r) for r in e.routes],
        dns=_dns_msg(e.dns),
        policies=[_endpoint_policy_msg(p) for p in e.policies],
        flags=e.flags,
    )


# ---------------------------------------------------------------------- namespaces


def namespace(m: pb.Namespace) -> o.Namespace:
    """Namespace message -> model."""
    if m.type not in _NAMESPACE_TYPES:
        raise ValueError(f"namespace.type {m.type}: not a NamespaceType value")
    return o.Namespace(m.id, _NAMESPACE_TYPES[m.type], list(m.endpoint_ids), list(m.container_ids))


def namespace_msg(n: o.Namespace) -> pb.Namespace:
    """Model -> Namespace message."""
    return pb.Namespace(
        id=n.id,
        type=_NAMESPACE_TYPE_ENUM[n.type],
        endpoint_ids=n.endpoint_ids,
        container_ids=n.container_ids,
    )


# ---------------------------------------------------------------------- load balancers


def load_balancer(m: pb.LoadBalancer) -> o.LoadBalancer:
    """LoadBalancer message -> model (``reserved_ports`` is output only and ignored)."""
    mappings = []
    for pm in m.port_mappings:
        if pm.distribution_type not in _DISTRIBUTIONS:
            raise ValueError(
                f"load_balancer.port_mappings.distribution_type {pm.distribution_type}: "
                "not a LoadBalancerDistribution value"
            )
        mappings.append(
            o.LoadBalancerPortMapping(
                pm.protocol,
                pm.internal_port,
                pm.external_port,
                _DISTRIBUTIONS[pm.distribution_type],
                pm.flags,
            )
        )
    return o.LoadBalancer(
        id=m.id,
        endpoint_ids=list(m.host_compute_endpoints),
        source_vip=m.source_vip,
        frontend_vips=list(m.frontend_vips),
        port_mappings=mappings,
        flags=m.flags,
    )


def load_balancer_msg(lb: o.LoadBalancer) -> pb.LoadBalancer:
    """Model -> LoadBalancer message."""
    msg = pb.LoadBalancer(
        id=lb.id,
        host_compute_endpoints=lb.endpoint_ids,
        source_vip=lb.source_vip,
        frontend_vips=lb.frontend_vips,
        port_mappings=[
            pb.LoadBalancerPortMapping(
                protocol=m.protocol,
                internal_port=m.internal_port,
                external_port=m.external_port,
                distribution_type=_DISTRIBUTION_ENUM[m.distribution_type],
                flags=m.flags,
            )
            for m in lb.port_mappings
        ],
        flags=lb.flags,
    )
    if lb.reserved_ports is not None:
        msg.reserved_ports.start = lb.reserved_ports.start
        msg.reserved_ports.end = lb.reserved_ports.end
    return msg
