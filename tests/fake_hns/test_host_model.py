"""HostHns rules as plain Python (no server): every validation with its HRESULT."""

from __future__ import annotations

import pytest

from fake_hns import errors as E
from fake_hns.errors import HnsError, format_hns_error
from fake_hns.faults import FaultPlan
from fake_hns.host import HostConfig, HostHns
from fake_hns.objects import (
    Endpoint,
    Ipam,
    IpConfig,
    LoadBalancer,
    LoadBalancerPortMapping,
    Namespace,
    Network,
    OutboundNatPolicy,
    PortMappingPolicy,
    Route,
    Subnet,
)
from fake_hns.versions import BUILD_VERSIONS, features_for


def make_host(seed: int = 1, **config: object) -> HostHns:
    return HostHns(HostConfig(name="node-1", **config), seed)  # type: ignore[arg-type]


def net(host: HostHns, name: str = "vpcbr", prefix: str = "10.0.0.0/24") -> Network:
    return host.create_network(
        Network(
            id="",
            name=name,
            type="L2Bridge",
            ipams=[Ipam("Static", [Subnet(prefix, [Route("10.0.0.1", "0.0.0.0/0")])])],
        )
    )


def ep(host: HostHns, network_id: str, ip: str, name: str = "") -> Endpoint:
    return host.create_endpoint(
        Endpoint(
            id="",
            name=name or f"cid-{ip}",
            network_id=network_id,
            ip_configurations=[IpConfig(ip)],
        )
    )


def lb(
    backends: list[str], vip: str = "172.20.0.10", port: int = 80, flags: int = 0
) -> LoadBalancer:
    return LoadBalancer(
        id="",
        endpoint_ids=backends,
        frontend_vips=[vip] if vip else [],
        port_mappings=[LoadBalancerPortMapping(6, 8080, port)],
        flags=flags,
    )


def hresult_of(fn: object, *args: object) -> int:
    with pytest.raises(HnsError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.hresult


def test_error_line_matches_hcsshim_format() -> None:
    err = HnsError(E.HCN_E_PORT_ALREADY_EXISTS, call="hcnCreateLoadBalancer")
    assert str(err) == (
        "hcnCreateLoadBalancer failed in Win32: The specified port already exists. (0x803b0013)"
    )
    assert err.message == "The specified port already exists."
    assert format_hns_error("hcnX", 0x490, "Element not found.") == (
        "hcnX failed in Win32: Element not found. (0x490)"
    )
    assert HnsError(E.E_INVALIDARG).message == "The parameter is incorrect."


def test_win32_facility_hresults_print_as_hcsshim_keeps_them() -> None:
    """hcn/zsyscall_windows.go keeps the Win32 code of a 0x8007xxxx HRESULT; the result
    record keeps the HRESULT (kubernetes-sigs/sig-windows-tools#249: "(0x57)" with
    "ErrorCode":2147942487)."""
    err = HnsError(E.E_INVALIDARG, call="hcnCreateNetwork")
    assert err.log_line() == (
        "hcnCreateNetwork failed in Win32: The parameter is incorrect. (0x57) "
        '{"Success":false,"Error":"The parameter is incorrect. ","ErrorCode":2147942487}'
    )
    assert E.win32_from_hresult(0x800700B7) == 0xB7  # ERROR_ALREADY_EXISTS
    assert E.win32_from_hresult(E.HCN_E_PORT_ALREADY_EXISTS) == 0x803B0013  # HCN facility
    assert E.win32_from_hresult(E.E_FAIL) == 0x80004005  # facility 0: kept
    assert E.hresult_from_win32(E.ERROR_NOT_FOUND) == 0x80070490
    assert E.hresult_from_win32(E.HCN_E_INVALID_IP) == E.HCN_E_INVALID_IP
    assert '"ErrorCode":2151350291}' in HnsError(E.HCN_E_PORT_ALREADY_EXISTS).log_line()


def test_versions_gate_features() -> None:
    # ltsc2019 is on RS5's 9.x line (hcsshim#848, kubernetes#93304).
    assert BUILD_VERSIONS == {"ltsc2019": (9, 3), "ltsc2022": (15, 1)}
    assert features_for(BUILD_VERSIONS["ltsc2019"]).dsr  # DSR 9.3-9.x
    assert not features_for(BUILD_VERSIONS["ltsc2019"]).ipv6
    assert features_for((9, 3)).dsr and features_for((9, 9)).dsr
    assert not features_for((10, 0)).dsr and not features_for((10, 1)).dsr
    assert features_for((10, 2)).dsr
    assert not features_for((9, 2)).dsr
    assert not features_for((15, 3)).modify_load_balancer
    assert features_for((15, 4)).modify_load_balancer
    # hcsshim IPv6DualStackVersion: >= 11.10 (ltsc2022's 15.1 yes, ltsc2019's 9.3 no).
    assert features_for((15, 4)).ipv6 and features_for((11, 10)).ipv6
    assert not features_for((11, 9)).ipv6 and not features_for((10, 4)).ipv6
    assert features_for((10, 4), dsr=False).dsr is False


def test_ids_are_guids_from_the_seed() -> None:
    a, b, c = make_host(seed=3), make_host(seed=3), make_host(seed=4)
    ids_a = [a.new_id() for _ in range(3)]
    assert ids_a == [b.new_id() for _ in range(3)]
    assert ids_a != [c.new_id() for _ in range(3)]
    assert all(len(i) == 36 and i[14] == "4" for i in ids_a)


def test_network_rules() -> None:
    host = make_host()
    first = net(host)
    assert first.type == "L2Bridge" and first.id
    with pytest.raises(HnsError) as info:
        net(host)
    assert info.value.hresult == E.HCN_E_NETWORK_ALREADY_EXISTS
    assert info.value.call == "hcnCreateNetwork"
    assert hresult_of(host.create_network, Network("", "x", "Bogus")) == (
        E.HCN_E_INVALID_NETWORK_TYPE
    )
    v6 = Network("", "v6", "L2Bridge", [Ipam("Static", [Subnet("fd00::/64")])])
    assert hresult_of(host.create_network, v6) == E.HCN_E_REQUEST_UNSUPPORTED
    dup_id = Network(first.id, "other", "NAT")
    assert hresult_of(host.create_network, dup_id) == E.ERROR_OBJECT_ALREADY_EXISTS
    assert host.list_networks(name="vpcbr") == [first]
    assert host.list_networks(name="nope") == []
    assert host.list_networks(id=first.id.upper()) == [first]


def test_endpoint_rules() -> None:
    host = make_host()
    network = net(host)
    e = ep(host, network.id, "10.0.0.5")
    assert e.ip_configurations[0].prefix_length == 24
    assert e.mac_address == "00-15-5D-00-00-05"  # derived from the IP, deterministic
    assert hresult_of(ep, host, network.id, "10.0.0.5", "other") == E.ERROR_OBJECT_ALREADY_EXISTS
    assert hresult_of(ep, host, network.id, "10.9.0.5") == E.HCN_E_INVALID_IP
    assert hresult_of(ep, host, network.id, "fd00::5") == E.HCN_E_INVALID_IP
    assert hresult_of(ep, host, "6f1e1c1d-0000-4000-8000-000000000000", "10.0.0.6") == (
        E.HCN_E_NETWORK_NOT_FOUND
    )
    assert hresult_of(ep, host, network.id, "10.0.0.7", e.name) == E.ERROR_OBJECT_ALREADY_EXISTS
    # the same IP on another network is fine
    other = net(host, "second", "10.0.0.0/24")
    twin = ep(host, other.id, "10.0.0.5", "cid-x")
    assert twin.network_id == other.id
    assert [x.id for x in host.list_endpoints(ip_address="10.0.0.5")] == [e.id, twin.id]
    assert host.list_endpoints(ip_address="10.0.0.5", network_id=other.id) == [twin]
    assert host.list_endpoints(network_id=network.id) == [e]
    # HNS assigns an address when none is given: lowest free, skipping the gateway
    auto = host.create_endpoint(Endpoint("", "auto", network.id))
    assert auto.ip_configurations[0].ip_address == "10.0.0.2"
    # deleting frees the IP; deleting again is a no-op
    assert host.delete_endpoint(e.id) and not host.delete_endpoint(e.id)
    assert ep(host, network.id, "10.0.0.5", "again").ip_configurations[0].ip_address == "10.0.0.5"


def test_remote_endpoints_may_lie_outside_the_subnet() -> None:
    host = make_host()
    network = net(host)
    remote = Endpoint("", "", network.id, ip_configurations=[IpConfig("10.1.0.9")], flags=1)
    assert host.create_endpoint(remote).ip_configurations[0].prefix_length == 0
    local = Endpoint("", "", network.id, ip_configurations=[IpConfig("10.1.0.10")])
    assert hresult_of(host.create_endpoint, local) == E.HCN_E_INVALID_IP
    # unnamed endpoints (kube-proxy's) do not collide on the empty name
    host.create_endpoint(Endpoint("", "", network.id, ip_configurations=[IpConfig("10.0.0.9")]))


def test_endpoint_policies_are_validated() -> None:
    host = make_host()
    network = net(host)
    bad_nat = Endpoint("", "a", network.id, policies=[OutboundNatPolicy(exceptions=["nope"])])
    assert hresult_of(host.create_endpoint, bad_nat) == E.HCN_E_INVALID_POLICY
    bad_proto = Endpoint("", "b", network.id, policies=[PortMappingPolicy(80, 8080, protocol=1)])
    assert hresult_of(host.create_endpoint, bad_proto) == E.HCN_E_INVALID_POLICY
    mapped = Endpoint("", "c", network.id, policies=[PortMappingPolicy(80, 8080, 6)])
    host.create_endpoint(mapped)
    clash = Endpoint("", "d", network.id, policies=[PortMappingPolicy(81, 8080, 6)])
    assert hresult_of(host.create_endpoint, clash) == E.HCN_E_PORT_ALREADY_EXISTS
    host.delete_endpoint(mapped.id)
    host.create_endpoint(clash)  # the host port is free again


def test_namespace_attach_detach() -> None:
    host = make_host()
    network = net(host)
    e = ep(host, network.id, "10.0.0.5")
    ns = host.create_namespace(Namespace(""))
    assert host.add_namespace_endpoint(ns.id, e.id).endpoint_ids == [e.id]
    assert e.namespace_id == ns.id
    # Attached already: 0x803b0014 whichever namespace is asked (terway tolerates it on a
    # repeated NamespaceAttach; calico logs it on a repeated attach).
    assert hresult_of(host.add_namespace_endpoint, ns.id, e.id) == (
        E.HCN_E_ENDPOINT_ALREADY_ATTACHED
    )
    other = host.create_namespace(Namespace(""))
    assert hresult_of(host.add_namespace_endpoint, other.id, e.id) == (
        E.HCN_E_ENDPOINT_ALREADY_ATTACHED
    )
    missing = "6f1e1c1d-0000-4000-8000-000000000000"
    assert hresult_of(host.add_namespace_endpoint, missing, e.id) == E.ERROR_NOT_FOUND
    assert hresult_of(host.add_namespace_endpoint, ns.id, missing) == E.HCN_E_ENDPOINT_NOT_FOUND
    assert hresult_of(host.remove_namespace_endpoint, other.id, e.id) == E.ERROR_NOT_FOUND
    # deleting the endpoint detaches it
    host.delete_endpoint(e.id)
    assert host.namespaces[ns.id].endpoint_ids == []
    assert host.delete_namespace(ns.id) and not host.delete_namespace(ns.id)


def test_delete_network_takes_its_endpoints() -> None:
    host = make_host()
    network = net(host)
    ep(host, network.id, "10.0.0.5")
    assert host.delete_network(network.id)
    assert host.endpoints == {} and not host.delete_network(network.id)
    assert net(host).name == "vpcbr"  # name reusable


def test_load_balancer_rules() -> None:
    host = make_host()
    network = net(host)
    e = ep(host, network.id, "10.0.0.5")
    first = host.create_load_balancer(lb([e.id]))
    assert first.reserved_ports is not None and first.reserved_ports.start == 49152
    # the same frontend again is a real port collision
    assert hresult_of(host.create_load_balancer, lb([e.id])) == E.HCN_E_PORT_ALREADY_EXISTS
    missing = "6f1e1c1d-0000-4000-8000-000000000000"
    assert hresult_of(host.create_load_balancer, lb([missing], port=81)) == (
        E.HCN_E_ENDPOINT_NOT_FOUND
    )
    assert hresult_of(host.create_load_balancer, lb([e.id], port=82, flags=2)) == (
        E.HCN_E_REQUEST_UNSUPPORTED
    )
    bad = lb([e.id], port=83)
    bad.port_mappings[0].protocol = 1
    assert hresult_of(host.create_load_balancer, bad) == E.E_INVALIDARG
    dsr = host.create_load_balancer(lb([e.id], port=84, flags=1))
    assert dsr.reserved_ports is None
    assert host.pool.used_blocks == 1
    assert host.delete_load_balancer(first.id) and host.pool.used_blocks == 0
    assert not host.delete_load_balancer(first.id)


def test_non_dsr_backend_limit_is_64() -> None:
    host = make_host()
    network = net(host, prefix="10.0.0.0/16")
    ids = [ep(host, network.id, f"10.0.1.{i}").id for i in range(1, 66)]
    assert host.create_load_balancer(lb(ids[:64])).reserved_ports is not None
    with pytest.raises(HnsError) as info:
        host.create_load_balancer(lb(ids, port=81))
    assert (info.value.hresult, info.value.message) == (0x80070057, "The parameter is incorrect.")
    assert host.create_load_balancer(lb(ids, port=82, flags=1)).dsr  # DSR has no such limit


def test_dsr_refused_where_hns_lacks_it() -> None:
    host = make_host(hns_version=(10, 1))
    network = net(host)
    e = ep(host, network.id, "10.0.0.5")
    with pytest.raises(HnsError) as info:
        host.create_load_balancer(lb([e.id], flags=1))
    assert info.value.hresult == E.HCN_E_REQUEST_UNSUPPORTED
    assert host.pool.used_blocks == 0


def test_update_in_place_needs_15_4() -> None:
    old = make_host(windows_build="ltsc2022")
    network = net(old)
    e = ep(old, network.id, "10.0.0.5")
    created = old.create_load_balancer(lb([e.id]))
    with pytest.raises(HnsError) as info:
        old.update_load_balancer(created.id, lb([e.id], port=81))
    assert info.value.hresult == E.HCN_E_REQUEST_UNSUPPORTED
    assert info.value.call == "hcnModifyLoadBalancer"

    new = make_host(hns_version=(15, 4))
    network = net(new)
    e = ep(new, network.id, "10.0.0.5")
    created = new.create_load_balancer(lb([e.id]))
    updated = new.update_load_balancer(created.id, lb([e.id], port=81, flags=1))
    assert updated.id == created.id and updated.reserved_ports is None
    assert new.pool.used_blocks == 0  # turning DSR on returned the block
    new.create_load_balancer(lb([e.id], port=80))  # old frontend is free again


def test_fault_plan_fails_next_n_calls() -> None:
    plan = FaultPlan()
    plan.add("CreateEndpoint", 2, E.HCN_E_PORT_ALREADY_EXISTS)
    for _ in range(2):
        with pytest.raises(HnsError, match=r"\(0x803b0013\)"):
            plan.check("CreateEndpoint", "hcnCreateEndpoint")
    plan.check("CreateEndpoint", "hcnCreateEndpoint")  # exhausted: no raise
    assert plan.pending() == {}
    with pytest.raises(ValueError, match="count 0"):
        plan.add("CreateEndpoint", 0, 1)


def test_reconfigure_reseats_blocks_or_refuses_without_changes() -> None:
    host = make_host()
    network = net(host)
    e = ep(host, network.id, "10.0.0.5")
    lbs = [host.create_load_balancer(lb([e.id], vip=f"172.20.0.{i + 1}")) for i in range(3)]
    tiny = HostConfig(name="node-1", port_range=(40000, 40127))  # 2 blocks
    with pytest.raises(ValueError, match="2 blocks but 3 non-DSR load balancers"):
        host.reconfigure(tiny)
    assert [x.reserved_ports.start for x in lbs if x.reserved_ports] == [49152, 49216, 49280]
    host.reconfigure(HostConfig(name="node-1", port_range=(40000, 40255)))
    assert [x.reserved_ports.start for x in lbs if x.reserved_ports] == [40000, 40064, 40128]
    assert host.pool.used_blocks == 3 and host.pool.free_blocks == 1


@pytest.mark.parametrize("port", [0, 65536])
def test_invalid_internal_port(port: int) -> None:
    """hcn's InternalPort is a uint16 sent with omitempty: 0 reaches HNS as no port and
    65536 cannot be sent by hcsshim at all. fake_hns refuses both: E_INVALIDARG on a load
    balancer, HCN_E_INVALID_POLICY on an endpoint PortMapping (docs/fidelity.md: the
    codes are the harness's pick)."""
    host = make_host()
    network = net(host)
    backend = ep(host, network.id, "10.0.0.5")
    bad_lb = lb([backend.id])
    bad_lb.port_mappings = [LoadBalancerPortMapping(6, port, 80)]
    assert hresult_of(host.create_load_balancer, bad_lb) == E.E_INVALIDARG
    bad_ep = Endpoint("", "pm", network.id, policies=[PortMappingPolicy(port, 8080, 6)])
    bad_ep.ip_configurations = [IpConfig("10.0.0.6")]
    assert hresult_of(host.create_endpoint, bad_ep) == E.HCN_E_INVALID_POLICY
    assert host.create_load_balancer(lb([backend.id])).port_mappings[0].internal_port == 8080
