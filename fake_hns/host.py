"""One Windows node's HNS: its objects, indexes, port pool and the rules HNS enforces.

Plain Python over plain data: no gRPC here. Every rule failure raises
:class:`~fake_hns.errors.HnsError` with the HRESULT and call name HNS would report.
Callers hold ``HostHns.lock`` around each operation (one lock per node).
"""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fake_hns import errors as E
from fake_hns import names
from fake_hns.errors import HnsError
from fake_hns.faults import FaultPlan
from fake_hns.objects import (
    DISTRIBUTIONS,
    ENDPOINT_FLAG_REMOTE,
    LB_FLAG_IPV6,
    LB_FLAGS_KNOWN,
    NAMESPACE_TYPES,
    NETWORK_TYPES,
    PROTOCOL_TCP,
    PROTOCOL_UDP,
    Endpoint,
    GenericPolicy,
    LoadBalancer,
    Namespace,
    Network,
    OutboundNatPolicy,
    PortMappingPolicy,
    SdnRoutePolicy,
)
from fake_hns.portpool import DEFAULT_BLOCK_SIZE, DEFAULT_RANGE, PortPool
from fake_hns.versions import DEFAULT_BUILD, Features, Version, features_for, version_for_build

DEFAULT_MAX_NON_DSR_BACKENDS = 64
MAC_PREFIX = "00-15-5D"  # the Hyper-V OUI HNS assigns endpoint MACs from


@dataclass(frozen=True)
class HostConfig:
    """How one node's HNS is configured (see docs/fake_hns.md for the defaults)."""

    name: str
    windows_build: str = DEFAULT_BUILD
    hns_version: Version | None = None  # None: from the build
    port_range: tuple[int, int] = DEFAULT_RANGE
    port_block_size: int = DEFAULT_BLOCK_SIZE
    excluded_port_ranges: tuple[tuple[int, int], ...] = ()
    host_held_ports: tuple[int, ...] = ()
    dsr_override: bool | None = None
    modify_lb_override: bool | None = None
    max_non_dsr_backends: int = DEFAULT_MAX_NON_DSR_BACKENDS

    def version(self) -> Version:
        """Effective HNS version."""
        return self.hns_version or version_for_build(self.windows_build)

    def features(self) -> Features:
        """Effective features after overrides."""
        return features_for(
            self.version(), dsr=self.dsr_override, modify_load_balancer=self.modify_lb_override
        )

    def validate(self) -> None:
        """ValueError naming the bad field, else nothing."""
        names.check_host_name(self.name)
        version_for_build(self.windows_build)
        if self.max_non_dsr_backends < 1:
            raise ValueError(f"max_non_dsr_backends {self.max_non_dsr_backends}: expected >= 1")

    def to_json(self) -> dict[str, Any]:
        """Configuration as JSON."""
        major, minor = self.version()
        return {
            "name": self.name,
            "windowsBuild": self.windows_build,
            "hnsVersion": f"{major}.{minor}",
            "portRange": list(self.port_range),
            "portBlockSize": self.port_block_size,
            "excludedPortRanges": [list(r) for r in self.excluded_port_ranges],
            "hostHeldPorts": list(self.host_held_ports),
            "maxNonDsrBackends": self.max_non_dsr_backends,
        }


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _canonical_id(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _json_settings(text: str) -> bool:
    if not text:
        return True
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _normalise_mac(text: str) -> str | None:
    hexes = text.replace("-", "").replace(":", "")
    if len(hexes) != 12 or any(c not in "0123456789abcdefABCDEF" for c in hexes):
        return None
    return "-".join(hexes[i : i + 2] for i in range(0, 12, 2)).upper()


@dataclass
class _Indexes:
    """Lookup tables kept in step with the objects (all O(1))."""

    network_by_name: dict[str, str] = field(default_factory=dict)
    endpoint_by_name: dict[str, str] = field(default_factory=dict)
    # network id -> {ip: endpoint id}; an IP is unique within a network.
    ip_in_network: dict[str, dict[str, str]] = field(default_factory=dict)
    # ip -> {endpoint id: None} across networks (insertion ordered).
    endpoints_by_ip: dict[str, dict[str, None]] = field(default_factory=dict)
    # network id -> {endpoint id: None}
    endpoints_by_network: dict[str, dict[str, None]] = field(default_factory=dict)
    # (vip, protocol, external port) -> load balancer id: a frontend is unique.
    lb_frontends: dict[tuple[str, int, int], str] = field(default_factory=dict)
    lbs_by_vip: dict[str, dict[str, None]] = field(default_factory=dict)
    # (vip, protocol, external port) -> endpoint id, for PortMapping policies.
    host_port_mappings: dict[tuple[str, int, int], str] = field(default_factory=dict)


class HostHns:
    """The HNS of one node. Hold ``lock`` around every call."""

    def __init__(self, config: HostConfig, seed: int) -> None:
        config.validate()
        self.config = config
        self.features = config.features()
        self.lock = threading.Lock()
        # Per-host RNG: ids on one node do not depend on traffic to other nodes.
        self._rng = random.Random(f"{seed}:{config.name}")
        self.pool = self._make_pool(config)
        self.networks: dict[str, Network] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.namespaces: dict[str, Namespace] = {}
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.faults = FaultPlan()
        self._ix = _Indexes()

    @staticmethod
    def _make_pool(config: HostConfig) -> PortPool:
        return PortPool(
            config.port_range[0],
            config.port_range[1],
            config.port_block_size,
            config.excluded_port_ranges,
            config.host_held_ports,
        )

    def reconfigure(self, config: HostConfig) -> None:
        """Apply a new configuration, keeping objects; load balancers keep their blocks
        when they still fit the new pool, else are re-allocated (ValueError if impossible)."""
        config.validate()
        pool = self._make_pool(config)
        holders = [lb for lb in self.load_balancers.values() if lb.reserved_ports is not None]
        if len(holders) > pool.free_blocks:
            raise ValueError(
                f"new port pool has {pool.free_blocks} blocks but {len(holders)} non-DSR "
                "load balancers hold one"
            )
        for lb in holders:  # re-seat every block in the new pool, lowest first
            lb.reserved_ports = pool.allocate()
        self.config = config
        self.features = config.features()
        self.pool = pool

    def new_id(self) -> str:
        """A GUID from this host's seeded RNG (version 4 layout)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # ------------------------------------------------------------------ networks

    def create_network(self, net: Network) -> Network:
        """hcnCreateNetwork."""
        call = "hcnCreateNetwork"
        types = {t.lower(): t for t in NETWORK_TYPES}
        if net.type.lower() not in types:
            raise HnsError(E.HCN_E_INVALID_NETWORK_TYPE, call=call)
        net = replace(net, type=types[net.type.lower()])
        net.id = self._fresh_id(net.id, self.networks, call)
        if not net.name:
            raise HnsError(E.HCN_E_INVALID_NETWORK, call=call)
        if net.name in self._ix.network_by_name:
            raise HnsError(E.HCN_E_NETWORK_ALREADY_EXISTS, call=call)
        for ipam in net.ipams:
            if ipam.type.lower() not in ("static", "dhcp", ""):
                raise HnsError(E.HCN_E_INVALID_NETWORK, call=call)
            for subnet in ipam.subnets:
                prefix = _net(subnet.ip_address_prefix)
                if prefix is None:
                    raise HnsError(E.HCN_E_INVALID_NETWORK, call=call)
                if prefix.version == 6:
                    raise HnsError(E.HCN_E_REQUEST_UNSUPPORTED, call=call)
                subnet.ip_address_prefix = str(prefix)
                for route in subnet.routes:
                    self._check_route(route.destination_prefix, route.next_hop, call)
        for policy in net.policies:
            self._check_generic(policy, call)
        self.networks[net.id] = net
        self._ix.network_by_name[net.name] = net.id
        self._ix.ip_in_network[net.id] = {}
        self._ix.endpoints_by_network[net.id] = {}
        return net

    def list_networks(self, *, id: str = "", name: str = "") -> list[Network]:
        """Networks matching an id and/or name filter."""
        return self._filter(self.networks, self._ix.network_by_name, id, name)

    def delete_network(self, network_id: str) -> bool:
        """hcnDeleteNetwork; its endpoints go with it. False when already gone."""
        key = _canonical_id(network_id)
        net = self.networks.get(key or "")
        if net is None:
            return False
        for endpoint_id in list(self._ix.endpoints_by_network[net.id]):
            self.delete_endpoint(endpoint_id)
        del self.networks[net.id]
        del self._ix.network_by_name[net.name]
        del self._ix.ip_in_network[net.id]
        del self._ix.endpoints_by_network[net.id]
        return True

    # ------------------------------------------------------------------ endpoints

    def create_endpoint(self, ep: Endpoint) -> Endpoint:
        """hcnCreateEndpoint."""
        call = "hcnCreateEndpoint"
        network_key = _canonical_id(ep.network_id)
        net = self.networks.get(network_key or "")
        if net is None:
            raise HnsError(E.HCN_E_NETWORK_NOT_FOUND, call=call)
        ep.network_id = net.id
        ep.id = self._fresh_id(ep.id, self.endpoints, call)
        if ep.name and ep.name in self._ix.endpoint_by_name:
            raise HnsError(E.ERROR_OBJECT_ALREADY_EXISTS, call=call)
        if ep.namespace_id:
            # Attaching happens through ModifyNamespace only.
            raise HnsError(E.HCN_E_INVALID_ENDPOINT, call=call)
        subnets = [ipaddress.ip_network(s.ip_address_prefix) for i in net.ipams for s in i.subnets]
        taken = self._ix.ip_in_network[net.id]
        seen: set[str] = set()
        for config in ep.ip_configurations:
            address = _ip(config.ip_address)
            if address is None or address.version == 6:
                raise HnsError(E.HCN_E_INVALID_IP, call=call)
            home = next((s for s in subnets if address in s), None)
            # A remote endpoint (kube-proxy's stand-in for a pod on another node) may hold
            # an address outside this node's subnets.
            if subnets and home is None and not ep.flags & ENDPOINT_FLAG_REMOTE:
                raise HnsError(E.HCN_E_INVALID_IP, call=call)
            if config.prefix_length > 32:
                raise HnsError(E.HCN_E_INVALID_IP, call=call)
            if config.prefix_length == 0 and home is not None:
                config.prefix_length = home.prefixlen
            config.ip_address = str(address)
            if config.ip_address in taken or config.ip_address in seen:
                raise HnsError(E.ERROR_OBJECT_ALREADY_EXISTS, call=call)
            seen.add(config.ip_address)
        if not ep.ip_configurations and subnets and net.ipams[0].type.lower() != "dhcp":
            ep.ip_configurations = [self._allocate_ip(net, subnets, call)]
        for route in ep.routes:
            self._check_route(route.destination_prefix, route.next_hop, call)
        new_mappings = self._check_endpoint_policies(ep, call)
        if ep.mac_address:
            mac = _normalise_mac(ep.mac_address)
            if mac is None:
                raise HnsError(E.HCN_E_INVALID_ENDPOINT, call=call)
            ep.mac_address = mac
        else:
            ep.mac_address = self._derive_mac(ep)
        self.endpoints[ep.id] = ep
        if ep.name:
            self._ix.endpoint_by_name[ep.name] = ep.id
        for config in ep.ip_configurations:
            taken[config.ip_address] = ep.id
            self._ix.endpoints_by_ip.setdefault(config.ip_address, {})[ep.id] = None
        self._ix.endpoints_by_network[net.id][ep.id] = None
        for key in new_mappings:
            self._ix.host_port_mappings[key] = ep.id
        return ep

    def _allocate_ip(self, net: Network, subnets: list[Any], call: str) -> Any:
        """The lowest free host address of the first subnet, skipping route next hops."""
        from fake_hns.objects import IpConfig

        subnet = subnets[0]
        gateways = {r.next_hop for i in net.ipams for s in i.subnets for r in s.routes}
        taken = self._ix.ip_in_network[net.id]
        for address in subnet.hosts():
            text = str(address)
            if text not in taken and text not in gateways:
                return IpConfig(text, subnet.prefixlen)
        raise HnsError(E.HCN_E_INVALID_IP, call=call)

    def _derive_mac(self, ep: Endpoint) -> str:
        """Hyper-V OUI + the low 3 bytes of the first IPv4 address (else seeded random),
        so the same pod IP always gets the same MAC."""
        if ep.ip_configurations:
            low = ipaddress.IPv4Address(ep.ip_configurations[0].ip_address).packed[1:]
        else:
            low = self._rng.getrandbits(24).to_bytes(3, "big")
        return MAC_PREFIX + "".join(f"-{b:02X}" for b in low)

    def _check_endpoint_policies(self, ep: Endpoint, call: str) -> list[tuple[str, int, int]]:
        mappings: list[tuple[str, int, int]] = []
        for policy in ep.policies:
            if isinstance(policy, OutboundNatPolicy):
                if policy.virtual_ip and _ip(policy.virtual_ip) is None:
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
                for exception in policy.exceptions:
                    if _net(exception) is None:
                        raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
            elif isinstance(policy, SdnRoutePolicy):
                if _net(policy.destination_prefix) is None:
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
                if policy.next_hop and _ip(policy.next_hop) is None:
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
            elif isinstance(policy, PortMappingPolicy):
                if policy.protocol not in (PROTOCOL_TCP, PROTOCOL_UDP):
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
                if not (1 <= policy.internal_port <= 65535 and 1 <= policy.external_port <= 65535):
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
                if policy.vip and _ip(policy.vip) is None:
                    raise HnsError(E.HCN_E_INVALID_POLICY, call=call)
                key = (policy.vip, policy.protocol, policy.external_port)
                # A host port can be mapped once (a real port collision).
                if key in self._ix.host_port_mappings or key in mappings:
                    raise HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call=call)
                mappings.append(key)
            else:
                self._check_generic(policy, call)
        return mappings

    def list_endpoints(
        self, *, id: str = "", name: str = "", network_id: str = "", ip_address: str = ""
    ) -> list[Endpoint]:
        """Endpoints matching all given filters."""
        found = self._filter(self.endpoints, self._ix.endpoint_by_name, id, name)
        if network_id:
            key = _canonical_id(network_id) or ""
            members = self._ix.endpoints_by_network.get(key, {})
            if id or name:
                found = [e for e in found if e.id in members]
            else:
                found = [self.endpoints[i] for i in members]
        if ip_address:
            address = _ip(ip_address)
            holders = self._ix.endpoints_by_ip.get(str(address) if address else ip_address, {})
            if id or name or network_id:
                found = [e for e in found if e.id in holders]
            else:
                found = [self.endpoints[i] for i in holders]
        return found

    def delete_endpoint(self, endpoint_id: str) -> bool:
        """hcnDeleteEndpoint (detaches from its namespace). False when already gone."""
        ep = self.endpoints.get(_canonical_id(endpoint_id) or "")
        if ep is None:
            return False
        if ep.namespace_id and ep.namespace_id in self.namespaces:
            self.namespaces[ep.namespace_id].endpoint_ids.remove(ep.id)
        del self.endpoints[ep.id]
        if ep.name:
            del self._ix.endpoint_by_name[ep.name]
        for config in ep.ip_configurations:
            del self._ix.ip_in_network[ep.network_id][config.ip_address]
            holders = self._ix.endpoints_by_ip[config.ip_address]
            del holders[ep.id]
            if not holders:
                del self._ix.endpoints_by_ip[config.ip_address]
        del self._ix.endpoints_by_network[ep.network_id][ep.id]
        for policy in ep.policies:
            if isinstance(policy, PortMappingPolicy):
                self._ix.host_port_mappings.pop(
                    (policy.vip, policy.protocol, policy.external_port), None
                )
        return True

    # ------------------------------------------------------------------ namespaces

    def create_namespace(self, ns: Namespace) -> Namespace:
        """hcnCreateNamespace."""
        call = "hcnCreateNamespace"
        types = {t.lower(): t for t in NAMESPACE_TYPES}
        if ns.type.lower() not in types:
            raise HnsError(E.E_INVALIDARG, call=call)
        ns.type = types[ns.type.lower()]
        ns.id = self._fresh_id(ns.id, self.namespaces, call)
        if ns.endpoint_ids:
            raise HnsError(E.E_INVALIDARG, call=call)  # endpoints come via ModifyNamespace
        self.namespaces[ns.id] = ns
        return ns

    def list_namespaces(self, *, id: str = "") -> list[Namespace]:
        """Namespaces matching an id filter."""
        return self._filter(self.namespaces, {}, id, "")

    def _namespace_and_endpoint(
        self, namespace_id: str, endpoint_id: str, call: str
    ) -> tuple[Namespace, Endpoint]:
        """Both objects of a namespace/endpoint modification, or the HRESULT for the missing one."""
        ns = self.namespaces.get(_canonical_id(namespace_id) or "")
        if ns is None:
            raise HnsError(E.ERROR_NOT_FOUND, call=call)
        ep = self.endpoints.get(_canonical_id(endpoint_id) or "")
        if ep is None:
            raise HnsError(E.HCN_E_ENDPOINT_NOT_FOUND, call=call)
        return ns, ep

    def add_namespace_endpoint(self, namespace_id: str, endpoint_id: str) -> Namespace:
        """hcnModifyNamespace with RequestType Add, ResourceType Endpoint."""
        call = "hcnModifyNamespace"
        ns, ep = self._namespace_and_endpoint(namespace_id, endpoint_id, call)
        if ep.namespace_id:
            # Attached already, to this namespace or another: HNS answers "already attached
            # to the switch" (CNIs treat it as a repeat of their own attach).
            raise HnsError(E.HCN_E_ENDPOINT_ALREADY_ATTACHED, call=call)
        ns.endpoint_ids.append(ep.id)
        ep.namespace_id = ns.id
        return ns

    def remove_namespace_endpoint(self, namespace_id: str, endpoint_id: str) -> Namespace:
        """hcnModifyNamespace with RequestType Remove, ResourceType Endpoint."""
        call = "hcnModifyNamespace"
        ns, ep = self._namespace_and_endpoint(namespace_id, endpoint_id, call)
        if ep.namespace_id != ns.id:
            raise HnsError(E.ERROR_NOT_FOUND, call=call)
        ns.endpoint_ids.remove(ep.id)
        ep.namespace_id = ""
        return ns

    def delete_namespace(self, namespace_id: str) -> bool:
        """hcnDeleteNamespace: endpoints stay, detached. False when already gone."""
        ns = self.namespaces.pop(_canonical_id(namespace_id) or "", None)
        if ns is None:
            return False
        for endpoint_id in ns.endpoint_ids:
            self.endpoints[endpoint_id].namespace_id = ""
        return True

    # ------------------------------------------------------------------ load balancers

    def create_load_balancer(self, lb: LoadBalancer) -> LoadBalancer:
        """hcnCreateLoadBalancer: validate, take a port block unless DSR, index."""
        call = "hcnCreateLoadBalancer"
        lb.id = self._fresh_id(lb.id, self.load_balancers, call)
        frontends = self._check_load_balancer(lb, call, exclude_id=None)
        if not lb.dsr:
            block = self.pool.allocate()
            if block is None:
                raise HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call=call)
            lb.reserved_ports = block
        else:
            lb.reserved_ports = None
        self.load_balancers[lb.id] = lb
        self._index_lb(lb, frontends)
        return lb

    def update_load_balancer(self, lb_id: str, new: LoadBalancer) -> LoadBalancer:
        """hcnModifyLoadBalancer: needs the feature (HNS >= 15.4)."""
        call = "hcnModifyLoadBalancer"
        if not self.features.modify_load_balancer:
            raise HnsError(E.HCN_E_REQUEST_UNSUPPORTED, call=call)
        old = self.load_balancers.get(_canonical_id(lb_id) or "")
        if old is None:
            raise HnsError(E.ERROR_NOT_FOUND, call=call)
        new.id = old.id
        frontends = self._check_load_balancer(new, call, exclude_id=old.id)
        if new.dsr:
            new.reserved_ports = None
        elif old.reserved_ports is not None:
            new.reserved_ports = old.reserved_ports
        else:
            block = self.pool.allocate()
            if block is None:
                raise HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call=call)
            new.reserved_ports = block
        if new.dsr and old.reserved_ports is not None:
            self.pool.release(old.reserved_ports)
        self._unindex_lb(old)
        self.load_balancers[new.id] = new
        self._index_lb(new, frontends)
        return new

    def list_load_balancers(self, *, id: str = "", frontend_vip: str = "") -> list[LoadBalancer]:
        """Load balancers matching an id and/or frontend VIP filter."""
        found = self._filter(self.load_balancers, {}, id, "")
        if frontend_vip:
            members = self._ix.lbs_by_vip.get(frontend_vip, {})
            if id:
                found = [lb for lb in found if lb.id in members]
            else:
                found = [self.load_balancers[i] for i in members]
        return found

    def delete_load_balancer(self, lb_id: str) -> bool:
        """hcnDeleteLoadBalancer: returns the port block. False when already gone."""
        lb = self.load_balancers.pop(_canonical_id(lb_id) or "", None)
        if lb is None:
            return False
        if lb.reserved_ports is not None:
            self.pool.release(lb.reserved_ports)
        self._unindex_lb(lb)
        return True

    def _check_load_balancer(
        self, lb: LoadBalancer, call: str, exclude_id: str | None
    ) -> list[tuple[str, int, int]]:
        """All load-balancer rules; returns the frontend keys it will own."""
        if lb.flags & ~LB_FLAGS_KNOWN:
            raise HnsError(E.E_INVALIDARG, call=call)
        if lb.flags & LB_FLAG_IPV6:
            raise HnsError(E.HCN_E_REQUEST_UNSUPPORTED, call=call)  # no IPv6 on Windows nodes
        if lb.dsr and not self.features.dsr:
            raise HnsError(E.HCN_E_REQUEST_UNSUPPORTED, call=call)
        for text in [*lb.frontend_vips, *([lb.source_vip] if lb.source_vip else [])]:
            address = _ip(text)
            if address is None:
                raise HnsError(E.E_INVALIDARG, call=call)
            if address.version == 6:
                raise HnsError(E.HCN_E_REQUEST_UNSUPPORTED, call=call)
        lb.frontend_vips = [str(ipaddress.ip_address(v)) for v in lb.frontend_vips]
        if not lb.port_mappings:
            raise HnsError(E.E_INVALIDARG, call=call)
        for mapping in lb.port_mappings:
            if mapping.protocol not in (PROTOCOL_TCP, PROTOCOL_UDP):
                raise HnsError(E.E_INVALIDARG, call=call)
            if not (1 <= mapping.internal_port <= 65535 and 1 <= mapping.external_port <= 65535):
                raise HnsError(E.E_INVALIDARG, call=call)
            if mapping.distribution_type not in DISTRIBUTIONS:
                raise HnsError(E.E_INVALIDARG, call=call)
        resolved = []
        for endpoint_id in lb.endpoint_ids:
            key = _canonical_id(endpoint_id)
            if key is None or key not in self.endpoints:
                raise HnsError(E.HCN_E_ENDPOINT_NOT_FOUND, call=call)
            resolved.append(key)
        lb.endpoint_ids = resolved
        if not lb.dsr and len(resolved) > self.config.max_non_dsr_backends:
            raise HnsError(E.E_INVALIDARG, call=call)
        frontends = [
            (vip, m.protocol, m.external_port)
            for vip in (lb.frontend_vips or [""])
            for m in lb.port_mappings
        ]
        for frontend in frontends:
            owner = self._ix.lb_frontends.get(frontend)
            if owner is not None and owner != exclude_id:
                raise HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call=call)  # a real collision
        if len(set(frontends)) != len(frontends):
            raise HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call=call)
        return frontends

    def _index_lb(self, lb: LoadBalancer, frontends: Iterable[tuple[str, int, int]]) -> None:
        for key in frontends:
            self._ix.lb_frontends[key] = lb.id
        for vip in lb.frontend_vips:
            self._ix.lbs_by_vip.setdefault(vip, {})[lb.id] = None

    def _unindex_lb(self, lb: LoadBalancer) -> None:
        for vip in lb.frontend_vips or [""]:
            for m in lb.port_mappings:
                if self._ix.lb_frontends.get((vip, m.protocol, m.external_port)) == lb.id:
                    del self._ix.lb_frontends[(vip, m.protocol, m.external_port)]
        for vip in lb.frontend_vips:
            members = self._ix.lbs_by_vip.get(vip, {})
            members.pop(lb.id, None)
            if not members:
                self._ix.lbs_by_vip.pop(vip, None)

    # ------------------------------------------------------------------ helpers

    def _fresh_id(self, requested: str, table: dict[str, Any], call: str) -> str:
        """A new id, or the caller's GUID when free (0x1392 when taken)."""
        if not requested:
            new = self.new_id()
            while new in table:  # astronomically unlikely, but never reuse
                new = self.new_id()
            return new
        key = _canonical_id(requested)
        if key is None:
            raise HnsError(E.E_INVALIDARG, call=call)
        if key in table:
            raise HnsError(E.ERROR_OBJECT_ALREADY_EXISTS, call=call)
        return key

    @staticmethod
    def _filter(table: dict[str, Any], by_name: dict[str, str], id: str, name: str) -> list[Any]:
        if id:
            item = table.get(_canonical_id(id) or "")
            if item is None or (name and getattr(item, "name", None) != name):
                return []
            return [item]
        if name:
            key = by_name.get(name)
            return [] if key is None else [table[key]]
        return list(table.values())

    @staticmethod
    def _check_route(destination: str, next_hop: str, call: str) -> None:
        if destination and _net(destination) is None:
            raise HnsError(E.HCN_E_INVALID_NETWORK, call=call)
        if next_hop and _ip(next_hop) is None:
            raise HnsError(E.HCN_E_INVALID_NETWORK, call=call)

    @staticmethod
    def _check_generic(policy: GenericPolicy, call: str) -> None:
        if not policy.type:
            raise HnsError(E.HCN_E_INVALID_POLICY_TYPE, call=call)
        if not _json_settings(policy.settings):
            raise HnsError(E.HCN_E_INVALID_POLICY, call=call)

    # ------------------------------------------------------------------ reports

    def status(self) -> dict[str, Any]:
        """Counts and pool usage."""
        return {
            "networks": len(self.networks),
            "endpoints": len(self.endpoints),
            "namespaces": len(self.namespaces),
            "loadBalancers": len(self.load_balancers),
            "portPool": self.pool.status(),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole host as JSON-ready data (HNS schema names for objects)."""
        f = self.features
        return {
            "config": self.config.to_json(),
            "features": {
                "ApiV2": f.api_v2,
                "DSR": f.dsr,
                "ModifyLoadbalancer": f.modify_load_balancer,
                "IPv6DualStack": f.ipv6,
            },
            "portPool": self.pool.status(),
            "networks": [n.to_json() for n in self.networks.values()],
            "endpoints": [e.to_json() for e in self.endpoints.values()],
            "namespaces": [n.to_json() for n in self.namespaces.values()],
            "loadBalancers": [lb.to_json() for lb in self.load_balancers.values()],
            "pendingFaults": self.faults.pending(),
        }
