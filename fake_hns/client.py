"""Thin typed client for the fake HNS gRPC service, one node (``host``) per client.

Every HNS failure surfaces as :class:`HnsError` (``hresult``, ``message``, ``call``;
``str()`` is the hcsshim line). Lookups by id or name are filtered lists; when they
come back empty the client raises :class:`NotFoundError`, as hcsshim's
``GetNetworkByName`` & co. do. A request naming an unknown node raises
:class:`UnknownHostError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

import grpc

from fake_hns.errors import (
    ERROR_NOT_FOUND,
    HCN_E_ENDPOINT_NOT_FOUND,
    HCN_E_NETWORK_NOT_FOUND,
    MD_CALL,
    MD_HRESULT,
    MD_MESSAGE,
    HnsError,
    parse_hresult,
)
from fake_hns.objects import ENDPOINT_FLAG_REMOTE as REMOTE_ENDPOINT
from fake_hns.objects import LB_FLAG_DSR as DSR
from fake_hns.objects import LB_FLAG_IPV6 as IPV6
from fake_hns.objects import LB_PORT_FLAG_LOCAL_ROUTED_VIP as LOCAL_ROUTED_VIP
from fake_hns.objects import NAT_FLAG_LOCAL_ROUTED_VIP as NAT_LOCAL_ROUTED_VIP
from fake_hns.objects import PROTOCOL_TCP as TCP
from fake_hns.objects import PROTOCOL_UDP as UDP
from fake_hns.proto import hns_pb2 as pb
from fake_hns.proto import hns_pb2_grpc as pb_grpc

__all__ = [
    "DSR",
    "IPV6",
    "LOCAL_ROUTED_VIP",
    "NAT_LOCAL_ROUTED_VIP",
    "NOT_FOUND_HRESULTS",
    "REMOTE_ENDPOINT",
    "TCP",
    "UDP",
    "HnsClient",
    "HnsError",
    "HnsRpcError",
    "NotFoundError",
    "UnknownHostError",
    "is_not_found",
    "l2bridge_network",
    "pb",
]

# What hcn.IsNotFoundError treats as "not found".
NOT_FOUND_HRESULTS = frozenset({ERROR_NOT_FOUND, HCN_E_NETWORK_NOT_FOUND, HCN_E_ENDPOINT_NOT_FOUND})
_T = TypeVar("_T")
MAX_MESSAGE = 64 * 1024 * 1024  # thousands of load balancers in one List or DumpState
OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
]


class UnknownHostError(LookupError):
    """The server hosts no node by that name (gRPC NOT_FOUND without an hresult).

    ``method`` is the RPC that asked (empty when raised outside a call)."""

    def __init__(self, details: str, method: str = "") -> None:
        super().__init__(details)
        self.method = method


class HnsRpcError(RuntimeError):
    """A gRPC failure that is not an HNS error (bad request, server down, ...).

    ``method`` is the RPC that failed (empty when raised outside a call)."""

    def __init__(self, code: grpc.StatusCode, details: str, method: str = "") -> None:
        self.code = code
        self.details = details
        self.method = method
        super().__init__(f"{code.name}: {details}")


class NotFoundError(HnsError):
    """A lookup by id or name found nothing (decided client side, as in hcsshim).

    ``str()`` follows hcsshim's NotFound error types, e.g. ``Network name "x" not found``.
    """

    def __init__(self, hresult: int, text: str, call: str) -> None:
        super().__init__(hresult, None, call)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.hresult, self.text, self.call))


def is_not_found(err: BaseException) -> bool:
    """True for "not found" HNS errors, client-side or from HNS (hcn.IsNotFoundError)."""
    return isinstance(err, HnsError) and err.hresult in NOT_FOUND_HRESULTS


def l2bridge_network(name: str, subnet: str, gateway: str, adapter: str = "Ethernet") -> pb.Network:
    """The network the AWS vpc-bridge CNI creates (FindOrCreateNetwork): L2Bridge on the
    ENI's adapter, one static subnet with the default route via ``gateway``."""
    return pb.Network(
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
                type="NetAdapterName", settings=json.dumps({"NetworkAdapterName": adapter})
            )
        ],
    )


def _target(target: str) -> str:
    for prefix in ("grpc://", "http://"):
        if target.startswith(prefix):
            return target.removeprefix(prefix)
    return target


def _one(items: Iterable[_T], error: NotFoundError) -> _T:
    for item in items:
        return item
    raise error


class HnsClient:
    """Typed calls on one node's HNS. ``target`` is ``host:port`` or ``grpc://host:port``."""

    def __init__(
        self,
        target: str,
        host: str,
        *,
        timeout: float = 10.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.target = _target(target)
        self.host = host
        self.timeout = timeout
        self._owns_channel = channel is None
        self._channel = (
            channel if channel is not None else grpc.insecure_channel(self.target, options=OPTIONS)
        )
        self._stub = pb_grpc.HostNetworkServiceStub(self._channel)

    # ------------------------------------------------------------------ plumbing

    def for_host(self, host: str) -> HnsClient:
        """A client for another node sharing this client's channel."""
        return HnsClient(self.target, host, timeout=self.timeout, channel=self._channel)

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> HnsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise _convert(err, method) from None

    # ------------------------------------------------------------------ hosts

    def create_host(
        self,
        windows_build: str = "ltsc2019",
        *,
        replace: bool = False,
        **fields: Any,
    ) -> pb.Host:
        """Create (or with ``replace`` configure) this node's HNS.

        ``fields`` are :class:`pb.CreateHostRequest` fields, e.g.
        ``dynamic_port_range=pb.PortRange(start=49152, end=65535)``.
        """
        request = pb.CreateHostRequest(host=self.host, windows_build=windows_build, **fields)
        return self._call("ConfigureHost" if replace else "CreateHost", request)

    def delete_host(self) -> bool:
        """Remove this node's HNS; False when it did not exist."""
        return bool(self._call("DeleteHost", pb.DeleteHostRequest(host=self.host)).deleted)

    def get_host(self) -> pb.Host:
        """This node's configuration, features and port-pool usage."""
        return self._call("GetHost", pb.HostRequest(host=self.host))

    def list_hosts(self) -> list[pb.Host]:
        """All nodes on the server."""
        return list(self._call("ListHosts", pb.ListHostsRequest()).hosts)

    def globals(self) -> pb.Globals:
        """hcn.GetGlobals: the HNS version."""
        return self._call("GetGlobals", pb.HostRequest(host=self.host))

    def supported_features(self) -> pb.SupportedFeatures:
        """hcn.GetSupportedFeatures."""
        return self._call("GetSupportedFeatures", pb.HostRequest(host=self.host))

    # ------------------------------------------------------------------ networks

    def create_network(self, network: pb.Network) -> pb.Network:
        """hcn HostComputeNetwork.Create."""
        return self._call("CreateNetwork", pb.CreateNetworkRequest(host=self.host, network=network))

    def list_networks(self, *, id: str = "", name: str = "") -> list[pb.Network]:
        """Networks matching the filter (hcn.ListNetworksQuery)."""
        request = pb.ListRequest(host=self.host, id=id, name=name)
        return list(self._call("ListNetworks", request).networks)

    def get_network_by_id(self, network_id: str) -> pb.Network:
        """hcn.GetNetworkByID: raises NotFoundError when absent."""
        return _one(
            self.list_networks(id=network_id),
            NotFoundError(
                HCN_E_NETWORK_NOT_FOUND, f'Network ID "{network_id}" not found', "hcnOpenNetwork"
            ),
        )

    def get_network_by_name(self, name: str) -> pb.Network:
        """hcn.GetNetworkByName: raises NotFoundError when absent."""
        return _one(
            self.list_networks(name=name),
            NotFoundError(
                HCN_E_NETWORK_NOT_FOUND, f'Network name "{name}" not found', "hcnOpenNetwork"
            ),
        )

    def delete_network(self, network_id: str, *, missing_ok: bool = True) -> bool:
        """Delete a network; with ``missing_ok=False`` a missing one raises as HNS does."""
        deleted = bool(
            self._call("DeleteNetwork", pb.DeleteRequest(host=self.host, id=network_id)).deleted
        )
        if not deleted and not missing_ok:
            raise HnsError(HCN_E_NETWORK_NOT_FOUND, call="hcnDeleteNetwork")
        return deleted

    # ------------------------------------------------------------------ endpoints

    def create_endpoint(self, endpoint: pb.Endpoint) -> pb.Endpoint:
        """hcn HostComputeEndpoint.Create (``host_compute_network`` required)."""
        return self._call(
            "CreateEndpoint", pb.CreateEndpointRequest(host=self.host, endpoint=endpoint)
        )

    def list_endpoints(
        self, *, id: str = "", name: str = "", network_id: str = "", ip_address: str = ""
    ) -> list[pb.Endpoint]:
        """Endpoints matching the filter (hcn.ListEndpointsQuery)."""
        request = pb.ListRequest(
            host=self.host, id=id, name=name, network_id=network_id, ip_address=ip_address
        )
        return list(self._call("ListEndpoints", request).endpoints)

    def get_endpoint_by_id(self, endpoint_id: str) -> pb.Endpoint:
        """hcn.GetEndpointByID: raises NotFoundError when absent."""
        return _one(
            self.list_endpoints(id=endpoint_id),
            NotFoundError(
                HCN_E_ENDPOINT_NOT_FOUND,
                f'Endpoint ID "{endpoint_id}" not found',
                "hcnOpenEndpoint",
            ),
        )

    def get_endpoint_by_name(self, name: str) -> pb.Endpoint:
        """hcn.GetEndpointByName: raises NotFoundError when absent."""
        return _one(
            self.list_endpoints(name=name),
            NotFoundError(
                HCN_E_ENDPOINT_NOT_FOUND, f'Endpoint name "{name}" not found', "hcnOpenEndpoint"
            ),
        )

    def delete_endpoint(self, endpoint_id: str, *, missing_ok: bool = True) -> bool:
        """Delete an endpoint; with ``missing_ok=False`` a missing one raises as HNS does."""
        deleted = bool(
            self._call("DeleteEndpoint", pb.DeleteRequest(host=self.host, id=endpoint_id)).deleted
        )
        if not deleted and not missing_ok:
            raise HnsError(HCN_E_ENDPOINT_NOT_FOUND, call="hcnDeleteEndpoint")
        return deleted

    # ------------------------------------------------------------------ namespaces

    def create_namespace(self, namespace: pb.Namespace | None = None) -> pb.Namespace:
        """hcn HostComputeNamespace.Create."""
        request = pb.CreateNamespaceRequest(host=self.host, namespace=namespace or pb.Namespace())
        return self._call("CreateNamespace", request)

    def list_namespaces(self, *, id: str = "") -> list[pb.Namespace]:
        """Namespaces matching the filter."""
        return list(self._call("ListNamespaces", pb.ListRequest(host=self.host, id=id)).namespaces)

    def get_namespace_by_id(self, namespace_id: str) -> pb.Namespace:
        """hcn.GetNamespaceByID: raises NotFoundError when absent."""
        return _one(
            self.list_namespaces(id=namespace_id),
            NotFoundError(
                ERROR_NOT_FOUND, f'Namespace ID "{namespace_id}" not found', "hcnOpenNamespace"
            ),
        )

    def add_namespace_endpoint(self, namespace_id: str, endpoint_id: str) -> pb.Namespace:
        """hcn.AddNamespaceEndpoint."""
        return self._modify_namespace(namespace_id, endpoint_id, pb.MODIFY_REQUEST_TYPE_ADD)

    def remove_namespace_endpoint(self, namespace_id: str, endpoint_id: str) -> pb.Namespace:
        """hcn.RemoveNamespaceEndpoint."""
        return self._modify_namespace(namespace_id, endpoint_id, pb.MODIFY_REQUEST_TYPE_REMOVE)

    def _modify_namespace(
        self, namespace_id: str, endpoint_id: str, kind: pb.ModifyRequestType
    ) -> pb.Namespace:
        request = pb.ModifyNamespaceRequest(
            host=self.host, namespace_id=namespace_id, endpoint_id=endpoint_id, request_type=kind
        )
        return self._call("ModifyNamespace", request)

    def delete_namespace(self, namespace_id: str, *, missing_ok: bool = True) -> bool:
        """Delete a namespace; with ``missing_ok=False`` a missing one raises as HNS does."""
        deleted = bool(
            self._call("DeleteNamespace", pb.DeleteRequest(host=self.host, id=namespace_id)).deleted
        )
        if not deleted and not missing_ok:
            raise HnsError(ERROR_NOT_FOUND, call="hcnDeleteNamespace")
        return deleted

    # ------------------------------------------------------------------ load balancers

    def create_load_balancer(self, load_balancer: pb.LoadBalancer) -> pb.LoadBalancer:
        """hcn HostComputeLoadBalancer.Create."""
        request = pb.CreateLoadBalancerRequest(host=self.host, load_balancer=load_balancer)
        return self._call("CreateLoadBalancer", request)

    def list_load_balancers(self, *, id: str = "", frontend_vip: str = "") -> list[pb.LoadBalancer]:
        """Load balancers matching the filter."""
        request = pb.ListRequest(host=self.host, id=id, frontend_vip=frontend_vip)
        return list(self._call("ListLoadBalancers", request).load_balancers)

    def get_load_balancer_by_id(self, lb_id: str) -> pb.LoadBalancer:
        """hcn.GetLoadBalancerByID: raises NotFoundError when absent."""
        return _one(
            self.list_load_balancers(id=lb_id),
            NotFoundError(
                ERROR_NOT_FOUND, f'LoadBalancer "{lb_id}" not found', "hcnOpenLoadBalancer"
            ),
        )

    def update_load_balancer(self, lb_id: str, load_balancer: pb.LoadBalancer) -> pb.LoadBalancer:
        """hcn HostComputeLoadBalancer.Update (needs HNS >= 15.4)."""
        request = pb.UpdateLoadBalancerRequest(
            host=self.host, id=lb_id, load_balancer=load_balancer
        )
        return self._call("UpdateLoadBalancer", request)

    def delete_load_balancer(self, lb_id: str, *, missing_ok: bool = True) -> bool:
        """Delete a load balancer (its port block returns to the pool)."""
        deleted = bool(
            self._call("DeleteLoadBalancer", pb.DeleteRequest(host=self.host, id=lb_id)).deleted
        )
        if not deleted and not missing_ok:
            raise HnsError(ERROR_NOT_FOUND, call="hcnDeleteLoadBalancer")
        return deleted

    # ------------------------------------------------------------------ emulator controls

    def dump_state(self, *, all_hosts: bool = False) -> str:
        """State as JSON text: this host, or every host with ``all_hosts``."""
        request = pb.DumpStateRequest(host="" if all_hosts else self.host)
        return str(self._call("DumpState", request).json)

    def inject_fault(
        self, method: str, hresult: int, count: int = 1, message: str = ""
    ) -> dict[str, int]:
        """Fail the next ``count`` calls of RPC ``method`` on this host with ``hresult``."""
        request = pb.InjectFaultRequest(
            host=self.host, method=method, count=count, hresult=hresult, message=message
        )
        return dict(self._call("InjectFault", request).pending)

    def clear_faults(self) -> dict[str, int]:
        """Drop this host's pending faults."""
        return dict(self._call("ClearFaults", pb.HostRequest(host=self.host)).pending)


def _convert(err: grpc.RpcError, method: str) -> Exception:
    """Turn a gRPC error from RPC ``method`` into HnsError / UnknownHostError / HnsRpcError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or ""
    metadata: dict[str, Any] = {}
    if hasattr(err, "trailing_metadata"):
        pairs: Any = err.trailing_metadata() or ()
        for key, value in pairs:
            metadata[str(key)] = value
    if MD_HRESULT in metadata:
        hresult = parse_hresult(str(metadata[MD_HRESULT]))
        return HnsError(
            hresult,
            str(metadata.get(MD_MESSAGE, "")) or None,
            str(metadata.get(MD_CALL, "hcnCall")),
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return UnknownHostError(details, method)
    return HnsRpcError(code, details, method)
