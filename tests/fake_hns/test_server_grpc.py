"""The fake HNS through a real gRPC client against ``python -m fake_hns --port 0``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from fake_hns import errors as E
from fake_hns.client import (
    HnsClient,
    HnsError,
    HnsRpcError,
    NotFoundError,
    UnknownHostError,
    is_not_found,
    pb,
)

PORT_EXISTS = "The specified port already exists."
PORT_EXISTS_LINE = (
    "hcnCreateLoadBalancer failed in Win32: The specified port already exists. (0x803b0013)"
)


def backend(hns: HnsClient, build: Any) -> str:
    network = hns.create_network(build.network())
    return hns.create_endpoint(build.endpoint(network.id, "10.0.0.5")).id


def vip(i: int) -> str:
    return f"172.20.{i // 250}.{i % 250 + 1}"


# ---------------------------------------------------------------- lifecycle


def test_network_lifecycle(hns: HnsClient, build: Any) -> None:
    created = hns.create_network(build.network("vpcbr0a"))
    assert created.type == pb.NETWORK_TYPE_L2BRIDGE and len(created.id) == 36
    assert created.ipams[0].subnets[0].routes[0].next_hop == "10.0.0.1"
    assert hns.get_network_by_name("vpcbr0a") == created
    assert hns.get_network_by_id(created.id) == created
    assert hns.list_networks(name="other") == []
    assert hns.delete_network(created.id) is True
    assert hns.delete_network(created.id) is False  # idempotent
    with pytest.raises(NotFoundError) as info:
        hns.get_network_by_name("vpcbr0a")
    assert str(info.value) == 'Network name "vpcbr0a" not found'
    assert is_not_found(info.value) and info.value.hresult == E.HCN_E_NETWORK_NOT_FOUND
    with pytest.raises(HnsError) as raised:
        hns.delete_network(created.id, missing_ok=False)
    assert raised.value.hresult == 0x803B0001


def test_endpoint_lifecycle(hns: HnsClient, build: Any) -> None:
    network = hns.create_network(build.network())
    ep = hns.create_endpoint(build.endpoint(network.id, "10.0.0.42", "cid-abc"))
    assert ep.mac_address == "00-15-5D-00-00-2A"
    assert ep.ip_configurations[0].prefix_length == 24
    assert [p.WhichOneof("policy") for p in ep.policies] == ["out_bound_nat", "sdn_route"]
    assert list(ep.policies[0].out_bound_nat.exceptions) == ["10.0.0.0/16", "172.20.0.0/16"]
    assert hns.get_endpoint_by_name("cid-abc") == ep
    assert hns.list_endpoints(ip_address="10.0.0.42") == [ep]
    assert hns.list_endpoints(network_id=network.id) == [ep]
    assert hns.delete_endpoint(ep.id) is True and hns.delete_endpoint(ep.id) is False
    with pytest.raises(HnsError) as info:
        hns.delete_endpoint(ep.id, missing_ok=False)
    assert (info.value.hresult, info.value.message) == (0x803B0002, "The endpoint was not found.")
    with pytest.raises(NotFoundError, match='Endpoint name "cid-abc" not found'):
        hns.get_endpoint_by_name("cid-abc")


def test_namespace_lifecycle(hns: HnsClient, build: Any) -> None:
    network = hns.create_network(build.network())
    ep = hns.create_endpoint(build.endpoint(network.id, "10.0.0.5"))
    ns = hns.create_namespace()
    assert ns.type == pb.NAMESPACE_TYPE_HOST
    assert list(hns.add_namespace_endpoint(ns.id, ep.id).endpoint_ids) == [ep.id]
    assert hns.get_endpoint_by_id(ep.id).host_compute_namespace == ns.id
    with pytest.raises(HnsError) as info:
        hns.add_namespace_endpoint(ns.id, ep.id)
    assert str(info.value) == (
        "hcnModifyNamespace failed in Win32: This endpoint is already attached to the switch. "
        "(0x803b0014)"
    )
    assert list(hns.remove_namespace_endpoint(ns.id, ep.id).endpoint_ids) == []
    with pytest.raises(HnsError) as info:
        hns.remove_namespace_endpoint(ns.id, ep.id)
    assert str(info.value) == "hcnModifyNamespace failed in Win32: Element not found. (0x490)"
    assert hns.delete_namespace(ns.id) and not hns.delete_namespace(ns.id)
    with pytest.raises(HnsError) as info:
        hns.add_namespace_endpoint(ns.id, ep.id)
    assert info.value.hresult == 0x490
    with pytest.raises(NotFoundError):
        hns.get_namespace_by_id(ns.id)


def test_load_balancer_lifecycle(hns: HnsClient, build: Any) -> None:
    ep = backend(hns, build)
    created = hns.create_load_balancer(build.lb([ep], "172.20.0.10"))
    assert created.reserved_ports.end - created.reserved_ports.start + 1 == 64
    assert list(created.host_compute_endpoints) == [ep]
    assert hns.list_load_balancers(frontend_vip="172.20.0.10") == [created]
    assert hns.get_load_balancer_by_id(created.id) == created
    assert hns.get_host().port_pool.used_blocks == 1
    assert hns.delete_load_balancer(created.id) and not hns.delete_load_balancer(created.id)
    assert hns.get_host().port_pool.used_blocks == 0
    with pytest.raises(NotFoundError):
        hns.get_load_balancer_by_id(created.id)


def test_update_load_balancer_gated_by_version(
    make_host: Callable[..., HnsClient], build: Any
) -> None:
    old = make_host("ltsc2022")
    assert (old.globals().version.major, old.globals().version.minor) == (15, 1)
    ep = backend(old, build)
    lb = old.create_load_balancer(build.lb([ep], "172.20.0.10"))
    with pytest.raises(HnsError) as info:
        old.update_load_balancer(lb.id, build.lb([ep], "172.20.0.10", 81))
    assert info.value.hresult == E.HCN_E_REQUEST_UNSUPPORTED
    new = make_host("ltsc2022", features=pb.FeatureOverrides(modify_load_balancer=True))
    assert new.supported_features().modify_load_balancer
    ep = backend(new, build)
    lb = new.create_load_balancer(build.lb([ep], "172.20.0.10"))
    updated = new.update_load_balancer(lb.id, build.lb([ep], "172.20.0.10", 81))
    assert updated.id == lb.id and updated.port_mappings[0].external_port == 81
    assert updated.reserved_ports == lb.reserved_ports


# ---------------------------------------------------------------- hosts


def test_unknown_host_is_not_found_with_a_clear_message(hns_target: str) -> None:
    client = HnsClient(hns_target, "no-such-node")
    with pytest.raises(UnknownHostError, match=r"unknown host 'no-such-node'.*CreateHost"):
        client.list_networks()
    from fake_hns.proto import hns_pb2_grpc

    with grpc.insecure_channel(hns_target.removeprefix("grpc://")) as channel:
        stub = hns_pb2_grpc.HostNetworkServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListEndpoints(pb.ListRequest(host="no-such-node"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    client.close()


def test_host_administration_errors(hns: HnsClient) -> None:
    with pytest.raises(HnsRpcError) as info:
        hns.create_host()
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    bad = hns.for_host("bad-build")
    with pytest.raises(HnsRpcError) as info:
        bad.create_host("ltsc2016")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "windows_build 'ltsc2016': expected one of ltsc2019|ltsc2022" in info.value.details
    assert hns.host in [h.name for h in hns.list_hosts()]


def test_hosts_are_isolated(make_host: Callable[..., HnsClient], build: Any) -> None:
    a, b = make_host(), make_host()
    net_a = a.create_network(build.network("same"))
    net_b = b.create_network(build.network("same"))  # same name on another node: fine
    ep_a = a.create_endpoint(build.endpoint(net_a.id, "10.0.0.5", "cid-1"))
    ep_b = b.create_endpoint(build.endpoint(net_b.id, "10.0.0.5", "cid-1"))
    assert a.list_endpoints(id=ep_b.id) == [] and b.list_endpoints(id=ep_a.id) == []
    with pytest.raises(HnsError) as info:  # a's network id means nothing on b
        b.create_endpoint(build.endpoint(net_a.id, "10.0.0.6"))
    assert info.value.hresult == E.HCN_E_NETWORK_NOT_FOUND
    for i in range(3):
        a.create_load_balancer(build.lb([ep_a.id], vip(i)))
    assert (a.get_host().port_pool.used_blocks, b.get_host().port_pool.used_blocks) == (3, 0)
    a.inject_fault("CreateEndpoint", E.E_FAIL)
    b.create_endpoint(build.endpoint(net_b.id, "10.0.0.7"))  # b's calls unaffected
    assert a.delete_host() is True
    assert [e.id for e in b.list_endpoints()][:1] == [ep_b.id]
    with pytest.raises(UnknownHostError):
        a.list_endpoints()
    a.create_host()  # re-created empty


def test_ids_follow_the_seed(hns_target: str, build: Any) -> None:
    # per-host RNG seeded by (server seed, host name): re-creating a host repeats its ids
    client = HnsClient(hns_target, "seeded-node")
    ids = []
    for _ in range(2):
        client.create_host()
        ids.append(client.create_network(build.network()).id)
        client.delete_host()
    assert ids[0] == ids[1]
    client.close()


# ---------------------------------------------------------------- validation over the wire


def test_validation_errors_carry_hresult_and_message(hns: HnsClient, build: Any) -> None:
    network = hns.create_network(build.network())
    ep = hns.create_endpoint(build.endpoint(network.id, "10.0.0.5"))
    cases: list[tuple[Callable[[], object], int, str, str]] = [
        (
            lambda: hns.create_endpoint(build.endpoint(network.id, "10.0.0.5", "dup-ip")),
            0x1392, "The object already exists.", "hcnCreateEndpoint",
        ),
        (
            lambda: hns.create_endpoint(
                build.endpoint("6f1e1c1d-0000-4000-8000-000000000000", "10.0.0.9")
            ),
            0x803B0001, "The network was not found.", "hcnCreateEndpoint",
        ),
        (
            lambda: hns.create_load_balancer(
                build.lb(["6f1e1c1d-0000-4000-8000-000000000000"], "172.20.0.1")
            ),
            0x803B0002, "The endpoint was not found.", "hcnCreateLoadBalancer",
        ),
        (
            lambda: hns.create_network(build.network()),
            0x803B0010, "A network with this name already exists.", "hcnCreateNetwork",
        ),
        (
            lambda: hns.create_endpoint(build.endpoint(network.id, "fd00::5")),
            0x803B001E,
            "The IP address is either invalid or not part of any configured subnet(s).",
            "hcnCreateEndpoint",
        ),
        (
            lambda: hns.create_load_balancer(
                pb.LoadBalancer(
                    host_compute_endpoints=[ep.id], frontend_vips=["172.20.0.2"], flags=2,
                    port_mappings=[pb.LoadBalancerPortMapping(protocol=6, internal_port=1,
                                                              external_port=1)],
                )
            ),
            0x803B0015, "The specified request is unsupported.", "hcnCreateLoadBalancer",
        ),
        (
            lambda: hns.create_load_balancer(build.lb([ep.id], "172.20.0.3", protocol=1)),
            0x80070057, "The parameter is incorrect.", "hcnCreateLoadBalancer",
        ),
    ]  # fmt: skip
    for call, hresult, message, name in cases:
        with pytest.raises(HnsError) as info:
            call()
        assert (info.value.hresult, info.value.message, info.value.call) == (hresult, message, name)
        shown = hresult & 0xFFFF if hresult >> 16 == 0x8007 else hresult  # hcsshim's Win32 code
        assert str(info.value) == f"{name} failed in Win32: {message} (0x{shown:x})"


def test_dsr_refused_on_a_host_without_it(make_host: Callable[..., HnsClient], build: Any) -> None:
    hns = make_host(hns_version=pb.Version(major=10, minor=0))
    assert not hns.supported_features().dsr
    ep = backend(hns, build)
    with pytest.raises(HnsError) as info:
        hns.create_load_balancer(build.lb([ep], "172.20.0.1", dsr=True))
    assert info.value.hresult == 0x803B0015
    forced = make_host(features=pb.FeatureOverrides(dsr=False))
    ep = backend(forced, build)
    with pytest.raises(HnsError):
        forced.create_load_balancer(build.lb([ep], "172.20.0.1", dsr=True))


def test_more_than_64_backends_without_dsr(hns: HnsClient, build: Any) -> None:
    network = hns.create_network(build.network(prefix="10.0.0.0/16"))
    ids = [hns.create_endpoint(build.endpoint(network.id, f"10.0.1.{i}")).id for i in range(1, 66)]
    hns.create_load_balancer(build.lb(ids[:64], "172.20.0.1"))
    with pytest.raises(HnsError) as info:
        hns.create_load_balancer(build.lb(ids, "172.20.0.2"))
    assert str(info.value) == (
        "hcnCreateLoadBalancer failed in Win32: The parameter is incorrect. (0x57)"
    )
    assert hns.create_load_balancer(build.lb(ids, "172.20.0.3", dsr=True)).flags == 1


# ---------------------------------------------------------------- port exhaustion


def test_exhaustion_curve_with_defaults(hns: HnsClient, build: Any) -> None:
    ep = backend(hns, build)
    pool = hns.get_host().port_pool
    assert (pool.total_blocks, pool.block_size) == (256, 64)
    created = []
    for i in range(256):
        created.append(hns.create_load_balancer(build.lb([ep], vip(i))))
    with pytest.raises(HnsError) as info:
        hns.create_load_balancer(build.lb([ep], vip(256)))
    assert (info.value.hresult, info.value.message) == (0x803B0013, PORT_EXISTS)
    assert str(info.value) == PORT_EXISTS_LINE
    assert info.value.log_line() == (
        PORT_EXISTS_LINE + ' {"Success":false,"Error":"The specified port already exists. ",'
        '"ErrorCode":2151350291}'
    )
    starts = sorted(lb.reserved_ports.start for lb in created)
    assert starts == list(range(49152, 65536, 64))
    # deleting one returns its block: exactly one more fits
    hns.delete_load_balancer(created[10].id)
    again = hns.create_load_balancer(build.lb([ep], vip(300)))
    assert again.reserved_ports == created[10].reserved_ports
    with pytest.raises(HnsError, match=r"\(0x803b0013\)"):
        hns.create_load_balancer(build.lb([ep], vip(301)))


def test_dsr_on_cluster_ip_only_still_exhausts_on_node_ports(hns: HnsClient, build: Any) -> None:
    # kube-proxy --enable-dsr: per NodePort Service, a DSR ClusterIP LB + a non-DSR NodePort LB
    ep = backend(hns, build)
    services = 0
    with pytest.raises(HnsError) as info:
        for i in range(400):
            hns.create_load_balancer(build.lb([ep], vip(i), dsr=True))
            node_port = build.lb([ep], "", 30000 + i)  # no frontend VIP: every node address
            hns.create_load_balancer(node_port)
            services += 1
    assert services == 256
    assert (info.value.hresult, info.value.message) == (0x803B0013, PORT_EXISTS)
    host = hns.get_host()
    assert host.load_balancers == 2 * 256 + 1  # the 257th ClusterIP LB (DSR) was created


def test_dsr_load_balancers_take_no_ports(hns: HnsClient, build: Any) -> None:
    ep = backend(hns, build)
    for i in range(500):
        lb = hns.create_load_balancer(build.lb([ep], vip(i), dsr=True))
        assert not lb.HasField("reserved_ports")
    host = hns.get_host()
    assert host.load_balancers == 500 and host.port_pool.used_blocks == 0


def test_host_held_ports_and_exclusions_move_the_limit(
    make_host: Callable[..., HnsClient], build: Any
) -> None:
    hns = make_host(
        excluded_port_ranges=[pb.PortRange(start=50000, end=50999)],  # blocks 49984..51007: 16
        host_held_ports=[65535],
    )
    total = hns.get_host().port_pool.total_blocks
    assert total == 256 - 16 - 1
    ep = backend(hns, build)
    for i in range(total):
        hns.create_load_balancer(build.lb([ep], vip(i)))
    with pytest.raises(HnsError, match="The specified port already exists"):
        hns.create_load_balancer(build.lb([ep], vip(total)))
    # widening the range (ConfigureHost keeps the objects) moves the limit
    hns.create_host(
        replace=True,
        dynamic_port_range=pb.PortRange(start=32768, end=65535),
        excluded_port_ranges=[pb.PortRange(start=50000, end=50999)],
        host_held_ports=[65535],
    )
    assert hns.get_host().load_balancers == total
    hns.create_load_balancer(build.lb([ep], vip(total)))


def test_concurrent_clients(make_host: Callable[..., HnsClient], build: Any) -> None:
    hosts = [make_host() for _ in range(2)]
    networks = [h.create_network(build.network(prefix="10.0.0.0/16")) for h in hosts]
    eps = [
        h.create_endpoint(build.endpoint(n.id, "10.0.0.5")).id
        for h, n in zip(hosts, networks, strict=True)
    ]
    created: list[list[str]] = [[] for _ in hosts]
    failures: list[list[str]] = [[] for _ in hosts]
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for k, hns in enumerate(hosts):
                client = hns.for_host(hns.host)
                for i in range(40):
                    ip = f"10.0.{w + 10}.{i + 1}"
                    created[k].append(client.create_endpoint(build.endpoint(networks[k].id, ip)).id)
                    try:
                        client.create_load_balancer(build.lb([eps[k]], f"172.21.{w}.{i}"))
                    except HnsError as err:
                        failures[k].append(err.message)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for k, hns in enumerate(hosts):
        host = hns.get_host()
        assert len(set(created[k])) == 320 and host.endpoints == 321
        # 320 load balancers raced for 256 blocks: exactly 256 won, the rest saw exhaustion
        assert host.load_balancers == 256 and host.port_pool.free_blocks == 0
        assert failures[k] == [PORT_EXISTS] * 64


# ---------------------------------------------------------------- controls


def test_dump_state_json(hns: HnsClient, build: Any) -> None:
    ep = backend(hns, build)
    hns.create_load_balancer(build.lb([ep], "172.20.0.10"))
    state = json.loads(hns.dump_state())
    host = state["hosts"][hns.host]
    assert state["seed"] == 7 and list(state["hosts"]) == [hns.host]
    assert host["config"]["hnsVersion"] == "9.3"
    assert host["endpoints"][0]["IpConfigurations"][0]["IpAddress"] == "10.0.0.5"
    assert host["endpoints"][0]["Policies"][0]["Type"] == "OutBoundNAT"
    assert host["loadBalancers"][0]["ReservedPorts"] == {"Start": 49152, "End": 49215}
    assert host["portPool"]["usedBlocks"] == 1
    everything = json.loads(hns.dump_state(all_hosts=True))
    assert hns.host in everything["hosts"]


def test_fault_injection(hns: HnsClient, build: Any) -> None:
    network = hns.create_network(build.network())
    pending = hns.inject_fault("CreateEndpoint", 0x803B0013, count=2)
    assert pending == {"CreateEndpoint": 2}
    for i in range(2):
        with pytest.raises(HnsError) as info:
            hns.create_endpoint(build.endpoint(network.id, f"10.0.0.{i + 5}"))
        assert str(info.value) == (
            "hcnCreateEndpoint failed in Win32: The specified port already exists. (0x803b0013)"
        )
    hns.create_endpoint(build.endpoint(network.id, "10.0.0.5"))  # third call succeeds
    hns.inject_fault("ListNetworks", 0x80004005, message="boom")
    with pytest.raises(
        HnsError, match=r"hcnEnumerateNetworks failed in Win32: boom \(0x80004005\)"
    ):
        hns.list_networks()
    hns.inject_fault("DeleteEndpoint", 0x490, count=3)
    assert hns.clear_faults() == {}
    with pytest.raises(HnsRpcError) as bad:
        hns.inject_fault("NoSuchMethod", 0x490)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "CreateLoadBalancer" in bad.value.details


# ---------------------------------------------------------------- health and reflection


def test_health_serving(hns_target: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(hns_target.removeprefix("grpc://")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "ekswin.hns.v1.HostNetworkService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(hns_target: str) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(hns_target.removeprefix("grpc://")) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        assert "ekswin.hns.v1.HostNetworkService" in services
        assert "grpc.health.v1.Health" in services
        proto = database.FindFileContainingSymbol("ekswin.hns.v1.HostNetworkService")
        methods = {m.name for m in proto.service[0].method}
        assert {"CreateLoadBalancer", "ModifyNamespace", "DumpState"} <= methods
