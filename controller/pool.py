"""The per-node warm pool: a faithful model of pkg/pool/pool.go of the real controller.

Plain Python over plain data, no I/O: the provider turns the jobs this returns into
EC2 calls and reports their outcome back through `update_pool`. Time comes from the
`clock` the caller passes (monotonic seconds), and the cool-down length is a setting.

Upstream reference: aws/amazon-vpc-resource-controller-k8s @ b8d42511, pkg/pool/pool.go
(AssignResource, FreeResource, UpdatePool, ProcessCoolDownQueue, ReconcilePool,
getPDDeviation, calculateSecondaryIPDeviation, findFreeGroup, findMinGroup, ReSync,
SetToDraining, SetToActive) and pkg/utils/helper.go DeconstructIPsFromPrefix.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller import config as cfgmod
from controller.goparse import ceil_division, go_div, wrap_int64

NUM_IPV4_ADDR_PER_PREFIX = 16
DEFAULT_COOL_DOWN_SECONDS = 30.0


class PoolError(Exception):
    """An error AssignResource / FreeResource returns; the message is upstream's text."""

    message = ""

    def __init__(self, should_reconcile: bool = False) -> None:
        super().__init__(self.message)
        self.should_reconcile = should_reconcile


class PoolAtMaxCapacity(PoolError):
    message = "cannot assign any more resource from warm pool"


class ResourcesAreBeingCooledDown(PoolError):
    message = "cannot assign resource now, resources are being cooled down"


class ResourcesAreBeingCreated(PoolError):
    message = "cannot assign resource now, resources are being created"


class WarmPoolEmpty(PoolError):
    message = "warm pool is empty"


class InsufficientCidrBlocks(PoolError):
    message = (
        "InsufficientCidrBlocks: The specified subnet does not have enough free cidr blocks "
        "to satisfy the request"
    )


class ResourceAlreadyAssigned(PoolError):
    message = "resource is already assigned to the requestor"


class ResourceDoesntExist(PoolError):
    message = "requested resource doesn't exist in used pool"


class IncorrectResourceOwner(PoolError):
    message = "resource doesn't belong to the requestor"


@dataclass(frozen=True)
class Resource:
    """A secondary IP (group == id, "IP/mask") or a prefix IP (group "a.b.c.d/28", id "IP/32")."""

    group_id: str
    resource_id: str


class JobOp(enum.Enum):
    """worker.Operations used by the warm pool."""

    NONE = ""
    CREATE = "Create"
    DELETE = "Deleted"
    RESYNC = "ReSyncPool"


@dataclass
class WarmPoolJob:
    """worker.WarmPoolJob: what the provider must do against EC2 for one node."""

    op: JobOp
    node_name: str = ""
    resource_count: int = 0
    resources: list[str] = field(default_factory=list)


def _rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deconstruct_ips_from_prefix(prefix: str) -> list[str]:
    """utils.DeconstructIPsFromPrefix: the /32 resource ids of a prefix ("10.0.0.16/28")."""
    net = ipaddress.IPv4Network(prefix, strict=False)
    return [f"{ip}/32" for ip in net]


@dataclass
class PoolStats:
    """Counts for metrics and introspection."""

    used: int
    warm: int
    cooling: int
    pending_create: int
    pending_delete: int
    capacity: int
    groups: int


class WarmPool:
    """One node's pool of IPv4 resources, in secondary-IP or prefix (PD) mode."""

    def __init__(
        self,
        *,
        node_name: str,
        capacity: int,
        is_pd: bool,
        warm_pool_config: cfgmod.WarmPoolConfig,
        used: Mapping[str, Resource] | None = None,
        warm: Mapping[str, list[Resource]] | None = None,
        cool_down_seconds: float = DEFAULT_COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.node_name = node_name
        self.capacity = capacity
        self.is_pd = is_pd
        self.config = warm_pool_config
        self.cool_down_seconds = cool_down_seconds
        self._clock = clock
        # Upstream walks Go maps, whose order is random; with `rng` the groups are walked
        # in an order drawn from it (seeded: reproducible), without it in insertion order.
        self._rng = rng
        self._lock = threading.RLock()
        self.used: dict[str, Resource] = dict(used or {})
        # Group -> free resources. A group emptied by assignment keeps its key with an
        # empty list, as upstream keeps a nil slice under the key.
        self.warm: dict[str, list[Resource]] = {g: list(r) for g, r in (warm or {}).items()}
        self.cool_down: deque[tuple[Resource, float]] = deque()
        self.pending_create = 0
        self.pending_delete = 0
        self.resync_required = False
        # Upstream's zero value is false; UpdatePool sets it from each job's outcome.
        self.prefix_available = False

    # ------------------------------------------------------------------ queries
    def num_warm(self) -> int:
        """Free resources across all groups."""
        return sum(len(r) for r in self.warm.values())

    def stats(self) -> PoolStats:
        """Snapshot of the pool's counts."""
        with self._lock:
            return PoolStats(
                used=len(self.used),
                warm=self.num_warm(),
                cooling=len(self.cool_down),
                pending_create=self.pending_create,
                pending_delete=self.pending_delete,
                capacity=self.capacity,
                groups=len([g for g, r in self.warm.items() if r]),
            )

    def effective_config(self) -> cfgmod.WarmPoolConfig:
        """The targets this pool reconciles to, after its normalisation (not changing its own)."""
        with self._lock:
            mode = cfgmod.PoolMode.PREFIX if self.is_pd else cfgmod.PoolMode.SECONDARY
            return cfgmod.normalise(self.config, mode)

    def introspect(self) -> dict[str, Any]:
        """pool.go Introspect, JSON-ready: UsedResources, WarmResources, CoolingResources.

        A cooling entry's DeletionTimestamp (when its owner freed it) is the wall-clock
        time that lies as far back as the pool's clock says.
        """
        with self._lock:
            now = self._clock()
            wall = time.time()
            return {
                "UsedResources": {
                    owner: {"GroupID": r.group_id, "ResourceID": r.resource_id}
                    for owner, r in self.used.items()
                },
                "WarmResources": {
                    g: [{"GroupID": r.group_id, "ResourceID": r.resource_id} for r in rs]
                    for g, rs in self.warm.items()
                },
                "CoolingResources": [
                    {
                        "Resource": {"GroupID": r.group_id, "ResourceID": r.resource_id},
                        "DeletionTimestamp": _rfc3339(wall - (now - since)),
                    }
                    for r, since in self.cool_down
                ],
            }

    def get_assigned(self, requester: str) -> str | None:
        """GetAssignedResource: the resource id the requester holds, or None."""
        with self._lock:
            res = self.used.get(requester)
            return res.resource_id if res else None

    def all_resource_ids(self) -> set[str]:
        """Every resource id the pool knows (used, warm, cooling)."""
        with self._lock:
            ids = {r.resource_id for r in self.used.values()}
            ids.update(r.resource_id for rs in self.warm.values() for r in rs)
            ids.update(r.resource_id for r, _ in self.cool_down)
            return ids

    # ------------------------------------------------------------------ assign/free
    def assign(self, requester: str) -> tuple[str, bool]:
        """AssignResource: return (resource_id, should_reconcile) or raise a PoolError."""
        with self._lock:
            if requester in self.used:
                raise ResourceAlreadyAssigned(False)
            used = len(self.used)
            if used == self.capacity:
                raise PoolAtMaxCapacity(False)
            if used + len(self.cool_down) == self.capacity:
                raise ResourcesAreBeingCooledDown(False)
            in_flight = used + len(self.cool_down) + self.pending_create + self.pending_delete
            if in_flight == self.capacity:
                raise ResourcesAreBeingCreated(False)
            if len(self.warm) == 0:
                if self.is_pd and not self.prefix_available:
                    raise InsufficientCidrBlocks(False)
                raise WarmPoolEmpty(True)
            res = self._take_from_min_group() if self.is_pd else self._take_from_any_group()
            if res is None:
                raise WarmPoolEmpty(True)
            self.used[requester] = res
            return res.resource_id, True

    def _groups(self) -> list[str]:
        """The warm groups in map-walk order (see `rng`)."""
        groups = list(self.warm)
        if self._rng is not None:
            self._rng.shuffle(groups)
        return groups

    def _take_from_min_group(self) -> Resource | None:
        # findMinGroup: the non-empty group with the fewest free resources (first wins ties).
        best: str | None = None
        best_count = 0
        for group in self._groups():
            resources = self.warm[group]
            if not resources:
                continue
            if best is None or len(resources) < best_count:
                best, best_count = group, len(resources)
        if best is None:
            return None
        return self.warm[best].pop(0)

    def _take_from_any_group(self) -> Resource | None:
        for group in self._groups():
            resources = self.warm[group]
            if resources:
                return resources.pop(0)
        return None

    def free(self, requester: str, resource_id: str) -> bool:
        """FreeResource: move the requester's resource to the cool-down queue."""
        with self._lock:
            actual = self.used.get(requester)
            if actual is None:
                raise ResourceDoesntExist(False)
            if actual.resource_id != resource_id:
                raise IncorrectResourceOwner(False)
            del self.used[requester]
            self.cool_down.append((actual, self._clock()))
            return True

    def process_cool_down(self) -> bool:
        """ProcessCoolDownQueue: resources cooled for the period go back to warm.

        Returns True when some resources are still cooling.
        """
        with self._lock:
            now = self._clock()
            while self.cool_down:
                res, since = self.cool_down[0]
                if now - since >= self.cool_down_seconds:
                    self.cool_down.popleft()
                    self.warm.setdefault(res.group_id, []).append(res)
                else:
                    return True
            return False

    # ------------------------------------------------------------------ job results
    def update_pool(self, job: WarmPoolJob, did_succeed: bool, prefix_available: bool) -> bool:
        """UpdatePool: apply a finished create/delete job; return should_reconcile."""
        with self._lock:
            should_reconcile = False
            if not did_succeed:
                self.resync_required = True
                should_reconcile = True
            if self.is_pd:
                self.prefix_available = prefix_available
            for group in job.resources:
                ids = deconstruct_ips_from_prefix(group) if self.is_pd else [group]
                self.warm.setdefault(group, []).extend(Resource(group, i) for i in ids)
            per = NUM_IPV4_ADDR_PER_PREFIX if self.is_pd else 1
            if job.op is JobOp.CREATE:
                self.pending_create = wrap_int64(self.pending_create - job.resource_count * per)
            elif job.op is JobOp.DELETE:
                self.pending_delete = wrap_int64(self.pending_delete - job.resource_count * per)
            return should_reconcile

    def resync(self, upstream_groups: Iterable[str]) -> None:
        """ReSync: align the pool with the groups EC2 reports for the ENI."""
        with self._lock:
            if not self.resync_required:
                return
            self.resync_required = False
            upstream: list[Resource] = []
            for group in upstream_groups:
                if not group:
                    continue
                if self.is_pd:
                    upstream.extend(Resource(group, i) for i in deconstruct_ips_from_prefix(group))
                else:
                    upstream.append(Resource(group, group))
            local = [r for r, _ in self.cool_down]
            local.extend(self.used.values())
            for rs in self.warm.values():
                local.extend(rs)
            up_set, local_set = set(upstream), set(local)
            new = [r for r in upstream if r not in local_set]
            gone = {r for r in local if r not in up_set}
            for r in new:
                self.warm.setdefault(r.group_id, []).append(r)
            if gone:
                for group in {r.group_id for r in gone}:
                    if group in self.warm:
                        kept = [r for r in self.warm[group] if r not in gone]
                        if kept:
                            self.warm[group] = kept
                        elif self.warm[group]:
                            # Upstream deletes the key when its last resource is removed.
                            del self.warm[group]
                self.cool_down = deque((r, t) for r, t in self.cool_down if r not in gone)
                # Used resources stay: upstream removes only warm and cooling ones.

    # ------------------------------------------------------------------ reconcile
    def reconcile(self) -> WarmPoolJob:
        """ReconcilePool: the create / delete / re-sync job to reach the targets (or NONE)."""
        with self._lock:
            none = WarmPoolJob(JobOp.NONE, self.node_name)
            num_warm = self.num_warm()
            used, cooling = len(self.used), len(self.cool_down)
            total = wrap_int64(
                num_warm + used + cooling + self.pending_create + self.pending_delete
            )
            if self.resync_required:
                if self.pending_create != 0 or self.pending_delete != 0:
                    return none
                return WarmPoolJob(JobOp.RESYNC, self.node_name)
            if used + self.pending_create + self.pending_delete + cooling == self.capacity:
                return none
            deviation = self._pd_deviation() if self.is_pd else self._secondary_deviation()
            max_dev = self.config.max_deviation
            if deviation > max_dev:
                can_create = wrap_int64(self.capacity - total)
                if can_create == 0:
                    return none
                if deviation > can_create:
                    deviation = can_create
                self.pending_create = wrap_int64(self.pending_create + deviation)
                count = go_div(deviation, NUM_IPV4_ADDR_PER_PREFIX) if self.is_pd else deviation
                return WarmPoolJob(JobOp.CREATE, self.node_name, resource_count=count)
            if -deviation > max_dev:
                to_delete: list[str] = []
                remaining = -deviation
                if remaining > 0:
                    per = NUM_IPV4_ADDR_PER_PREFIX if self.is_pd else 1
                    free_groups = [g for g in self._groups() if len(self.warm[g]) == per]
                    for group in free_groups:
                        if remaining <= 0:
                            break
                        n = len(self.warm[group])
                        to_delete.append(group)
                        remaining -= n
                        self.pending_delete += n
                        del self.warm[group]
                if to_delete:
                    return WarmPoolJob(
                        JobOp.DELETE,
                        self.node_name,
                        resource_count=len(to_delete),
                        resources=to_delete,
                    )
            return none

    def _pd_deviation(self) -> int:
        """getPDDeviation: IPs to add (+) or remove (-), always a multiple of 16."""
        c, prefix_only = cfgmod.normalise_prefix_config(self.config)
        per = NUM_IPV4_ADDR_PER_PREFIX
        free_prefixes = [g for g, rs in self.warm.items() if rs and len(rs) == per]
        if prefix_only:
            dev = wrap_int64(
                c.warm_prefix_target - len(free_prefixes) - ceil_division(self.pending_create, per)
            )
            return wrap_int64(dev * per)
        used = len(self.used)
        total = used + self.pending_create + self.num_warm() + len(self.cool_down)
        curr_prefixes = ceil_division(total, per)
        for_warm = ceil_division(wrap_int64(used + c.warm_ip_target), per)
        for_min = ceil_division(c.min_ip_target, per)
        dev = for_warm - curr_prefixes if for_warm >= for_min else for_min - curr_prefixes
        if dev < 0 and not free_prefixes:
            dev = 0
        return wrap_int64(dev * per)

    def _secondary_deviation(self) -> int:
        """calculateSecondaryIPDeviation: IPs to add (+) or remove (-)."""
        c = cfgmod.normalise_secondary_config(self.config)
        num_warm = self.num_warm()
        assigned = len(self.used) + num_warm + self.pending_create + len(self.cool_down)
        available = num_warm + self.pending_create
        short = max(wrap_int64(c.warm_ip_target - available), 0)
        short = max(short, wrap_int64(c.min_ip_target - assigned))
        over = max(wrap_int64(available - c.warm_ip_target), 0)
        over = max(min(over, wrap_int64(assigned - c.min_ip_target)), 0)
        return wrap_int64(short - over)

    # ------------------------------------------------------------------ mode toggles
    def set_to_draining(self) -> WarmPoolJob:
        """SetToDraining: empty config (DesiredSize 0) so the pool releases what it can."""
        with self._lock:
            self.config = cfgmod.WarmPoolConfig()
            return self.reconcile()

    def set_to_active(self, warm_pool_config: cfgmod.WarmPoolConfig) -> WarmPoolJob:
        """SetToActive: adopt a new config and reconcile."""
        with self._lock:
            self.config = warm_pool_config
            return self.reconcile()
