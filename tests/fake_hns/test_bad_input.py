"""Bad input over the wire: names validated, errors bounded, nothing half-created, and a
hypothesis fuzz of the gRPC API after which the server still serves."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_hns import errors as E
from fake_hns.client import OPTIONS, HnsClient, HnsRpcError, UnknownHostError, pb
from fake_hns.names import MAX_DETAILS, MAX_FAULT_MESSAGE, MAX_OBJECT_NAME
from fake_hns.proto import hns_pb2_grpc

_names = itertools.count()


@pytest.fixture(scope="module")
def stub(hns_target: str) -> Iterator[Any]:
    """A raw stub (no client-side conversion) with the client's message limits."""
    with grpc.insecure_channel(hns_target.removeprefix("grpc://"), options=OPTIONS) as channel:
        yield hns_pb2_grpc.HostNetworkServiceStub(channel)


def rpc_error(fn: Any, *args: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, timeout=30)
    return info.value


def host_names(stub: Any) -> list[str]:
    return [h.name for h in stub.ListHosts(pb.ListHostsRequest(), timeout=10).hosts]


# ---------------------------------------------------------------- host names
@pytest.mark.parametrize(
    "name",
    [
        "win-0",
        "ip-10-0-1-23.us-west-2.compute.internal",
        "a",
        "0",
        "a" * 253,
        ".".join(["b" * 63] * 4)[:253].rstrip("."),
    ],
)
def test_node_names_are_accepted(hns_target: str, name: str) -> None:
    with HnsClient(hns_target, name) as client:
        assert client.create_host().name == name
        assert client.delete_host() is True


@pytest.mark.parametrize(
    "name",
    [
        "Win-0",
        "win_0",
        "a/b",
        "-a",
        "a-",
        "a..b",
        ".a",
        "a b",
        "é",
        "a" * 254,
        "x/" + "y" * 10_000,
    ],
)
def test_other_host_names_are_refused_and_nothing_is_created(stub: Any, name: str) -> None:
    err = rpc_error(stub.CreateHost, pb.CreateHostRequest(host=name))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.details() or ""
    assert "expected a Kubernetes node name" in details and len(details) <= MAX_DETAILS
    assert name not in host_names(stub)
    err = rpc_error(stub.ConfigureHost, pb.CreateHostRequest(host=name))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert name not in host_names(stub)


def test_a_6_mb_host_name_gets_a_short_not_found(stub: Any) -> None:
    name = "x" * 6_000_000
    err = rpc_error(stub.GetHost, pb.HostRequest(host=name))
    assert err.code() == grpc.StatusCode.NOT_FOUND  # not RESOURCE_EXHAUSTED: the header fits
    details = err.details() or ""
    assert len(details) <= MAX_DETAILS and "(6000000 characters)" in details


# ---------------------------------------------------------------- object names
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("n" * (MAX_OBJECT_NAME + 1), "expected at most 256 characters"),
        ("a\x00b", "expected no control characters"),
        ("tab\there", "expected no control characters"),
        ("x" * 6_000_000, "(6000000 characters)"),
    ],
)
def test_bad_network_and_endpoint_names_are_refused(
    hns: HnsClient, build: Any, name: str, expected: str
) -> None:
    with pytest.raises(HnsRpcError) as info:
        hns.create_network(build.network(name))
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details.startswith("network.name ") and expected in info.value.details
    assert len(info.value.details) <= MAX_DETAILS
    assert hns.list_networks() == []
    net = hns.create_network(build.network("vpcbr0"))
    with pytest.raises(HnsRpcError) as info:
        hns.create_endpoint(build.endpoint(net.id, "10.0.0.5", name))
    assert info.value.details.startswith("endpoint.name ") and expected in info.value.details
    assert hns.list_endpoints() == []


def test_names_up_to_the_limit_work(hns: HnsClient, build: Any) -> None:
    name = "n" * MAX_OBJECT_NAME
    net = hns.create_network(build.network(name))
    assert hns.get_network_by_name(name).id == net.id
    ep = hns.create_endpoint(build.endpoint(net.id, "10.0.0.5", "é-" + "e" * 250))
    assert hns.get_endpoint_by_id(ep.id).name == ep.name


# ---------------------------------------------------------------- fault messages
@pytest.mark.parametrize(
    "message", ["é", "line\nbreak", "m" * (MAX_FAULT_MESSAGE + 1), "z" * 6_000_000]
)
def test_fault_messages_must_fit_grpc_metadata(hns: HnsClient, message: str) -> None:
    with pytest.raises(HnsRpcError) as info:
        hns.inject_fault("ListNetworks", E.E_FAIL, message=message)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected printable ASCII" in info.value.details
    assert len(info.value.details) <= MAX_DETAILS
    assert hns.clear_faults() == {}
    assert hns.list_networks() == []  # no fault was queued


def test_a_long_fault_message_reaches_the_client_intact(hns: HnsClient) -> None:
    message = "Injected: " + "x" * (MAX_FAULT_MESSAGE - 10)
    hns.inject_fault("ListNetworks", E.HCN_E_NETWORK_NOT_FOUND, message=message)
    with pytest.raises(E.HnsError) as info:
        hns.list_networks()
    assert (info.value.hresult, info.value.message) == (E.HCN_E_NETWORK_NOT_FOUND, message)


# ---------------------------------------------------------------- fuzzing
TEXT = st.one_of(
    st.sampled_from(["", "win-0", "fuzz-host", "vpcbr0", "10.0.0.5", "not-a-guid"]),
    st.text(max_size=40),
    st.text(min_size=300, max_size=2000),
)
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def _requests(host: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, Any]]:
    network = st.builds(
        pb.Network,
        id=TEXT,
        name=TEXT,
        type=st.integers(min_value=0, max_value=12),
        ipams=st.lists(
            st.builds(
                pb.Ipam,
                type=TEXT,
                subnets=st.lists(st.builds(pb.Subnet, ip_address_prefix=TEXT), max_size=2),
            ),
            max_size=2,
        ),
    )
    endpoint = st.builds(
        pb.Endpoint,
        id=TEXT,
        name=TEXT,
        host_compute_network=TEXT,
        host_compute_namespace=TEXT,
        mac_address=TEXT,
        ip_configurations=st.lists(
            st.builds(
                pb.IpConfig, ip_address=TEXT, prefix_length=st.integers(min_value=0, max_value=255)
            ),
            max_size=2,
        ),
    )
    lb = st.builds(
        pb.LoadBalancer,
        host_compute_endpoints=st.lists(TEXT, max_size=3),
        source_vip=TEXT,
        frontend_vips=st.lists(TEXT, max_size=2),
        flags=st.integers(min_value=0, max_value=16),
    )
    u32 = st.integers(min_value=0, max_value=2**32 - 1)
    return st.one_of(
        st.tuples(
            st.sampled_from(["CreateHost", "ConfigureHost"]),
            st.builds(
                pb.CreateHostRequest,
                host=host,
                windows_build=TEXT,
                port_block_size=st.integers(min_value=0, max_value=70000),
                max_non_dsr_backends=st.integers(min_value=0, max_value=100),
            ),
        ),
        st.tuples(st.just("GetHost"), st.builds(pb.HostRequest, host=host)),
        st.tuples(st.just("GetGlobals"), st.builds(pb.HostRequest, host=host)),
        st.tuples(
            st.just("CreateNetwork"), st.builds(pb.CreateNetworkRequest, host=host, network=network)
        ),
        st.tuples(
            st.just("ListNetworks"), st.builds(pb.ListRequest, host=host, id=TEXT, name=TEXT)
        ),
        st.tuples(
            st.just("CreateEndpoint"),
            st.builds(pb.CreateEndpointRequest, host=host, endpoint=endpoint),
        ),
        st.tuples(
            st.just("ListEndpoints"),
            st.builds(pb.ListRequest, host=host, id=TEXT, name=TEXT, ip_address=TEXT),
        ),
        st.tuples(st.just("DeleteEndpoint"), st.builds(pb.DeleteRequest, host=host, id=TEXT)),
        st.tuples(
            st.just("CreateNamespace"),
            st.builds(
                pb.CreateNamespaceRequest, host=host, namespace=st.builds(pb.Namespace, id=TEXT)
            ),
        ),
        st.tuples(
            st.just("ModifyNamespace"),
            st.builds(
                pb.ModifyNamespaceRequest,
                host=host,
                namespace_id=TEXT,
                endpoint_id=TEXT,
                request_type=st.integers(min_value=0, max_value=5),
            ),
        ),
        st.tuples(
            st.just("CreateLoadBalancer"),
            st.builds(pb.CreateLoadBalancerRequest, host=host, load_balancer=lb),
        ),
        st.tuples(st.just("DumpState"), st.builds(pb.DumpStateRequest, host=host)),
        st.tuples(
            st.just("InjectFault"),
            st.builds(
                pb.InjectFaultRequest,
                host=host,
                method=st.one_of(st.sampled_from(["ListNetworks", "CreateEndpoint"]), TEXT),
                count=st.integers(min_value=0, max_value=3),
                hresult=u32,
                message=TEXT,
            ),
        ),
        st.tuples(st.just("ClearFaults"), st.builds(pb.HostRequest, host=host)),
    )


@pytest.fixture(scope="module")
def fuzz_host(hns_target: str) -> Iterator[str]:
    with HnsClient(hns_target, "fuzz-host") as client:
        client.create_host(replace=True)
        yield client.host
        client.delete_host()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_requests_are_answered_and_the_server_keeps_serving(
    stub: Any, fuzz_host: str, data: st.DataObject
) -> None:
    host = st.one_of(st.just(fuzz_host), TEXT)
    method, request = data.draw(_requests(host))
    try:
        getattr(stub, method)(request, timeout=30)
    except grpc.RpcError as err:
        details = err.details() or ""
        assert err.code() in ALLOWED, (method, err.code(), details[:300])
        assert len(details) <= MAX_DETAILS and "Traceback" not in details
        md = dict(err.trailing_metadata() or ())
        if E.MD_HRESULT in md:
            assert len(str(md.get(E.MD_MESSAGE, ""))) <= MAX_DETAILS
    stub.ClearFaults(pb.HostRequest(host=fuzz_host), timeout=10)
    assert stub.GetHost(pb.HostRequest(host=fuzz_host), timeout=10).name == fuzz_host


def test_unknown_host_still_clear_after_fuzzing(hns_target: str) -> None:
    with HnsClient(hns_target, "never-created") as client, pytest.raises(UnknownHostError):
        client.get_host()
