"""The gRPC servicer: thin wire handling around :mod:`fake_hns.host` rules.

Error transport (documented in hns.proto and docs/fake_hns.md): an HNS failure aborts
the call with trailing metadata ``hns-hresult`` / ``hns-call`` / ``hns-message`` and the
hcsshim-formatted line as status details; unknown hosts are NOT_FOUND without an hresult.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fake_hns import convert
from fake_hns import errors as E
from fake_hns.errors import HnsError
from fake_hns.host import HostHns
from fake_hns.names import bounded, metadata_text, shown
from fake_hns.proto import hns_pb2 as pb
from fake_hns.proto import hns_pb2_grpc as pb_grpc
from fake_hns.registry import HostExists, HostRegistry, UnknownHost

log = logging.getLogger("fake_hns")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["HostNetworkService"].full_name
DEFAULT_WORKERS = 16
MAX_MESSAGE = 64 * 1024 * 1024

# RPC method -> the hcn call whose name HNS errors carry. These methods accept faults.
HCN_CALLS: dict[str, str] = {
    "GetGlobals": "hcnQueryGlobals",
    "GetSupportedFeatures": "hcnQueryGlobals",
    "CreateNetwork": "hcnCreateNetwork",
    "ListNetworks": "hcnEnumerateNetworks",
    "DeleteNetwork": "hcnDeleteNetwork",
    "CreateEndpoint": "hcnCreateEndpoint",
    "ListEndpoints": "hcnEnumerateEndpoints",
    "DeleteEndpoint": "hcnDeleteEndpoint",
    "CreateNamespace": "hcnCreateNamespace",
    "ListNamespaces": "hcnEnumerateNamespaces",
    "ModifyNamespace": "hcnModifyNamespace",
    "DeleteNamespace": "hcnDeleteNamespace",
    "CreateLoadBalancer": "hcnCreateLoadBalancer",
    "ListLoadBalancers": "hcnEnumerateLoadBalancers",
    "UpdateLoadBalancer": "hcnModifyLoadBalancer",
    "DeleteLoadBalancer": "hcnDeleteLoadBalancer",
}

_NOT_FOUND = {
    E.ERROR_NOT_FOUND,
    E.HCN_E_NETWORK_NOT_FOUND,
    E.HCN_E_ENDPOINT_NOT_FOUND,
    E.HCN_E_SUBNET_NOT_FOUND,
    E.HCN_E_POLICY_NOT_FOUND,
}
_EXISTS = {
    E.ERROR_OBJECT_ALREADY_EXISTS,
    E.HCN_E_NETWORK_ALREADY_EXISTS,
    E.HCN_E_PORT_ALREADY_EXISTS,
    E.HCN_E_ENDPOINT_ALREADY_ATTACHED,
}
_INVALID = {
    E.E_INVALIDARG,
    E.HCN_E_INVALID_NETWORK,
    E.HCN_E_INVALID_NETWORK_TYPE,
    E.HCN_E_INVALID_ENDPOINT,
    E.HCN_E_INVALID_POLICY,
    E.HCN_E_INVALID_POLICY_TYPE,
    E.HCN_E_INVALID_IP,
}

_R = TypeVar("_R")


def grpc_code(hresult: int) -> grpc.StatusCode:
    """The gRPC status used for an HRESULT (clients should read ``hns-hresult``)."""
    if hresult in _NOT_FOUND:
        return grpc.StatusCode.NOT_FOUND
    if hresult in _EXISTS:
        return grpc.StatusCode.ALREADY_EXISTS
    if hresult in _INVALID:
        return grpc.StatusCode.INVALID_ARGUMENT
    if hresult == E.HCN_E_REQUEST_UNSUPPORTED:
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.UNKNOWN


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> NoReturn:
    """End the call with `code`; the details are bounded (gRPC sends them as a header)."""
    context.abort(code, bounded(details))


def _abort_hns(context: grpc.ServicerContext, err: HnsError) -> NoReturn:
    context.set_trailing_metadata(
        (
            (E.MD_HRESULT, f"0x{err.hresult:08x}"),
            (E.MD_CALL, metadata_text(err.call)),
            (E.MD_MESSAGE, metadata_text(err.message)),
        )
    )
    _abort(context, grpc_code(err.hresult), str(err))


class HostNetworkService(pb_grpc.HostNetworkServiceServicer):
    """Implements ekswin.hns.v1.HostNetworkService over a HostRegistry."""

    def __init__(self, registry: HostRegistry) -> None:
        self.registry = registry

    # ------------------------------------------------------------------ plumbing

    def _host(self, name: str, context: grpc.ServicerContext) -> HostHns:
        try:
            return self.registry.get(name)
        except UnknownHost as err:
            _abort(context, grpc.StatusCode.NOT_FOUND, str(err))

    def _on_host(
        self,
        method: str,
        host_name: str,
        context: grpc.ServicerContext,
        fn: Callable[[HostHns], _R],
    ) -> _R:
        """Run ``fn`` under the host's lock after consuming any injected fault."""
        host = self._host(host_name, context)
        try:
            with host.lock:
                host.faults.check(method, HCN_CALLS[method])
                return fn(host)
        except HnsError as err:
            log.info("%s on %s: %s", method, host_name, err)
            _abort_hns(context, err)

    @staticmethod
    def _parse(context: grpc.ServicerContext, fn: Callable[[], _R]) -> _R:
        try:
            return fn()
        except ValueError as err:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))

    # ------------------------------------------------------------------ hosts

    def CreateHost(self, request: pb.CreateHostRequest, context: Any) -> pb.Host:
        """Create a node's HNS."""
        config = self._parse(context, lambda: convert.host_config(request))
        try:
            host = self.registry.create(config)
        except HostExists as err:
            _abort(context, grpc.StatusCode.ALREADY_EXISTS, str(err))
        except ValueError as err:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        with host.lock:
            return convert.host_msg(host)

    def ConfigureHost(self, request: pb.CreateHostRequest, context: Any) -> pb.Host:
        """Create or reconfigure a node's HNS."""
        config = self._parse(context, lambda: convert.host_config(request))
        try:
            host = self.registry.configure(config)
        except ValueError as err:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        with host.lock:
            return convert.host_msg(host)

    def DeleteHost(self, request: pb.DeleteHostRequest, context: Any) -> pb.DeleteResponse:
        """Remove a node."""
        return pb.DeleteResponse(deleted=self.registry.delete(request.host))

    def ListHosts(self, request: pb.ListHostsRequest, context: Any) -> pb.ListHostsResponse:
        """All nodes."""
        hosts = []
        for name in self.registry.names():
            try:
                host = self.registry.get(name)
            except UnknownHost:
                continue  # deleted meanwhile
            with host.lock:
                hosts.append(convert.host_msg(host))
        return pb.ListHostsResponse(hosts=hosts)

    def GetHost(self, request: pb.HostRequest, context: Any) -> pb.Host:
        """One node."""
        host = self._host(request.host, context)
        with host.lock:
            return convert.host_msg(host)

    def GetGlobals(self, request: pb.HostRequest, context: Any) -> pb.Globals:
        """hcn.GetGlobals."""

        def run(host: HostHns) -> pb.Globals:
            major, minor = host.config.version()
            return pb.Globals(version=pb.Version(major=major, minor=minor))

        return self._on_host("GetGlobals", request.host, context, run)

    def GetSupportedFeatures(self, request: pb.HostRequest, context: Any) -> pb.SupportedFeatures:
        """hcn.GetSupportedFeatures."""
        return self._on_host("GetSupportedFeatures", request.host, context, convert.features_msg)

    # ------------------------------------------------------------------ networks

    def CreateNetwork(self, request: pb.CreateNetworkRequest, context: Any) -> pb.Network:
        """hcnCreateNetwork."""
        net = self._parse(context, lambda: convert.network(request.network))
        return self._on_host(
            "CreateNetwork",
            request.host,
            context,
            lambda h: convert.network_msg(h.create_network(net)),
        )

    def ListNetworks(self, request: pb.ListRequest, context: Any) -> pb.ListNetworksResponse:
        """Filtered network list."""
        return self._on_host(
            "ListNetworks",
            request.host,
            context,
            lambda h: pb.ListNetworksResponse(
                networks=[
                    convert.network_msg(n)
                    for n in h.list_networks(id=request.id, name=request.name)
                ]
            ),
        )

    def DeleteNetwork(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        """hcnDeleteNetwork (idempotent)."""
        return self._on_host(
            "DeleteNetwork",
            request.host,
            context,
            lambda h: pb.DeleteResponse(deleted=h.delete_network(request.id)),
        )

    # ------------------------------------------------------------------ endpoints

    def CreateEndpoint(self, request: pb.CreateEndpointRequest, context: Any) -> pb.Endpoint:
        """hcnCreateEndpoint."""
        ep = self._parse(context, lambda: convert.endpoint(request.endpoint))
        return self._on_host(
            "CreateEndpoint",
            request.host,
            context,
            lambda h: convert.endpoint_msg(h.create_endpoint(ep)),
        )

    def ListEndpoints(self, request: pb.ListRequest, context: Any) -> pb.ListEndpointsResponse:
        """Filtered endpoint list."""
        return self._on_host(
            "ListEndpoints",
            request.host,
            context,
            lambda h: pb.ListEndpointsResponse(
                endpoints=[
                    convert.endpoint_msg(e)
                    for e in h.list_endpoints(
                        id=request.id,
                        name=request.name,
                        network_id=request.network_id,
                        ip_address=request.ip_address,
                    )
                ]
            ),
        )

    def DeleteEndpoint(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        """hcnDeleteEndpoint (idempotent)."""
        return self._on_host(
            "DeleteEndpoint",
            request.host,
            context,
            lambda h: pb.DeleteResponse(deleted=h.delete_endpoint(request.id)),
        )

    # ------------------------------------------------------------------ namespaces

    def CreateNamespace(self, request: pb.CreateNamespaceRequest, context: Any) -> pb.Namespace:
        """hcnCreateNamespace."""
        ns = self._parse(context, lambda: convert.namespace(request.namespace))
        return self._on_host(
            "CreateNamespace",
            request.host,
            context,
            lambda h: convert.namespace_msg(h.create_namespace(ns)),
        )

    def ListNamespaces(self, request: pb.ListRequest, context: Any) -> pb.ListNamespacesResponse:
        """Filtered namespace list."""
        return self._on_host(
            "ListNamespaces",
            request.host,
            context,
            lambda h: pb.ListNamespacesResponse(
                namespaces=[convert.namespace_msg(n) for n in h.list_namespaces(id=request.id)]
            ),
        )

    def ModifyNamespace(self, request: pb.ModifyNamespaceRequest, context: Any) -> pb.Namespace:
        """hcnModifyNamespace: add or remove an endpoint."""
        kind = request.request_type
        if kind not in (pb.MODIFY_REQUEST_TYPE_ADD, pb.MODIFY_REQUEST_TYPE_REMOVE):
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request_type {kind}: expected MODIFY_REQUEST_TYPE_ADD or _REMOVE",
            )

        def run(h: HostHns) -> pb.Namespace:
            if kind == pb.MODIFY_REQUEST_TYPE_ADD:
                ns = h.add_namespace_endpoint(request.namespace_id, request.endpoint_id)
            else:
                ns = h.remove_namespace_endpoint(request.namespace_id, request.endpoint_id)
            return convert.namespace_msg(ns)

        return self._on_host("ModifyNamespace", request.host, context, run)

    def DeleteNamespace(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        """hcnDeleteNamespace (idempotent)."""
        return self._on_host(
            "DeleteNamespace",
            request.host,
            context,
            lambda h: pb.DeleteResponse(deleted=h.delete_namespace(request.id)),
        )

    # ------------------------------------------------------------------ load balancers

    def CreateLoadBalancer(
        self, request: pb.CreateLoadBalancerRequest, context: Any
    ) -> pb.LoadBalancer:
        """hcnCreateLoadBalancer."""
        lb = self._parse(context, lambda: convert.load_balancer(request.load_balancer))
        return self._on_host(
            "CreateLoadBalancer",
            request.host,
            context,
            lambda h: convert.load_balancer_msg(h.create_load_balancer(lb)),
        )

    def ListLoadBalancers(
        self, request: pb.ListRequest, context: Any
    ) -> pb.ListLoadBalancersResponse:
        """Filtered load-balancer list."""
        return self._on_host(
            "ListLoadBalancers",
            request.host,
            context,
            lambda h: pb.ListLoadBalancersResponse(
                load_balancers=[
                    convert.load_balancer_msg(lb)
                    for lb in h.list_load_balancers(
                        id=request.id, frontend_vip=request.frontend_vip
                    )
                ]
            ),
        )

    def UpdateLoadBalancer(
        self, request: pb.UpdateLoadBalancerRequest, context: Any
    ) -> pb.LoadBalancer:
        """hcnModifyLoadBalancer."""
        lb = self._parse(context, lambda: convert.load_balancer(request.load_balancer))
        return self._on_host(
            "UpdateLoadBalancer",
            request.host,
            context,
            lambda h: convert.load_balancer_msg(h.update_load_balancer(request.id, lb)),
        )

    def DeleteLoadBalancer(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        """hcnDeleteLoadBalancer (idempotent)."""
        return self._on_host(
            "DeleteLoadBalancer",
            request.host,
            context,
            lambda h: pb.DeleteResponse(deleted=h.delete_load_balancer(request.id)),
        )

    # ------------------------------------------------------------------ emulator controls

    def DumpState(self, request: pb.DumpStateRequest, context: Any) -> pb.DumpStateResponse:
        """State as JSON text."""
        names = [request.host] if request.host else self.registry.names()
        hosts: dict[str, Any] = {}
        for name in names:
            try:
                host = self.registry.get(name)
            except UnknownHost as err:
                if request.host:
                    _abort(context, grpc.StatusCode.NOT_FOUND, str(err))
                continue
            with host.lock:
                hosts[name] = host.to_json()
        text = json.dumps({"seed": self.registry.seed, "hosts": hosts}, sort_keys=True)
        return pb.DumpStateResponse(json=text)

    def InjectFault(self, request: pb.InjectFaultRequest, context: Any) -> pb.InjectFaultResponse:
        """Queue failures of a method on a host."""
        if request.method not in HCN_CALLS:
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"method {shown(request.method)}: expected one of {', '.join(sorted(HCN_CALLS))}",
            )
        host = self._host(request.host, context)
        with host.lock:
            try:
                host.faults.add(request.method, request.count, request.hresult, request.message)
            except ValueError as err:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
            return pb.InjectFaultResponse(pending=host.faults.pending())

    def ClearFaults(self, request: pb.HostRequest, context: Any) -> pb.InjectFaultResponse:
        """Drop a host's pending failures."""
        host = self._host(request.host, context)
        with host.lock:
            host.faults.clear()
            return pb.InjectFaultResponse(pending=host.faults.pending())


def build_server(
    registry: HostRegistry, port: int = 0, workers: int = DEFAULT_WORKERS
) -> tuple[grpc.Server, int]:
    """A started-ready (not started) server on 127.0.0.1 with health and reflection.

    Returns the server and the bound port (``port=0`` picks a free one).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hns"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_HostNetworkServiceServicer_to_server(HostNetworkService(registry), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise OSError(f"could not bind 127.0.0.1:{port}")
    return server, bound
