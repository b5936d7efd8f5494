"""The invariants over plain data: one state where all hold, and for each invariant a
state that breaks it; the expected warm pool against FACTS.md's worked examples."""

from __future__ import annotations

import dataclasses

import pytest

from harness.invariants import (
    INVARIANT_IDS,
    CidrReservation,
    ClusterState,
    Eni,
    ExpectedPool,
    HnsEndpoint,
    NodeState,
    PodState,
    PoolTargets,
    Subnet,
    Violation,
    check,
    checked_ids,
    expected_capacity,
    expected_warm_pool,
    go_atoi,
    go_parse_bool,
    node_mode,
    pool_targets,
    report,
    summary_line,
)

IPAM = {"enable-windows-ipam": "true"}
PD = {**IPAM, "enable-windows-prefix-delegation": "true"}

# A PD cluster: win-0 is not Nitro (secondary fallback, 10 IPv4 per ENI like m4.large),
# win-1 is a Nitro t3.2xlarge in prefix mode. win-0 runs one pod; win-1 none, so after
# the cool-down it holds exactly the default warm pool: one prefix.
WIN0 = NodeState(
    name="win-0",
    instance_id="i-0",
    instance_type="m4.large",
    ipv4_per_interface=10,
    nitro=False,
    eni=Eni(
        "eni-0",
        "subnet-1",
        "192.168.0.10",
        ("192.168.0.11", "192.168.0.12", "192.168.0.13"),
    ),
    capacity=9,
)
WIN1 = NodeState(
    name="win-1",
    instance_id="i-1",
    instance_type="t3.2xlarge",
    ipv4_per_interface=15,
    nitro=True,
    eni=Eni("eni-1", "subnet-1", "192.168.0.20", (), ("192.168.0.32/28",)),
    capacity=224,
)
POD = PodState("default", "app-0", "win-0", "Running", "192.168.0.11", "192.168.0.11/24")
SUBNET = Subnet("subnet-1", "192.168.0.0/24")
GOOD = ClusterState(
    nodes=(WIN0, WIN1),
    pods=(POD,),
    hns_endpoints=(HnsEndpoint("win-0", "cid-a", ("192.168.0.11",)),),
    subnets=(SUBNET,),
    enis=(WIN0.eni, WIN1.eni),  # type: ignore[arg-type]
    configmap=PD,
)


def ids(state: ClusterState, *, cooldown_passed: bool = True) -> set[str]:
    return {v.id for v in check(state, cooldown_passed=cooldown_passed)}


def only(state: ClusterState, inv: str, *, cooldown_passed: bool = True) -> list[Violation]:
    found = check(state, cooldown_passed=cooldown_passed)
    assert {v.id for v in found} == {inv}, found
    return found


def with_pods(*pods: PodState, state: ClusterState = GOOD) -> ClusterState:
    return dataclasses.replace(state, pods=state.pods + pods)


def node_eni(node: NodeState, **changes: object) -> NodeState:
    assert node.eni is not None
    return dataclasses.replace(node, eni=dataclasses.replace(node.eni, **changes))  # type: ignore[arg-type]


def with_nodes(*nodes: NodeState, state: ClusterState = GOOD) -> ClusterState:
    enis = tuple(n.eni for n in nodes if n.eni is not None)
    return dataclasses.replace(state, nodes=nodes, enis=enis)


# ----------------------------------------------------------------------- all hold
def test_all_invariants_hold_with_and_without_the_cooldown_check() -> None:
    assert check(GOOD) == []
    assert check(GOOD, cooldown_passed=True) == []
    assert summary_line([], cooldown_passed=True) == "invariants hold (7 checked)"
    assert summary_line([]) == "invariants hold (6 checked)"
    assert report([]) == {"ok": True, "violations": []}
    assert checked_ids(cooldown_passed=True) == INVARIANT_IDS
    assert "no-leak-after-cooldown" not in checked_ids()


def test_summary_line_and_report_name_each_broken_invariant_and_its_nodes() -> None:
    vs = [
        Violation("prefixes-valid", None, "x"),
        Violation("no-duplicate-ip", "win-1", "a"),
        Violation("no-duplicate-ip", "win-0", "b"),
        Violation("no-duplicate-ip", "win-0", "c"),
    ]
    assert summary_line(vs) == (
        "invariants broken: no-duplicate-ip (win-0, win-1), prefixes-valid (cluster)"
    )
    assert report(vs[:1]) == {
        "ok": False,
        "violations": [{"id": "prefixes-valid", "node": None, "message": "x"}],
    }
    assert str(vs[1]) == "no-duplicate-ip (win-1): a"


# --------------------------------------------------------------- no-duplicate-ip
def test_two_running_pods_with_one_ip_break_no_duplicate_ip() -> None:
    twin = dataclasses.replace(POD, name="app-1")
    (v,) = only(with_pods(twin), "no-duplicate-ip")
    assert v.node == "win-0"
    assert v.message == "192.168.0.11 held by default/app-0 on win-0, default/app-1 on win-0"


def test_a_pod_of_a_deleted_node_holds_no_address() -> None:
    # its node was removed: the IP went back to the subnet and a pod of win-0 got it
    orphan = PodState(
        "default", "old-0", "gone", "Running", "192.168.0.11", "192.168.0.11/24", orphaned=True
    )
    assert check(with_pods(orphan)) == []
    (v,) = only(with_pods(dataclasses.replace(orphan, orphaned=False)), "no-duplicate-ip")
    assert "default/old-0 on gone" in v.message


def test_a_pod_holding_an_eni_primary_breaks_no_duplicate_ip() -> None:
    pod = PodState("default", "p", "win-1", "Running", "192.168.0.10", "192.168.0.10/32")
    state = with_pods(pod, state=dataclasses.replace(GOOD, hns_endpoints=()))
    found = [v for v in check(state) if v.id == "no-duplicate-ip"]
    assert [v.message for v in found] == [
        "192.168.0.10 of pod default/p is the primary address of eni-0"
    ]


def test_host_network_and_finished_pods_hold_no_address() -> None:
    host = PodState("kube-system", "kp", "win-0", "Running", "192.168.0.10", host_network=True)
    done = dataclasses.replace(POD, name="old", phase="Succeeded")
    assert check(with_pods(host, done), cooldown_passed=False) == []


# --------------------------------------------------------------------- ip-in-eni
def test_a_pod_ip_outside_its_nodes_eni_breaks_ip_in_eni() -> None:
    # 192.168.0.33 lies in win-1's prefix, not in win-0's ENI.
    pod = PodState("default", "p", "win-0", "Running", "192.168.0.33", "192.168.0.11/24")
    eps = (*GOOD.hns_endpoints, HnsEndpoint("win-0", "cid-p", ("192.168.0.33",)))
    state = with_pods(pod, state=dataclasses.replace(GOOD, hns_endpoints=eps))
    found = [v for v in check(state) if v.id == "ip-in-eni"]
    assert [str(v) for v in found] == [
        "ip-in-eni (win-0): pod default/p: 192.168.0.33 is neither a secondary IP nor in a "
        "prefix of eni-0"
    ]


def test_a_pod_ip_inside_a_prefix_is_in_the_eni() -> None:
    pod = PodState("default", "p", "win-1", "Running", "192.168.0.40", "192.168.0.40/32")
    eps = (*GOOD.hns_endpoints, HnsEndpoint("win-1", "cid-p", ("192.168.0.40",)))
    assert check(with_pods(pod, state=dataclasses.replace(GOOD, hns_endpoints=eps))) == []


# ---------------------------------------------------- annotation-podip-hns-agree
def test_annotation_differing_from_pod_ip_breaks_agreement() -> None:
    pod = dataclasses.replace(POD, annotation="192.168.0.12/24")
    (v,) = only(dataclasses.replace(GOOD, pods=(pod,)), "annotation-podip-hns-agree")
    assert v.message == "pod default/app-0: annotation 192.168.0.12/24 but podIP 192.168.0.11"


def test_missing_hns_endpoint_breaks_agreement_and_remote_endpoints_do_not_count() -> None:
    remote = (HnsEndpoint("win-0", "", ("192.168.0.11",), remote=True),)
    (v,) = only(dataclasses.replace(GOOD, hns_endpoints=remote), "annotation-podip-hns-agree")
    assert v.message == "pod default/app-0: no HNS endpoint with 192.168.0.11 on win-0"


def test_an_endpoint_on_another_node_does_not_count() -> None:
    other = (HnsEndpoint("win-1", "cid-a", ("192.168.0.11",)),)
    found = check(dataclasses.replace(GOOD, hns_endpoints=other), cooldown_passed=False)
    assert [v.id for v in found] == ["annotation-podip-hns-agree"]


def test_a_running_pod_without_annotation_breaks_agreement() -> None:
    pod = dataclasses.replace(POD, annotation=None)
    (v,) = only(dataclasses.replace(GOOD, pods=(pod,)), "annotation-podip-hns-agree")
    assert v.message == "pod default/app-0: no vpc.amazonaws.com/PrivateIPv4Address annotation"


def test_a_terminating_pod_may_have_lost_its_endpoint() -> None:
    pod = dataclasses.replace(POD, terminating=True)
    assert check(dataclasses.replace(GOOD, pods=(pod,), hns_endpoints=())) == []


# --------------------------------------------------------- no-leak-after-cooldown
def test_a_leaked_prefix_breaks_no_leak_only_once_the_cooldown_passed() -> None:
    leaky = node_eni(WIN1, prefixes=("192.168.0.32/28", "192.168.0.48/28"))
    state = with_nodes(WIN0, leaky)
    assert check(state, cooldown_passed=False) == []
    (v,) = only(state, "no-leak-after-cooldown")
    assert v.node == "win-1"
    assert v.message == (
        "prefix mode with no pods: ENI holds 0 secondary IP(s) and 2 prefix(es), "
        "the ConfigMap asks for 0 and 1"
    )


def test_a_lost_warm_pool_breaks_no_leak() -> None:
    state = with_nodes(WIN0, node_eni(WIN1, prefixes=()))
    (v,) = only(state, "no-leak-after-cooldown")
    assert "ENI holds 0 secondary IP(s) and 0 prefix(es)" in v.message


def test_secondary_ips_left_in_prefix_mode_break_no_leak() -> None:
    state = with_nodes(WIN0, node_eni(WIN1, secondary_ips=("192.168.0.21",)))
    found = {v.id: v for v in check(state, cooldown_passed=True)}
    # The leftover secondary IP also takes a slot a prefix could use (capacity check).
    assert set(found) == {"no-leak-after-cooldown", "capacity-matches-mode"}
    assert "1 secondary IP(s) and 1 prefix(es)" in found["no-leak-after-cooldown"].message


def test_a_secondary_node_without_pods_holds_the_default_three() -> None:
    empty = dataclasses.replace(GOOD, pods=(), hns_endpoints=())
    assert check(empty, cooldown_passed=True) == []
    four = with_nodes(
        node_eni(WIN0, secondary_ips=("192.168.0.11", "192.168.0.12", "192.168.0.13", "1.2.3.4")),
        WIN1,
        state=empty,
    )
    (v,) = only(four, "no-leak-after-cooldown")
    assert v.node == "win-0"
    assert v.message.startswith("secondary mode with no pods: ENI holds 4 secondary IP(s)")


def test_a_leftover_hns_pod_endpoint_breaks_no_leak() -> None:
    stale = (*GOOD.hns_endpoints, HnsEndpoint("win-1", "cid-gone", ("192.168.0.33",)))
    (v,) = only(dataclasses.replace(GOOD, hns_endpoints=stale), "no-leak-after-cooldown")
    assert v.message == "HNS still holds 1 pod endpoint(s): cid-gone"
    # kube-proxy's remote endpoints are not pods'.
    remote = (*GOOD.hns_endpoints, HnsEndpoint("win-1", "", ("10.0.0.9",), remote=True))
    assert check(dataclasses.replace(GOOD, hns_endpoints=remote), cooldown_passed=True) == []


def test_ipam_off_expects_no_pool() -> None:
    off = {"enable-windows-ipam": "false"}
    state = with_nodes(
        dataclasses.replace(WIN0, capacity=None),
        node_eni(dataclasses.replace(WIN1, capacity=None), prefixes=("192.168.0.32/28",)),
        state=dataclasses.replace(GOOD, configmap=off),
    )
    assert check(state, cooldown_passed=True) == []


# --------------------------------------------------------- capacity-matches-mode
def test_prefix_node_advertising_the_wrong_count_breaks_capacity() -> None:
    state = with_nodes(WIN0, dataclasses.replace(WIN1, capacity=14))
    (v,) = only(state, "capacity-matches-mode")
    assert v.message == (
        "vpc.amazonaws.com/PrivateIPv4Address capacity 14, expected 224 for t3.2xlarge "
        "(15 IPv4 per ENI, Nitro) in prefix mode"
    )


def test_missing_capacity_and_capacity_with_ipam_off_break_capacity() -> None:
    state = with_nodes(dataclasses.replace(WIN0, capacity=None), WIN1)
    (v,) = only(state, "capacity-matches-mode")
    assert v.message.startswith("vpc.amazonaws.com/PrivateIPv4Address capacity none, expected 9")
    off = dataclasses.replace(GOOD, configmap=None, pods=(), hns_endpoints=())
    found = check(off, cooldown_passed=False)
    assert {(v.id, v.node) for v in found} == {
        ("capacity-matches-mode", "win-0"),
        ("capacity-matches-mode", "win-1"),
    }
    assert "expected none" in found[0].message and "unmanaged mode" in found[0].message


def test_secondary_ips_left_by_a_switch_to_pd_break_capacity() -> None:
    # The mode-switch caveat: after secondary -> PD with pods running, 5 of the 14 slots
    # still hold secondary IPs, so the 224 advertised cannot all be given.
    mixed = node_eni(WIN1, secondary_ips=tuple(f"192.168.0.{i}" for i in range(21, 26)))
    (v,) = only(with_nodes(WIN0, mixed), "capacity-matches-mode", cooldown_passed=False)
    assert v.node == "win-1"
    assert "capacity 224 advertised in prefix mode, but the ENI can hold at most 149" in v.message


def test_capacity_follows_the_instance_type_and_mode() -> None:
    # FACTS.md: m5.large 10 -> 9 / 144; t3.2xlarge 15 -> 14 / 224.
    assert expected_capacity("secondary", 10) == 9
    assert expected_capacity("prefix", 10) == 144
    assert expected_capacity("secondary", 15) == 14
    assert expected_capacity("prefix", 15) == 224
    assert expected_capacity("unmanaged", 15) is None


# ---------------------------------------------------------------- prefixes-valid
def _prefix_violations(state: ClusterState) -> list[str]:
    return [v.message for v in check(state) if v.id == "prefixes-valid"]


def test_an_unaligned_prefix_breaks_prefixes_valid() -> None:
    bad = node_eni(WIN1, prefixes=("192.168.0.36/28",))
    assert _prefix_violations(with_nodes(WIN0, bad)) == [
        "eni-1: prefix 192.168.0.36/28 is not an aligned IPv4 network"
    ]


def test_a_prefix_that_is_not_a_28_breaks_prefixes_valid() -> None:
    bad = node_eni(WIN1, prefixes=("192.168.0.32/27",))
    assert _prefix_violations(with_nodes(WIN0, bad)) == [
        "eni-1: prefix 192.168.0.32/27 is not a /28"
    ]


def test_overlapping_prefixes_and_a_prefix_over_an_address_break_prefixes_valid() -> None:
    other = Eni("eni-x", "subnet-1", "192.168.0.200", ("192.168.0.34",), ("192.168.0.32/28",))
    state = dataclasses.replace(GOOD, enis=(*GOOD.enis, other))
    msgs = _prefix_violations(state)
    assert "eni-x: prefix 192.168.0.32/28 overlaps prefix 192.168.0.32/28 of eni-1" in msgs
    assert "eni-1: prefix 192.168.0.32/28 contains 192.168.0.34, an address of eni-x" in msgs
    assert {v.node for v in check(state) if v.id == "prefixes-valid"} == {"win-1", None}


def test_a_prefix_over_reserved_addresses_breaks_prefixes_valid() -> None:
    first = node_eni(WIN1, prefixes=("192.168.0.0/28",))
    moved = node_eni(WIN0, primary_ip="192.168.0.100", secondary_ips=("192.168.0.101",))
    assert _prefix_violations(with_nodes(moved, first)) == [
        "eni-1: prefix 192.168.0.0/28 contains AWS-reserved 192.168.0.0, 192.168.0.1, "
        "192.168.0.2, 192.168.0.3"
    ]
    last = node_eni(WIN1, prefixes=("192.168.0.240/28",))
    assert _prefix_violations(with_nodes(WIN0, last)) == [
        "eni-1: prefix 192.168.0.240/28 contains AWS-reserved 192.168.0.255"
    ]


def test_explicit_reservations_and_occupied_addresses_bar_prefixes_prefix_ones_do_not() -> None:
    explicit = Subnet(
        "subnet-1",
        "192.168.0.0/24",
        (CidrReservation("192.168.0.0/26", "explicit"),),
        occupied=("192.168.0.37",),
    )
    assert _prefix_violations(dataclasses.replace(GOOD, subnets=(explicit,))) == [
        "eni-1: prefix 192.168.0.32/28 overlaps explicit CIDR reservation 192.168.0.0/26",
        "eni-1: prefix 192.168.0.32/28 contains occupied 192.168.0.37",
    ]
    prefix_type = Subnet(
        "subnet-1", "192.168.0.0/24", (CidrReservation("192.168.0.0/26", "prefix"),)
    )
    assert check(dataclasses.replace(GOOD, subnets=(prefix_type,))) == []


def test_a_prefix_outside_its_subnet_breaks_prefixes_valid() -> None:
    bad = node_eni(WIN1, prefixes=("192.168.1.0/28",))
    assert _prefix_violations(with_nodes(WIN0, bad)) == [
        "eni-1: prefix 192.168.1.0/28 lies outside subnet subnet-1 192.168.0.0/24"
    ]


def test_an_eni_over_its_address_limit_breaks_prefixes_valid() -> None:
    many = tuple(f"192.168.0.{16 * i}/28" for i in range(1, 16))  # 15 prefixes + primary
    bad = dataclasses.replace(
        node_eni(WIN1, prefixes=many), eni=Eni("eni-1", "subnet-1", "192.168.1.5", (), many)
    )
    state = dataclasses.replace(
        GOOD,
        nodes=(WIN0, bad),
        enis=(WIN0.eni, bad.eni),  # type: ignore[arg-type]
        subnets=(Subnet("subnet-1", "192.168.0.0/23"),),
    )
    assert _prefix_violations(state) == [
        "eni-1: primary + 0 secondary IP(s) + 15 prefix(es) = 16 > 15, the limit of t3.2xlarge"
    ]


def test_prefixes_on_a_non_nitro_instance_break_prefixes_valid() -> None:
    bad = node_eni(WIN0, prefixes=("192.168.0.64/28",))
    assert _prefix_violations(with_nodes(bad, WIN1)) == [
        "eni-0: holds prefixes on m4.large, which is not Nitro"
    ]


# ------------------------------------------------------------ ip-assigned-by-ec2
def test_an_annotation_ec2_never_assigned_breaks_ip_assigned_by_ec2() -> None:
    # Still ContainerCreating: only the annotation exists, so nothing else can notice.
    pod = PodState("default", "new", "win-0", "Pending", None, "192.168.0.99/24")
    (v,) = only(with_pods(pod), "ip-assigned-by-ec2")
    assert v.message == "pod default/new: annotated 192.168.0.99 is not assigned by EC2 to eni-0"


def test_a_malformed_annotation_breaks_ip_assigned_by_ec2() -> None:
    pod = PodState("default", "new", "win-1", "Pending", None, "not-an-ip")
    (v,) = only(with_pods(pod), "ip-assigned-by-ec2")
    assert v.message == "pod default/new: annotation 'not-an-ip' is not IP/<prefix length>"


def test_annotations_of_finished_pods_are_not_checked() -> None:
    pod = PodState("default", "old", "win-0", "Failed", None, "192.168.0.99/24")
    assert check(with_pods(pod)) == []


# ------------------------------------------------------- the expected warm pool
def pd_pool(extra: dict[str, str], pods: int = 0, per_eni: int = 15) -> int:
    pool = expected_warm_pool({**PD, **extra}, nitro=True, ipv4_per_interface=per_eni, pods=pods)
    assert pool is not None and pool.mode == "prefix" and pool.secondary_ips == 0
    return pool.prefixes


def test_facts_worked_examples_prefix_delegation() -> None:
    assert pd_pool({}) == 1  # defaults, no pods -> 1 prefix
    assert pd_pool({"warm-ip-target": "15"}, pods=2) == 2  # 14 free < 15 -> a second
    assert pd_pool({"warm-prefix-target": "2"}) == 2
    assert pd_pool({"warm-prefix-target": "2"}, pods=1) == 3
    assert pd_pool({"minimum-ip-target": "20"}) == 2
    # warm-ip-target / minimum-ip-target, when set, win over warm-prefix-target.
    assert pd_pool({"warm-ip-target": "15", "warm-prefix-target": "4"}) == 1
    assert pd_pool({"minimum-ip-target": "1", "warm-prefix-target": "4"}) == 1
    assert pd_pool({}, pods=20) == 2  # 20 pods on a t3.2xlarge -> 2 prefixes


def test_secondary_mode_pools() -> None:
    def sec(extra: dict[str, str], pods: int = 0, nitro: bool = True) -> ExpectedPool | None:
        return expected_warm_pool({**IPAM, **extra}, nitro=nitro, ipv4_per_interface=10, pods=pods)

    assert sec({}) == ExpectedPool("secondary", 3, 0)
    assert sec({"warm-ip-target": "0"}) == ExpectedPool("secondary", 1, 0)  # 0 -> 1
    assert sec({"warm-ip-target": "5", "minimum-ip-target": "7"}) == ExpectedPool("secondary", 7, 0)
    assert sec({"warm-ip-target": "20"}) == ExpectedPool("secondary", 9, 0)  # capped at 9
    assert sec({"warm-ip-target": "-2"}) == ExpectedPool("secondary", 3, 0)  # negative -> 3
    assert sec({"warm-ip-target": "2"}, pods=4) == ExpectedPool("secondary", 6, 0)
    # A non-Nitro node in a PD cluster runs secondary mode with the default 3/3, whatever
    # PD targets the ConfigMap sets.
    non_nitro = expected_warm_pool(
        {**PD, "warm-ip-target": "9"}, nitro=False, ipv4_per_interface=10
    )
    assert non_nitro == ExpectedPool("secondary", 3, 0)
    # The controller's own PD flag off: secondary mode, targets stored for PD only.
    flag_off = expected_warm_pool(
        {**PD, "warm-ip-target": "9"},
        nitro=True,
        ipv4_per_interface=10,
        prefix_delegation_flag=False,
    )
    assert flag_off == ExpectedPool("secondary", 3, 0)
    assert expected_warm_pool(None, nitro=True, ipv4_per_interface=10) is None


def test_parsing_follows_go_strconv() -> None:
    assert go_atoi("+4") == (4, True)
    assert go_atoi("-4") == (-4, True)
    for bad in (" 4", "4.0", "0x10", "", "+", "1_000"):
        assert go_atoi(bad) == (0, False), bad
    assert go_atoi("99999999999999999999") == (2**63 - 1, False)
    assert go_atoi("-9223372036854775809") == (-(2**63), False)
    assert [go_parse_bool(s) for s in ("1", "t", "T", "true", "TRUE", "True")] == [True] * 6
    assert [go_parse_bool(s) for s in ("0", "f", "FALSE")] == [False] * 3
    assert [go_parse_bool(s) for s in ("yes", "on", "tRuE", "")] == [None] * 4


@pytest.mark.parametrize(
    ("data", "nitro", "mode"),
    [
        (None, True, "unmanaged"),
        ({"enable-windows-ipam": "yes"}, True, "unmanaged"),
        ({"enable-windows-ipam": "T"}, True, "secondary"),
        ({"enable-windows-ipam": "1", "enable-windows-prefix-delegation": "t"}, True, "prefix"),
        ({"enable-windows-ipam": "1", "enable-windows-prefix-delegation": "t"}, False, "secondary"),
        (
            {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "on"},
            True,
            "secondary",
        ),
    ],
)
def test_node_mode(data: dict[str, str] | None, nitro: bool, mode: str) -> None:
    assert node_mode(data, nitro=nitro) == mode


def test_plain_keys_win_over_their_windows_twins_even_when_invalid() -> None:
    twin = {**PD, "windows-warm-ip-target": "40"}
    assert pool_targets(twin, "prefix") == PoolTargets(40, 0, 0)
    assert pd_pool({"windows-warm-ip-target": "40"}) == 3  # ceil(40 / 16)
    # Plain key present but invalid: parsed as 0, the twin ignored; with nothing else set
    # the defaults apply.
    both = {**PD, "warm-ip-target": "4.0", "windows-warm-ip-target": "40"}
    assert pool_targets(both, "prefix") == PoolTargets(1, 3, 0)
    # The "explicit zero becomes one" rule is for a genuine 0 only, in secondary mode.
    assert pool_targets({**IPAM, "warm-ip-target": "0"}, "secondary") == PoolTargets(1, 0, 0)
    assert pool_targets({**IPAM, "warm-ip-target": "x"}, "secondary") == PoolTargets(3, 3, 0)
    # warm-prefix-target is read only when the ConfigMap enables PD.
    assert pool_targets({**IPAM, "warm-prefix-target": "5"}, "secondary") == PoolTargets(3, 3, 0)
    assert pool_targets({**PD, "windows-warm-prefix-target": "5"}, "prefix") == PoolTargets(0, 0, 5)
    assert pd_pool({"windows-warm-prefix-target": "5"}) == 5
