from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NetworkType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_TYPE_UNSPECIFIED: _ClassVar[NetworkType]
    NETWORK_TYPE_NAT: _ClassVar[NetworkType]
    NETWORK_TYPE_TRANSPARENT: _ClassVar[NetworkType]
    NETWORK_TYPE_L2BRIDGE: _ClassVar[NetworkType]
    NETWORK_TYPE_L2TUNNEL: _ClassVar[NetworkType]
    NETWORK_TYPE_ICS: _ClassVar[NetworkType]
    NETWORK_TYPE_PRIVATE: _ClassVar[NetworkType]
    NETWORK_TYPE_OVERLAY: _ClassVar[NetworkType]

class NamespaceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NAMESPACE_TYPE_UNSPECIFIED: _ClassVar[NamespaceType]
    NAMESPACE_TYPE_HOST: _ClassVar[NamespaceType]
    NAMESPACE_TYPE_HOST_DEFAULT: _ClassVar[NamespaceType]
    NAMESPACE_TYPE_GUEST: _ClassVar[NamespaceType]
    NAMESPACE_TYPE_GUEST_DEFAULT: _ClassVar[NamespaceType]

class ModifyRequestType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODIFY_REQUEST_TYPE_UNSPECIFIED: _ClassVar[ModifyRequestType]
    MODIFY_REQUEST_TYPE_ADD: _ClassVar[ModifyRequestType]
    MODIFY_REQUEST_TYPE_REMOVE: _ClassVar[ModifyRequestType]

class LoadBalancerDistribution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOAD_BALANCER_DISTRIBUTION_NONE: _ClassVar[LoadBalancerDistribution]
    LOAD_BALANCER_DISTRIBUTION_SOURCE_IP_PROTOCOL: _ClassVar[LoadBalancerDistribution]
    LOAD_BALANCER_DISTRIBUTION_SOURCE_IP: _ClassVar[LoadBalancerDistribution]
NETWORK_TYPE_UNSPECIFIED: NetworkType
NETWORK_TYPE_NAT: NetworkType
NETWORK_TYPE_TRANSPARENT: NetworkType
NETWORK_TYPE_L2BRIDGE: NetworkType
NETWORK_TYPE_L2TUNNEL: NetworkType
NETWORK_TYPE_ICS: NetworkType
NETWORK_TYPE_PRIVATE: NetworkType
NETWORK_TYPE_OVERLAY: NetworkType
NAMESPACE_TYPE_UNSPECIFIED: NamespaceType
NAMESPACE_TYPE_HOST: NamespaceType
NAMESPACE_TYPE_HOST_DEFAULT: NamespaceType
NAMESPACE_TYPE_GUEST: NamespaceType
NAMESPACE_TYPE_GUEST_DEFAULT: NamespaceType
MODIFY_REQUEST_TYPE_UNSPECIFIED: ModifyRequestType
MODIFY_REQUEST_TYPE_ADD: ModifyRequestType
MODIFY_REQUEST_TYPE_REMOVE: ModifyRequestType
LOAD_BALANCER_DISTRIBUTION_NONE: LoadBalancerDistribution
LOAD_BALANCER_DISTRIBUTION_SOURCE_IP_PROTOCOL: LoadBalancerDistribution
LOAD_BALANCER_DISTRIBUTION_SOURCE_IP: LoadBalancerDistribution

class PortRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Version(_message.Message):
    __slots__ = ("major", "minor")
    MAJOR_FIELD_NUMBER: _ClassVar[int]
    MINOR_FIELD_NUMBER: _ClassVar[int]
    major: int
    minor: int
    def __init__(self, major: _Optional[int] = ..., minor: _Optional[int] = ...) -> None: ...

class FeatureOverrides(_message.Message):
    __slots__ = ("dsr", "modify_load_balancer")
    DSR_FIELD_NUMBER: _ClassVar[int]
    MODIFY_LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    dsr: bool
    modify_load_balancer: bool
    def __init__(self, dsr: _Optional[bool] = ..., modify_load_balancer: _Optional[bool] = ...) -> None: ...

class CreateHostRequest(_message.Message):
    __slots__ = ("host", "windows_build", "hns_version", "dynamic_port_range", "port_block_size", "excluded_port_ranges", "host_held_ports", "features", "max_non_dsr_backends")
    HOST_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_BUILD_FIELD_NUMBER: _ClassVar[int]
    HNS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_PORT_RANGE_FIELD_NUMBER: _ClassVar[int]
    PORT_BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_PORT_RANGES_FIELD_NUMBER: _ClassVar[int]
    HOST_HELD_PORTS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    MAX_NON_DSR_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    host: str
    windows_build: str
    hns_version: Version
    dynamic_port_range: PortRange
    port_block_size: int
    excluded_port_ranges: _containers.RepeatedCompositeFieldContainer[PortRange]
    host_held_ports: _containers.RepeatedScalarFieldContainer[int]
    features: FeatureOverrides
    max_non_dsr_backends: int
    def __init__(self, host: _Optional[str] = ..., windows_build: _Optional[str] = ..., hns_version: _Optional[_Union[Version, _Mapping]] = ..., dynamic_port_range: _Optional[_Union[PortRange, _Mapping]] = ..., port_block_size: _Optional[int] = ..., excluded_port_ranges: _Optional[_Iterable[_Union[PortRange, _Mapping]]] = ..., host_held_ports: _Optional[_Iterable[int]] = ..., features: _Optional[_Union[FeatureOverrides, _Mapping]] = ..., max_non_dsr_backends: _Optional[int] = ...) -> None: ...

class PortPoolStatus(_message.Message):
    __slots__ = ("dynamic_port_range", "block_size", "total_blocks", "used_blocks", "free_blocks")
    DYNAMIC_PORT_RANGE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    USED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    FREE_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    dynamic_port_range: PortRange
    block_size: int
    total_blocks: int
    used_blocks: int
    free_blocks: int
    def __init__(self, dynamic_port_range: _Optional[_Union[PortRange, _Mapping]] = ..., block_size: _Optional[int] = ..., total_blocks: _Optional[int] = ..., used_blocks: _Optional[int] = ..., free_blocks: _Optional[int] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("name", "windows_build", "hns_version", "features", "port_pool", "networks", "endpoints", "namespaces", "load_balancers", "max_non_dsr_backends")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_BUILD_FIELD_NUMBER: _ClassVar[int]
    HNS_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PORT_POOL_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCERS_FIELD_NUMBER: _ClassVar[int]
    MAX_NON_DSR_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    windows_build: str
    hns_version: Version
    features: SupportedFeatures
    port_pool: PortPoolStatus
    networks: int
    endpoints: int
    namespaces: int
    load_balancers: int
    max_non_dsr_backends: int
    def __init__(self, name: _Optional[str] = ..., windows_build: _Optional[str] = ..., hns_version: _Optional[_Union[Version, _Mapping]] = ..., features: _Optional[_Union[SupportedFeatures, _Mapping]] = ..., port_pool: _Optional[_Union[PortPoolStatus, _Mapping]] = ..., networks: _Optional[int] = ..., endpoints: _Optional[int] = ..., namespaces: _Optional[int] = ..., load_balancers: _Optional[int] = ..., max_non_dsr_backends: _Optional[int] = ...) -> None: ...

class HostRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class DeleteHostRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class ListHostsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHostsResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    def __init__(self, hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ...) -> None: ...

class Globals(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: Version
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class SupportedFeatures(_message.Message):
    __slots__ = ("api_v2", "dsr", "modify_load_balancer", "ipv6")
    API_V2_FIELD_NUMBER: _ClassVar[int]
    DSR_FIELD_NUMBER: _ClassVar[int]
    MODIFY_LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    api_v2: bool
    dsr: bool
    modify_load_balancer: bool
    ipv6: bool
    def __init__(self, api_v2: _Optional[bool] = ..., dsr: _Optional[bool] = ..., modify_load_balancer: _Optional[bool] = ..., ipv6: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("host", "id", "name", "network_id", "ip_address", "frontend_vip")
    HOST_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_VIP_FIELD_NUMBER: _ClassVar[int]
    host: str
    id: str
    name: str
    network_id: str
    ip_address: str
    frontend_vip: str
    def __init__(self, host: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., network_id: _Optional[str] = ..., ip_address: _Optional[str] = ..., frontend_vip: _Optional[str] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("host", "id")
    HOST_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    host: str
    id: str
    def __init__(self, host: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("next_hop", "destination_prefix", "metric")
    NEXT_HOP_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_PREFIX_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    next_hop: str
    destination_prefix: str
    metric: int
    def __init__(self, next_hop: _Optional[str] = ..., destination_prefix: _Optional[str] = ..., metric: _Optional[int] = ...) -> None: ...

class Dns(_message.Message):
    __slots__ = ("domain", "search", "server_list")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    SERVER_LIST_FIELD_NUMBER: _ClassVar[int]
    domain: str
    search: _containers.RepeatedScalarFieldContainer[str]
    server_list: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domain: _Optional[str] = ..., search: _Optional[_Iterable[str]] = ..., server_list: _Optional[_Iterable[str]] = ...) -> None: ...

class Subnet(_message.Message):
    __slots__ = ("ip_address_prefix", "routes")
    IP_ADDRESS_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    ip_address_prefix: str
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    def __init__(self, ip_address_prefix: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ...) -> None: ...

class Ipam(_message.Message):
    __slots__ = ("type", "subnets")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    type: str
    subnets: _containers.RepeatedCompositeFieldContainer[Subnet]
    def __init__(self, type: _Optional[str] = ..., subnets: _Optional[_Iterable[_Union[Subnet, _Mapping]]] = ...) -> None: ...

class NetworkPolicy(_message.Message):
    __slots__ = ("type", "settings")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    type: str
    settings: str
    def __init__(self, type: _Optional[str] = ..., settings: _Optional[str] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "name", "type", "ipams", "policies", "dns", "flags")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IPAMS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: NetworkType
    ipams: _containers.RepeatedCompositeFieldContainer[Ipam]
    policies: _containers.RepeatedCompositeFieldContainer[NetworkPolicy]
    dns: Dns
    flags: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[NetworkType, str]] = ..., ipams: _Optional[_Iterable[_Union[Ipam, _Mapping]]] = ..., policies: _Optional[_Iterable[_Union[NetworkPolicy, _Mapping]]] = ..., dns: _Optional[_Union[Dns, _Mapping]] = ..., flags: _Optional[int] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("host", "network")
    HOST_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    host: str
    network: Network
    def __init__(self, host: _Optional[str] = ..., network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[Network, _Mapping]]] = ...) -> None: ...

class IpConfig(_message.Message):
    __slots__ = ("ip_address", "prefix_length")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    prefix_length: int
    def __init__(self, ip_address: _Optional[str] = ..., prefix_length: _Optional[int] = ...) -> None: ...

class OutboundNatPolicy(_message.Message):
    __slots__ = ("virtual_ip", "exceptions")
    VIRTUAL_IP_FIELD_NUMBER: _ClassVar[int]
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    virtual_ip: str
    exceptions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, virtual_ip: _Optional[str] = ..., exceptions: _Optional[_Iterable[str]] = ...) -> None: ...

class SdnRoutePolicy(_message.Message):
    __slots__ = ("destination_prefix", "next_hop", "need_encap")
    DESTINATION_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NEXT_HOP_FIELD_NUMBER: _ClassVar[int]
    NEED_ENCAP_FIELD_NUMBER: _ClassVar[int]
    destination_prefix: str
    next_hop: str
    need_encap: bool
    def __init__(self, destination_prefix: _Optional[str] = ..., next_hop: _Optional[str] = ..., need_encap: _Optional[bool] = ...) -> None: ...

class PortMappingPolicy(_message.Message):
    __slots__ = ("internal_port", "external_port", "protocol", "vip", "flags")
    INTERNAL_PORT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    internal_port: int
    external_port: int
    protocol: int
    vip: str
    flags: int
    def __init__(self, internal_port: _Optional[int] = ..., external_port: _Optional[int] = ..., protocol: _Optional[int] = ..., vip: _Optional[str] = ..., flags: _Optional[int] = ...) -> None: ...

class GenericPolicy(_message.Message):
    __slots__ = ("type", "settings")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    type: str
    settings: str
    def __init__(self, type: _Optional[str] = ..., settings: _Optional[str] = ...) -> None: ...

class EndpointPolicy(_message.Message):
    __slots__ = ("out_bound_nat", "sdn_route", "port_mapping", "other")
    OUT_BOUND_NAT_FIELD_NUMBER: _ClassVar[int]
    SDN_ROUTE_FIELD_NUMBER: _ClassVar[int]
    PORT_MAPPING_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    out_bound_nat: OutboundNatPolicy
    sdn_route: SdnRoutePolicy
    port_mapping: PortMappingPolicy
    other: GenericPolicy
    def __init__(self, out_bound_nat: _Optional[_Union[OutboundNatPolicy, _Mapping]] = ..., sdn_route: _Optional[_Union[SdnRoutePolicy, _Mapping]] = ..., port_mapping: _Optional[_Union[PortMappingPolicy, _Mapping]] = ..., other: _Optional[_Union[GenericPolicy, _Mapping]] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("id", "name", "host_compute_network", "host_compute_namespace", "ip_configurations", "mac_address", "routes", "dns", "policies", "flags")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_COMPUTE_NETWORK_FIELD_NUMBER: _ClassVar[int]
    HOST_COMPUTE_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    IP_CONFIGURATIONS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    DNS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    host_compute_network: str
    host_compute_namespace: str
    ip_configurations: _containers.RepeatedCompositeFieldContainer[IpConfig]
    mac_address: str
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    dns: Dns
    policies: _containers.RepeatedCompositeFieldContainer[EndpointPolicy]
    flags: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., host_compute_network: _Optional[str] = ..., host_compute_namespace: _Optional[str] = ..., ip_configurations: _Optional[_Iterable[_Union[IpConfig, _Mapping]]] = ..., mac_address: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., dns: _Optional[_Union[Dns, _Mapping]] = ..., policies: _Optional[_Iterable[_Union[EndpointPolicy, _Mapping]]] = ..., flags: _Optional[int] = ...) -> None: ...

class CreateEndpointRequest(_message.Message):
    __slots__ = ("host", "endpoint")
    HOST_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    host: str
    endpoint: Endpoint
    def __init__(self, host: _Optional[str] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ...) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ...) -> None: ...

class Namespace(_message.Message):
    __slots__ = ("id", "type", "endpoint_ids", "container_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_IDS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: NamespaceType
    endpoint_ids: _containers.RepeatedScalarFieldContainer[str]
    container_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[NamespaceType, str]] = ..., endpoint_ids: _Optional[_Iterable[str]] = ..., container_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateNamespaceRequest(_message.Message):
    __slots__ = ("host", "namespace")
    HOST_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    host: str
    namespace: Namespace
    def __init__(self, host: _Optional[str] = ..., namespace: _Optional[_Union[Namespace, _Mapping]] = ...) -> None: ...

class ListNamespacesResponse(_message.Message):
    __slots__ = ("namespaces",)
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[Namespace]
    def __init__(self, namespaces: _Optional[_Iterable[_Union[Namespace, _Mapping]]] = ...) -> None: ...

class ModifyNamespaceRequest(_message.Message):
    __slots__ = ("host", "namespace_id", "request_type", "endpoint_id")
    HOST_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    host: str
    namespace_id: str
    request_type: ModifyRequestType
    endpoint_id: str
    def __init__(self, host: _Optional[str] = ..., namespace_id: _Optional[str] = ..., request_type: _Optional[_Union[ModifyRequestType, str]] = ..., endpoint_id: _Optional[str] = ...) -> None: ...

class LoadBalancerPortMapping(_message.Message):
    __slots__ = ("protocol", "internal_port", "external_port", "distribution_type", "flags")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_PORT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_PORT_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    protocol: int
    internal_port: int
    external_port: int
    distribution_type: LoadBalancerDistribution
    flags: int
    def __init__(self, protocol: _Optional[int] = ..., internal_port: _Optional[int] = ..., external_port: _Optional[int] = ..., distribution_type: _Optional[_Union[LoadBalancerDistribution, str]] = ..., flags: _Optional[int] = ...) -> None: ...

class LoadBalancer(_message.Message):
    __slots__ = ("id", "host_compute_endpoints", "source_vip", "frontend_vips", "port_mappings", "flags", "reserved_ports")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_COMPUTE_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VIP_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_VIPS_FIELD_NUMBER: _ClassVar[int]
    PORT_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_PORTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    host_compute_endpoints: _containers.RepeatedScalarFieldContainer[str]
    source_vip: str
    frontend_vips: _containers.RepeatedScalarFieldContainer[str]
    port_mappings: _containers.RepeatedCompositeFieldContainer[LoadBalancerPortMapping]
    flags: int
    reserved_ports: PortRange
    def __init__(self, id: _Optional[str] = ..., host_compute_endpoints: _Optional[_Iterable[str]] = ..., source_vip: _Optional[str] = ..., frontend_vips: _Optional[_Iterable[str]] = ..., port_mappings: _Optional[_Iterable[_Union[LoadBalancerPortMapping, _Mapping]]] = ..., flags: _Optional[int] = ..., reserved_ports: _Optional[_Union[PortRange, _Mapping]] = ...) -> None: ...

class CreateLoadBalancerRequest(_message.Message):
    __slots__ = ("host", "load_balancer")
    HOST_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    host: str
    load_balancer: LoadBalancer
    def __init__(self, host: _Optional[str] = ..., load_balancer: _Optional[_Union[LoadBalancer, _Mapping]] = ...) -> None: ...

class UpdateLoadBalancerRequest(_message.Message):
    __slots__ = ("host", "id", "load_balancer")
    HOST_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCER_FIELD_NUMBER: _ClassVar[int]
    host: str
    id: str
    load_balancer: LoadBalancer
    def __init__(self, host: _Optional[str] = ..., id: _Optional[str] = ..., load_balancer: _Optional[_Union[LoadBalancer, _Mapping]] = ...) -> None: ...

class ListLoadBalancersResponse(_message.Message):
    __slots__ = ("load_balancers",)
    LOAD_BALANCERS_FIELD_NUMBER: _ClassVar[int]
    load_balancers: _containers.RepeatedCompositeFieldContainer[LoadBalancer]
    def __init__(self, load_balancers: _Optional[_Iterable[_Union[LoadBalancer, _Mapping]]] = ...) -> None: ...

class DumpStateRequest(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: str
    def __init__(self, host: _Optional[str] = ...) -> None: ...

class DumpStateResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class InjectFaultRequest(_message.Message):
    __slots__ = ("host", "method", "count", "hresult", "message")
    HOST_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    host: str
    method: str
    count: int
    hresult: int
    message: str
    def __init__(self, host: _Optional[str] = ..., method: _Optional[str] = ..., count: _Optional[int] = ..., hresult: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class InjectFaultResponse(_message.Message):
    __slots__ = ("pending",)
    class PendingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PENDING_FIELD_NUMBER: _ClassVar[int]
    pending: _containers.ScalarMap[str, int]
    def __init__(self, pending: _Optional[_Mapping[str, int]] = ...) -> None: ...
