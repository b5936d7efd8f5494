"""fake_ec2 through boto3 against a real ``python -m fake_ec2`` subprocess."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fake_ec2.admin import AdminClient

RESERVED = {"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.255"}


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    resp: Any = err.value.response
    return (
        resp["Error"]["Code"],
        resp["ResponseMetadata"]["HTTPStatusCode"],
        resp["Error"]["Message"],
    )


def _eni(ec2: Any, eni_id: str) -> dict[str, Any]:
    return ec2.describe_network_interfaces(  # type: ignore[no-any-return]
        Filters=[{"Name": "network-interface-id", "Values": [eni_id]}]
    )["NetworkInterfaces"][0]


def test_describe_instance_types_gives_limits_and_nitro(ec2: Any) -> None:
    types = ec2.describe_instance_types(InstanceTypes=["m5.large", "t3.2xlarge", "m4.large"])
    by_name = {t["InstanceType"]: t for t in types["InstanceTypes"]}
    assert by_name["m5.large"]["NetworkInfo"]["Ipv4AddressesPerInterface"] == 10
    assert by_name["t3.2xlarge"]["NetworkInfo"]["Ipv4AddressesPerInterface"] == 15
    assert by_name["m4.large"]["Hypervisor"] == "xen"


def test_m5_large_nine_secondaries_then_limit(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet()
    instance, eni = launch(subnet, "m5.large")
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=9)
    assert len(got["AssignedPrivateIpAddresses"]) == 9  # only what this call assigned
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    assert _code(err) == (
        "PrivateIpAddressLimitExceeded",
        400,
        "Number of private addresses will exceed limit.",
    )
    desc = _eni(ec2, eni)
    assert len(desc["PrivateIpAddresses"]) == 10
    by_instance = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance]}]
    )["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in by_instance] == [eni]


def test_t3_2xlarge_fourteen_prefixes_aligned_disjoint(
    ec2: Any, make_subnet: Any, launch: Any
) -> None:
    subnet = make_subnet("10.0.0.0/22")
    instance, eni = launch(subnet, "t3.2xlarge")
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=14)
    prefixes = [p["Ipv4Prefix"] for p in got["AssignedIpv4Prefixes"]]
    assert len(prefixes) == 14
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert _code(err)[:2] == ("PrivateIpAddressLimitExceeded", 400)
    nets = [ipaddress.IPv4Network(p) for p in prefixes]
    primary = ipaddress.IPv4Address(_eni(ec2, eni)["PrivateIpAddress"])
    for net in nets:
        assert net.prefixlen == 28 and int(net.network_address) % 16 == 0
        assert primary not in net
        assert sum(net.overlaps(o) for o in nets) == 1
        assert net.subnet_of(ipaddress.IPv4Network("10.0.0.0/22"))
        assert ipaddress.IPv4Address("10.0.0.1") not in net
    inst = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance]}])
    nic = inst["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    assert sorted(p["Ipv4Prefix"] for p in nic["Ipv4Prefixes"]) == sorted(prefixes)


def test_mixing_ips_and_prefixes_counts_both(ec2: Any, make_subnet: Any, launch: Any) -> None:
    _, eni = launch(make_subnet(), "m5.large")
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=5)
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=4)
    assert got["AssignedPrivateIpAddresses"] == [] and len(got["AssignedIpv4Prefixes"]) == 4
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert _code(err)[0] == "PrivateIpAddressLimitExceeded"
    prefix = got["AssignedIpv4Prefixes"][0]["Ipv4Prefix"]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4Prefixes=[prefix])
    again = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4Prefixes=[prefix])
    assert again["AssignedIpv4Prefixes"] == [{"Ipv4Prefix": prefix}]


def test_non_nitro_prefixes_refused(ec2: Any, make_subnet: Any, launch: Any) -> None:
    _, eni = launch(make_subnet(), "m4.large")
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    code, status, message = _code(err)
    assert (code, status) == ("InvalidParameterValue", 400) and "m4.large" in message
    assert _eni(ec2, eni).get("Ipv4Prefixes", []) == []


def test_reserved_addresses_never_assigned(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet("10.0.0.0/24")
    seen: set[str] = set()
    for _ in range(4):
        _, eni = launch(subnet, "c5.4xlarge")  # 30 addresses per ENI
        got = ec2.assign_private_ip_addresses(
            NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=29
        )
        seen.update(a["PrivateIpAddress"] for a in got["AssignedPrivateIpAddresses"])
        seen.add(_eni(ec2, eni)["PrivateIpAddress"])
    assert len(seen) == 120 and not seen & RESERVED
    _, eni = launch(subnet, "c5.4xlarge")
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=29)
    # 29 x 16 addresses wanted, about 130 free: too few addresses, not fragmentation.
    assert _code(err)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=["10.0.0.255"])
    assert _code(err)[0] == "InvalidParameterValue"
    taken = sorted(seen)[0]
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=[taken])
    assert _code(err) == ("InvalidIPAddress.InUse", 400, f"Address {taken} is in use.")


def test_fragmentation_refuses_prefixes_but_not_ips(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    subnet = make_subnet("10.0.0.0/24")
    _, eni = launch(subnet, "t3.2xlarge")
    out = admin.fragment(subnet, every=16, offset=9)
    assert out["occupied"] == 16
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert _code(err) == (
        "InsufficientCidrBlocks",
        400,
        "The specified subnet does not have enough free cidr blocks to satisfy the request.",
    )
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=14)
    ips = [a["PrivateIpAddress"] for a in got["AssignedPrivateIpAddresses"]]
    assert len(ips) == 14 and not any(int(ip.split(".")[-1]) % 16 == 9 for ip in ips)
    state = admin.state()
    (sub,) = [s for s in state["subnets"] if s["subnet_id"] == subnet]
    assert "10.0.0.25" in sub["fragment"]


def test_fragmenting_a_range_and_undoing_it_over_the_admin_api(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    subnet = make_subnet("10.0.0.0/24")
    _, eni = launch(subnet, "t3.2xlarge")
    assert admin.fragment(subnet, every=16, offset=3, cidr="10.0.0.0/25")["occupied"] == 7
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    (prefix,) = [p["Ipv4Prefix"] for p in got["AssignedIpv4Prefixes"]]
    assert int(prefix.split(".")[3].split("/")[0]) >= 128  # only the upper half had /28s
    assert admin.unfragment(subnet)["freed"] == 7
    (sub,) = [s for s in admin.state()["subnets"] if s["subnet_id"] == subnet]
    assert sub["fragment"] == []


def test_subnet_cidr_reservations_respected(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    subnet = make_subnet("10.0.0.0/24")
    resv = ec2.create_subnet_cidr_reservation(
        SubnetId=subnet, Cidr="10.0.0.0/25", ReservationType="explicit"
    )
    _, eni = launch(subnet, "t3.2xlarge")
    assert ipaddress.IPv4Address(_eni(ec2, eni)["PrivateIpAddress"]) >= ipaddress.IPv4Address(
        "10.0.0.128"
    )
    got = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=6)
    assert all(
        ipaddress.IPv4Network(p["Ipv4Prefix"]).network_address
        >= ipaddress.IPv4Address("10.0.0.128")
        for p in got["AssignedIpv4Prefixes"]
    )
    listed = ec2.get_subnet_cidr_reservations(SubnetId=subnet)["SubnetIpv4CidrReservations"]
    assert [r["Cidr"] for r in listed] == ["10.0.0.0/25"]
    assert admin.state()["subnets"][0]["reservations"][0]["cidr"] == "10.0.0.0/25"
    ec2.delete_subnet_cidr_reservation(
        SubnetCidrReservationId=resv["SubnetCidrReservation"]["SubnetCidrReservationId"]
    )
    _, eni2 = launch(subnet, "m5.large")
    assert _eni(ec2, eni2)["PrivateIpAddress"] == "10.0.0.4"


def test_eni_attachment_limit(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet()
    instance, _ = launch(subnet, "m4.large")  # 2 ENIs
    extra = [
        ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        for _ in range(2)
    ]
    ec2.attach_network_interface(NetworkInterfaceId=extra[0], InstanceId=instance, DeviceIndex=1)
    with pytest.raises(ClientError) as err:
        ec2.attach_network_interface(
            NetworkInterfaceId=extra[1], InstanceId=instance, DeviceIndex=2
        )
    assert _code(err)[:2] == ("AttachmentLimitExceeded", 400)


def test_unassign_not_held_fails(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet()
    _, eni = launch(subnet, "m5.large")
    with pytest.raises(ClientError) as err:
        ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=["10.0.0.77"])
    assert _code(err)[:2] == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as err:
        ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4Prefixes=["10.0.0.16/28"])
    assert _code(err)[:2] == ("InvalidParameterValue", 400)


def test_subnet_exhaustion(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet("10.0.0.0/28")  # 11 usable
    _, eni = launch(subnet, "c5.4xlarge")
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=10)
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    # AWS support via cilium/cilium#31016: more than the subnet has free.
    assert _code(err)[:2] == ("InvalidParameterValue", 400)
    assert err.value.response["Error"]["Message"] == (
        "There aren't sufficient free Ipv4 addresses or prefixes"
    )
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"] == 0


def test_terminating_an_instance_deletes_its_primary_eni_and_frees_its_addresses(
    ec2: Any, make_subnet: Any, launch: Any
) -> None:
    subnet = make_subnet("10.0.0.0/28")  # 11 usable
    instance, eni = launch(subnet, "c5.4xlarge")
    desc = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert desc["NetworkInterfaces"][0]["Attachment"]["DeleteOnTermination"] is True
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=10)
    ec2.terminate_instances(InstanceIds=[instance])
    # EC2 deletes the interface a launch created with the instance, and its addresses
    # go back to the subnet (a scaled-in node group leaks nothing).
    left = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": [eni]}]
    )["NetworkInterfaces"]
    assert left == []
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"] == 11
    launch(subnet, "c5.4xlarge")  # the addresses are usable again


def test_prefix_answers_for_a_full_and_for_a_fragmented_subnet(
    ec2: Any, make_subnet: Any, launch: Any
) -> None:
    full = make_subnet("10.0.1.0/28")  # 11 usable, no whole /28 free: too few addresses
    _, eni = launch(full, "c5.4xlarge")
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert _code(err)[:2] == ("InvalidParameterValue", 400)
    frag = make_subnet("10.0.2.0/24")
    _, eni2 = launch(frag, "c5.4xlarge")
    # Block 0 holds the reserved addresses and the primary, block 15 the broadcast; one
    # address in each of blocks 1-14: 200+ free addresses, no aligned wholly free /28.
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=eni2, PrivateIpAddresses=[f"10.0.2.{b * 16 + 9}" for b in range(1, 15)]
    )
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni2, Ipv4PrefixCount=1)
    assert _code(err)[:2] == ("InsufficientCidrBlocks", 400)
    assert "does not have enough free cidr blocks" in err.value.response["Error"]["Message"]


def test_parallel_assigns_never_duplicate(ec2: Any, make_subnet: Any, launch: Any) -> None:
    subnet = make_subnet("10.0.0.0/22")
    enis = [launch(subnet, "c5.4xlarge")[1] for _ in range(8)]

    def work(eni: str) -> list[str]:
        got: list[str] = []
        for _ in range(6):
            resp = ec2.assign_private_ip_addresses(
                NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=2
            )
            got += [a["PrivateIpAddress"] for a in resp["AssignedPrivateIpAddresses"]]
            resp = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
            got += [p["Ipv4Prefix"] for p in resp["AssignedIpv4Prefixes"]]
        return got

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, enis))
    flat = [x for r in results for x in r]
    assert len(flat) == 8 * 18
    addresses: set[ipaddress.IPv4Address] = set()
    for item in flat:
        net = ipaddress.IPv4Network(item if "/" in item else f"{item}/32")
        for addr in net:
            assert addr not in addresses, f"{addr} handed out twice"
            addresses.add(addr)


def test_fault_injection_visible_through_boto3(
    ec2: Any, admin: AdminClient, make_subnet: Any, launch: Any
) -> None:
    _, eni = launch(make_subnet(), "m5.large")
    admin.set_faults({"actions": {"AssignPrivateIpAddresses": {"throttle_rate": 1.0}}})
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, SecondaryPrivateIpAddressCount=1)
    assert _code(err)[:2] == ("RequestLimitExceeded", 503)
    admin.clear_faults()
    admin.set_faults(
        {
            "actions": {
                "DescribeNetworkInterfaces": {
                    "error": {"code": "InternalError", "times": 1, "http_status": 500}
                }
            }
        }
    )
    with pytest.raises(ClientError) as err:
        _eni(ec2, eni)
    assert _code(err)[:2] == ("InternalError", 500)
    assert _eni(ec2, eni)["NetworkInterfaceId"] == eni
    rows = admin.requests(action="AssignPrivateIpAddresses")
    assert rows[-1]["code"] == "RequestLimitExceeded" and rows[-1]["status"] == 503
    assert rows[-1]["params"]["NetworkInterfaceId"] == eni
    assert rows[-1]["latency_ms"] >= 0
    assert admin.state()["faults"]["actions"]["DescribeNetworkInterfaces"]["error"]["times"] == 0


def test_admin_rejects_bad_input(admin: AdminClient) -> None:
    from fake_ec2.admin import AdminError

    with pytest.raises(AdminError, match="throttle_rate"):
        admin.set_faults({"actions": {"X": {"throttle_rate": 2}}})
    with pytest.raises(AdminError, match="subnet-nope"):
        admin.fragment("subnet-nope")


def test_request_log_names_the_signing_access_key(fake_ec2_url: str, admin: AdminClient) -> None:
    from harness.nodes.ec2 import ec2_client as build

    since = admin.requests(limit=1)[-1]["seq"] if admin.requests(limit=1) else 0
    build(fake_ec2_url, "us-west-2", access_key="AKIDSOAKREADER").describe_vpcs()
    build(fake_ec2_url, "us-west-2").describe_subnets()
    rows = admin.requests(since=since)
    assert [(r["action"], r["access_key"]) for r in rows] == [
        ("DescribeVpcs", "AKIDSOAKREADER"),
        ("DescribeSubnets", "testing"),
    ]
