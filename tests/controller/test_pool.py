"""Table tests for controller.pool.WarmPool, expectations derived by hand from
pkg/pool/pool.go of aws/amazon-vpc-resource-controller-k8s @ b8d42511
(ReconcilePool, getPDDeviation, calculateSecondaryIPDeviation, AssignResource,
FreeResource, UpdatePool, ProcessCoolDownQueue, ReSync, findMinGroup, findFreeGroup)
and the worked examples of FACTS.md "Warm pool configuration".
"""

from __future__ import annotations

import ipaddress

import pytest

from controller.config import WarmPoolConfig, WindowsIPAMConfig
from controller.pool import (
    IncorrectResourceOwner,
    InsufficientCidrBlocks,
    JobOp,
    PoolAtMaxCapacity,
    Resource,
    ResourceAlreadyAssigned,
    ResourceDoesntExist,
    ResourcesAreBeingCooledDown,
    ResourcesAreBeingCreated,
    WarmPool,
    WarmPoolEmpty,
    WarmPoolJob,
    deconstruct_ips_from_prefix,
)

PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
IPAM = {"enable-windows-ipam": "true"}
M5_LARGE_PD = (10 - 1) * 16  # 144
T3_2XL_PD = (15 - 1) * 16  # 224
M5_LARGE_SEC = 10 - 1  # 9


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeENI:
    """Fulfils jobs like a healthy EC2: sequential /28 prefixes or secondary IPs."""

    def __init__(self, pd: bool) -> None:
        self.pd = pd
        self.next = int(ipaddress.IPv4Address("10.0.16.0"))
        self.groups: list[str] = []
        self.deleted: list[str] = []

    def run(self, pool: WarmPool, job: WarmPoolJob) -> bool:
        if job.op is JobOp.CREATE:
            made = []
            for _ in range(max(job.resource_count, 0)):
                if self.pd:
                    g = f"{ipaddress.IPv4Address(self.next)}/28"
                    self.next += 16
                else:
                    g = f"{ipaddress.IPv4Address(self.next)}/19"
                    self.next += 1
                made.append(g)
            self.groups += made
            job.resources = made
            return pool.update_pool(job, True, True)
        if job.op is JobOp.DELETE:
            for g in job.resources:
                self.groups.remove(g)
                self.deleted.append(g)
            job.resources = []
            return pool.update_pool(job, True, True)
        if job.op is JobOp.RESYNC:
            pool.resync(self.groups)
        return False


def settle(pool: WarmPool, eni: FakeENI, limit: int = 50) -> None:
    for _ in range(limit):
        job = pool.reconcile()
        if job.op is JobOp.NONE:
            return
        eni.run(pool, job)
    raise AssertionError("pool did not settle")


def make(
    data: dict[str, str], capacity: int, *, nitro: bool = True
) -> tuple[WarmPool, FakeENI, Clock]:
    ipam = WindowsIPAMConfig.from_configmap(data, nitro=nitro)
    from controller.config import get_win_warm_pool_config

    cfg = get_win_warm_pool_config(data, pd_enabled=ipam.mode == "prefix")
    clock = Clock()
    pool = WarmPool(
        node_name="n",
        capacity=capacity,
        is_pd=ipam.mode == "prefix",
        warm_pool_config=cfg,
        clock=clock,
        cool_down_seconds=30.0,
    )
    return pool, FakeENI(ipam.mode == "prefix"), clock


def add_pods(pool: WarmPool, eni: FakeENI, n: int, start: int = 0) -> list[str]:
    ips = []
    for i in range(start, start + n):
        # Like warm.go HandleCreate: assign, reconcile if asked, retry when empty.
        for _ in range(10):
            try:
                ip, _ = pool.assign(f"pod-{i}")
                ips.append(ip)
                break
            except WarmPoolEmpty:
                settle(pool, eni)
        settle(pool, eni)
    return ips


# -------------------------------------------------------------- FACTS.md worked examples
@pytest.mark.parametrize(
    ("name", "data", "capacity", "pods", "prefixes"),
    [
        ("defaults, no pods", PD, M5_LARGE_PD, 0, 1),
        ("warm-ip-target 15, 2 pods", {**PD, "warm-ip-target": "15"}, M5_LARGE_PD, 2, 2),
        ("warm-ip-target 15, 0 pods", {**PD, "warm-ip-target": "15"}, M5_LARGE_PD, 0, 1),
        ("warm-ip-target 15, 1 pod", {**PD, "warm-ip-target": "15"}, M5_LARGE_PD, 1, 1),
        ("warm-prefix-target 2, no pods", {**PD, "warm-prefix-target": "2"}, M5_LARGE_PD, 0, 2),
        ("warm-prefix-target 2, 1 pod", {**PD, "warm-prefix-target": "2"}, M5_LARGE_PD, 1, 3),
        ("minimum-ip-target 20", {**PD, "minimum-ip-target": "20"}, M5_LARGE_PD, 0, 2),
        ("minimum-ip-target 33", {**PD, "minimum-ip-target": "33"}, M5_LARGE_PD, 0, 3),
        # warm/minimum set -> warm-prefix-target ignored (getPDDeviation branch)
        (
            "warm 1 beats wpt 5",
            {**PD, "warm-ip-target": "1", "warm-prefix-target": "5"},
            M5_LARGE_PD,
            0,
            1,
        ),
        (
            "min 20 beats wpt 5",
            {**PD, "minimum-ip-target": "20", "warm-prefix-target": "5"},
            M5_LARGE_PD,
            0,
            2,
        ),
        ("20 pods t3.2xlarge", PD, T3_2XL_PD, 20, 2),
        ("16 pods defaults", PD, M5_LARGE_PD, 16, 2),  # used 16 + warm 1 -> ceil(17/16)=2
        ("15 pods defaults", PD, M5_LARGE_PD, 15, 1),
        ("capacity caps creation", {**PD, "minimum-ip-target": "1000"}, M5_LARGE_PD, 0, 9),
        ("wpt 3 small node", {**PD, "warm-prefix-target": "3"}, 32, 0, 2),  # capped at 32 IPs
    ],
)
def test_pd_worked_examples(
    name: str, data: dict[str, str], capacity: int, pods: int, prefixes: int
) -> None:
    pool, eni, _ = make(data, capacity)
    settle(pool, eni)
    add_pods(pool, eni, pods)
    assert len(eni.groups) == prefixes, name
    assert pool.stats().used == pods


@pytest.mark.parametrize(
    ("name", "data", "pods", "ips"),
    [
        ("defaults, no pods", IPAM, 0, 3),  # short = warm 3
        ("defaults, 1 pod", IPAM, 1, 4),  # 1 used + 3 warm
        ("defaults, 6 pods", IPAM, 6, 9),  # capped at capacity 9
        ("warm 5", {**IPAM, "warm-ip-target": "5"}, 0, 5),
        ("warm 1 min 0", {**IPAM, "warm-ip-target": "0"}, 0, 1),  # 0 -> 1 in PARSE
        ("min 6 warm 1", {**IPAM, "minimum-ip-target": "6", "warm-ip-target": "1"}, 0, 6),
        ("min 6 warm 1, 6 pods", {**IPAM, "minimum-ip-target": "6", "warm-ip-target": "1"}, 6, 7),
        ("warm -1 -> 3", {**IPAM, "warm-ip-target": "-1"}, 0, 3),
        ("min only 5: warm 0", {**IPAM, "minimum-ip-target": "5"}, 0, 5),
        ("min only 5, 5 pods: warm 0", {**IPAM, "minimum-ip-target": "5"}, 5, 5),
        ("non-nitro PD cluster", {**PD, "warm-ip-target": "8"}, 0, 3),  # defaults 3/3
    ],
)
def test_secondary_examples(name: str, data: dict[str, str], pods: int, ips: int) -> None:
    nitro = name != "non-nitro PD cluster"
    pool, eni, _ = make(data, M5_LARGE_SEC, nitro=nitro)
    assert not pool.is_pd
    settle(pool, eni)
    got = add_pods(pool, eni, pods)
    assert len(eni.groups) == ips, name
    assert len(set(got)) == pods
    assert all(ip.endswith("/19") for ip in got)


# -------------------------------------------------------------------- deviation tables
@pytest.mark.parametrize(
    ("cfg", "used", "warm", "cooling", "pending", "expected"),
    [
        # calculateSecondaryIPDeviation: short = max(warm - (warm+pending), min - assigned)
        ((3, 3), 0, 0, 0, 0, 3),
        ((3, 3), 0, 3, 0, 0, 0),
        ((3, 3), 0, 6, 0, 0, -3),
        ((3, 3), 0, 0, 0, 3, 0),  # pending create counts as available
        ((3, 3), 2, 3, 0, 0, 0),
        ((3, 3), 2, 1, 0, 0, 2),
        ((3, 3), 0, 2, 2, 0, 1),  # cooling counts in assigned (min) not in available
        ((3, 10), 0, 3, 0, 0, 7),  # min dominates
        ((3, 10), 0, 12, 0, 0, -2),  # over capped by assigned - min
        ((3, 10), 0, 10, 0, 0, 0),
        ((1, 0), 5, 4, 0, 0, -3),
        ((0, 5), 0, 5, 0, 0, 0),
        ((0, 5), 0, 7, 0, 0, -2),
        ((-1, -1), 0, 0, 0, 0, 3),  # negatives -> defaults 3/3
    ],
)
def test_secondary_deviation(
    cfg: tuple[int, int], used: int, warm: int, cooling: int, pending: int, expected: int
) -> None:
    pool = WarmPool(
        node_name="n",
        capacity=100,
        is_pd=False,
        warm_pool_config=WarmPoolConfig(
            desired_size=3, warm_ip_target=cfg[0], min_ip_target=cfg[1]
        ),
    )
    for i in range(used):
        pool.used[f"p{i}"] = Resource(f"10.0.0.{i}/19", f"10.0.0.{i}/19")
    for i in range(warm):
        g = f"10.0.1.{i}/19"
        pool.warm[g] = [Resource(g, g)]
    for i in range(cooling):
        g = f"10.0.2.{i}/19"
        pool.cool_down.append((Resource(g, g), 0.0))
    pool.pending_create = pending
    assert pool._secondary_deviation() == expected


def _prefix(n: int) -> str:
    return f"10.0.{n}.0/28"


@pytest.mark.parametrize(
    ("cfg", "used", "free_prefixes", "partial", "pending", "expected_prefixes"),
    [
        # getPDDeviation in units of prefixes (result is x16 IPs). cfg=(warm, min, wpt)
        ((1, 3, 0), 0, 0, 0, 0, 1),
        ((1, 3, 0), 0, 1, 0, 0, 0),
        ((1, 3, 0), 0, 2, 0, 0, -1),
        ((1, 3, 0), 0, 3, 0, 0, -2),
        ((1, 3, 0), 16, 0, 0, 0, 1),  # ceil(17/16)=2 minus the 1 full prefix in use
        ((15, 3, 0), 2, 0, 14, 0, 1),  # ceil(17/16)=2, have 1
        ((0, 0, 2), 0, 0, 0, 0, 2),  # warm-prefix path: 2 - free 0 - ceil(pending/16)
        ((0, 0, 2), 0, 0, 0, 16, 1),
        ((0, 0, 2), 1, 1, 15, 0, 1),
        ((0, 0, 2), 0, 3, 0, 0, -1),
        ((1, 20, 0), 0, 0, 0, 0, 2),
        ((1, 20, 0), 0, 2, 0, 0, 0),
        ((40, 3, 0), 0, 0, 0, 0, 3),
        ((1, 3, 0), 5, 0, 11, 0, 0),  # can't delete a partially used prefix
        ((1, 3, 0), 1, 0, 15, 0, 0),
        ((0, 0, 0), 0, 0, 0, 0, 1),  # nothing defined -> 1/3 defaults
        ((0, 0, 5), 0, 0, 0, 0, 5),
    ],
)
def test_pd_deviation(
    cfg: tuple[int, int, int],
    used: int,
    free_prefixes: int,
    partial: int,
    pending: int,
    expected_prefixes: int,
) -> None:
    pool = WarmPool(
        node_name="n",
        capacity=1000,
        is_pd=True,
        warm_pool_config=WarmPoolConfig(
            desired_size=1, warm_ip_target=cfg[0], min_ip_target=cfg[1], warm_prefix_target=cfg[2]
        ),
    )
    # Used IPs come from prefix 100+ (partial prefix holds `partial` free IPs beside them).
    ips = deconstruct_ips_from_prefix(_prefix(100))
    for i in range(used):
        group = _prefix(100 + i // 16)
        pool.used[f"p{i}"] = Resource(group, deconstruct_ips_from_prefix(group)[i % 16])
    if partial:
        pool.warm[_prefix(100)] = [Resource(_prefix(100), ip) for ip in ips[16 - partial :]]
    for i in range(free_prefixes):
        g = _prefix(i)
        pool.warm[g] = [Resource(g, ip) for ip in deconstruct_ips_from_prefix(g)]
    pool.pending_create = pending
    assert pool._pd_deviation() == expected_prefixes * 16


def test_draining_pool_releases_free_groups() -> None:
    # SetToDraining: DesiredSize 0 -> all targets 0 -> every wholly free group released.
    pool, eni, _ = make({**PD, "warm-prefix-target": "3"}, M5_LARGE_PD)
    settle(pool, eni)
    assert len(eni.groups) == 3
    add_pods(pool, eni, 1)
    job = pool.set_to_draining()
    assert job.op is JobOp.DELETE
    eni.run(pool, job)
    settle(pool, eni)
    assert len(eni.groups) == 1  # the prefix holding the pod stays


# -------------------------------------------------------------------- assign / free
def test_assign_takes_from_fewest_free_prefix() -> None:
    pool = WarmPool(
        node_name="n",
        capacity=144,
        is_pd=True,
        warm_pool_config=WarmPoolConfig(desired_size=1, warm_ip_target=1, min_ip_target=3),
    )
    a, b = _prefix(1), _prefix(2)
    pool.warm[b] = [Resource(b, ip) for ip in deconstruct_ips_from_prefix(b)]
    pool.warm[a] = [Resource(a, ip) for ip in deconstruct_ips_from_prefix(a)[6:]]
    ip, should = pool.assign("pod")
    assert should and ip == "10.0.1.6/32"


def test_error_order() -> None:
    cfg = WarmPoolConfig(desired_size=3, warm_ip_target=3, min_ip_target=3)
    pool = WarmPool(node_name="n", capacity=2, is_pd=False, warm_pool_config=cfg)
    with pytest.raises(WarmPoolEmpty) as e:
        pool.assign("a")
    assert e.value.should_reconcile and str(e.value) == "warm pool is empty"
    pool.pending_create = 2
    with pytest.raises(ResourcesAreBeingCreated, match="being created"):
        pool.assign("a")
    pool.pending_create = 0
    g = "10.0.0.9/19"
    pool.warm[g] = [Resource(g, g)]
    pool.assign("a")
    with pytest.raises(ResourceAlreadyAssigned):
        pool.assign("a")
    pool.cool_down.append((Resource("x", "x"), 0.0))
    with pytest.raises(ResourcesAreBeingCooledDown, match="cooled down"):
        pool.assign("b")
    pool.cool_down.clear()
    pool.used["b"] = Resource("y", "y")
    with pytest.raises(PoolAtMaxCapacity, match="cannot assign any more"):
        pool.assign("c")
    with pytest.raises(ResourceDoesntExist):
        pool.free("zz", "x")
    with pytest.raises(IncorrectResourceOwner):
        pool.free("b", "x")


def test_new_pd_pool_reports_insufficient_cidr_until_first_job() -> None:
    # prefixAvailable's zero value is false; UpdatePool sets it from the job outcome.
    pool, eni, _ = make(PD, M5_LARGE_PD)
    with pytest.raises(InsufficientCidrBlocks) as e:
        pool.assign("p")
    assert not e.value.should_reconcile
    settle(pool, eni)
    pool.assign("p")


def test_insufficient_cidr_after_failed_create() -> None:
    pool, _eni, _ = make(PD, M5_LARGE_PD)
    job = pool.reconcile()
    assert job.op is JobOp.CREATE and job.resource_count == 1 and pool.pending_create == 16
    assert pool.update_pool(job, False, False) is True  # failed -> resync
    assert pool.pending_create == 0 and pool.resync_required
    with pytest.raises(InsufficientCidrBlocks):
        pool.assign("p")
    assert pool.reconcile().op is JobOp.RESYNC


def test_cool_down_then_release_whole_prefix() -> None:
    pool, eni, clock = make(PD, M5_LARGE_PD)
    settle(pool, eni)
    ips = add_pods(pool, eni, 20)
    assert len(eni.groups) == 2
    for i, ip in enumerate(ips):
        pool.free(f"pod-{i}", ip)
    settle(pool, eni)
    assert len(eni.groups) == 2  # cooling IPs are not free: nothing released
    clock.t += 29.9
    assert pool.process_cool_down() is True
    settle(pool, eni)
    assert len(eni.groups) == 2
    clock.t += 0.2
    assert pool.process_cool_down() is False
    settle(pool, eni)
    assert len(eni.groups) == 1 and len(eni.deleted) == 1
    assert pool.stats().warm == 16


def test_secondary_release_after_cool_down() -> None:
    pool, eni, clock = make(IPAM, M5_LARGE_SEC)
    settle(pool, eni)
    ips = add_pods(pool, eni, 3)
    assert len(eni.groups) == 6
    for i, ip in enumerate(ips):
        pool.free(f"pod-{i}", ip)
    clock.t += 30
    pool.process_cool_down()
    settle(pool, eni)
    assert len(eni.groups) == 3 and len(eni.deleted) == 3


def test_no_duplicate_assignment_under_churn() -> None:
    pool, eni, clock = make(PD, M5_LARGE_PD)
    settle(pool, eni)
    held: dict[str, str] = {}
    for rnd in range(5):
        for i in range(30):
            name = f"r{rnd}-{i}"
            ip = add_pods_named(pool, eni, name)
            assert ip not in held.values()
            held[name] = ip
        for name in list(held)[:25]:
            pool.free(name, held.pop(name))
        clock.t += 31
        pool.process_cool_down()
        settle(pool, eni)
    assert pool.stats().used == len(held)


def add_pods_named(pool: WarmPool, eni: FakeENI, name: str) -> str:
    for _ in range(10):
        try:
            ip, _ = pool.assign(name)
            settle(pool, eni)
            return ip
        except WarmPoolEmpty:
            settle(pool, eni)
    raise AssertionError("no IP")


def test_resync_adds_and_removes() -> None:
    pool, eni, _ = make(IPAM, M5_LARGE_SEC)
    settle(pool, eni)
    pool.resync_required = True
    extra = "10.0.99.1/19"
    gone = eni.groups[0]
    pool.resync([*eni.groups[1:], extra])
    ids = pool.all_resource_ids()
    assert extra in ids and gone not in ids
    assert not pool.resync_required


def test_capacity_full_means_no_reconcile() -> None:
    pool, eni, _ = make(IPAM, 3)
    settle(pool, eni)
    add_pods(pool, eni, 3)
    assert pool.reconcile().op is JobOp.NONE
    assert len(eni.groups) == 3


def test_pick_order_is_drawn_from_the_seed_as_go_map_order_is_random() -> None:
    """Go walks maps in random order; a seeded pool walks its groups in an order drawn
    from the seed: reproducible per seed, different across seeds."""
    import random

    cfg = WarmPoolConfig(desired_size=0, warm_ip_target=0, min_ip_target=0)

    def picks(seed: int | None) -> list[str]:
        warm = {f"10.0.0.{i}/19": [Resource(f"10.0.0.{i}/19", f"10.0.0.{i}/19")] for i in range(8)}
        pool = WarmPool(
            node_name="n",
            capacity=8,
            is_pd=False,
            warm_pool_config=cfg,
            warm=warm,
            rng=random.Random(seed) if seed is not None else None,
        )
        return [pool.assign(f"pod-{i}")[0] for i in range(8)]

    assert picks(None) == [f"10.0.0.{i}/19" for i in range(8)]  # insertion order
    assert picks(1) == picks(1)
    assert len({tuple(picks(s)) for s in range(6)}) > 1
    assert sorted(picks(3)) == sorted(picks(None))
