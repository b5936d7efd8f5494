"""Per-mode node providers: one node's warm pool of one `PoolMode` and how its jobs reach EC2.

Mirrors pkg/provider/ip/provider.go (secondary IPs) and pkg/provider/prefix/provider.go
(/28 prefixes, Nitro only) of the real controller @ b8d42511: InitResource (the pool
rebuilt from what the ENIs hold and the pods' annotations), the capacity each advertises,
and the create / delete / re-sync jobs (CreatePrivateIPv4AndUpdatePool,
CreateIPv4PrefixAndUpdatePool, their Delete twins and ReSyncPool). `PROVIDERS` selects the
class by mode.
"""

from __future__ import annotations

import abc
import enum
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from controller.config import RESOURCE_NAME_IP, PoolMode, WarmPoolConfig
from controller.ec2 import EC2Client, EC2Error
from controller.eni import EniLedger, Holdings
from controller.limits import InstanceTypeInfo
from controller.pool import (
    NUM_IPV4_ADDR_PER_PREFIX,
    JobOp,
    Resource,
    WarmPool,
    WarmPoolJob,
    deconstruct_ips_from_prefix,
)

INSUFFICIENT_CIDR = "InsufficientCidrBlocks"  # utils.InsufficientCidrBlocksReason


class CidrExhaustion(enum.StrEnum):
    """How the prefix provider tells a subnet without a free /28 (`--cidr-exhaustion`).

    REAL: what the released binary does. Its test is a prefix match of
    InsufficientCidrBlocks on err.Error(), and the AWS SDK for Go v2 spells errors
    "operation error EC2: ...", so it never matches: the job counts as a retryable
    failure (re-sync, prefixes still "available", no node Event, pods retry at 600 ms).
    INTENDED: what that code was written for (the error text starts with the code):
    prefixes unavailable, a node Event, pods retry at 2 min.
    """

    REAL = "real"
    INTENDED = "intended"


def error_text(err: EC2Error, mode: CidrExhaustion) -> str:
    """err.Error() as the controller's string tests see it in `mode`."""
    return err.sdk_text if mode is CidrExhaustion.REAL else err.code_text


def should_retry_on_error(text: str) -> bool:
    """utils.ShouldRetryOnError: every error but those starting with a NotRetryErrors entry."""
    return not text.startswith(INSUFFICIENT_CIDR)


@dataclass
class JobOutcome:
    """What running a job left to do: the follow-up reconcile, an EC2 error, no free /28,
    and for a create that fell short without an EC2 error (every ENI slot taken) how many
    were wanted and made."""

    follow_up: WarmPoolJob | None = None
    error: EC2Error | None = None
    no_cidr: bool = False
    shortfall: tuple[int, int] | None = None


class NodeProvider(abc.ABC):
    """One node's pool of one mode (upstream's ResourceProviderAndPool)."""

    mode: ClassVar[PoolMode]
    prefixes: ClassVar[bool]  # what EC2 is asked for: /28 prefixes or single addresses

    def __init__(
        self,
        *,
        node_name: str,
        instance_id: str,
        itype: InstanceTypeInfo,
        ledger: EniLedger,
        subnet_mask: str,
        held: Holdings,
        running: list[dict[str, Any]],
        config: WarmPoolConfig,
        cool_down_seconds: float,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """InitResource: the node's pool of this mode, built once from EC2's holdings and
        the annotations of the node's running pods."""
        self.ledger = ledger
        self.instance_id = instance_id
        self.subnet_mask = subnet_mask
        used, warm = self.initial(held, running)
        self.pool = WarmPool(
            node_name=node_name,
            capacity=self.capacity_for(itype),
            is_pd=self.mode is PoolMode.PREFIX,
            warm_pool_config=config,
            used=used,
            warm=warm,
            cool_down_seconds=cool_down_seconds,
            rng=rng,
            clock=clock,
        )

    # ------------------------------------------------------------------ per mode
    @staticmethod
    @abc.abstractmethod
    def supports(itype: InstanceTypeInfo) -> bool:
        """IsInstanceSupported: may this instance type have this pool."""

    @staticmethod
    @abc.abstractmethod
    def capacity_for(itype: InstanceTypeInfo) -> int:
        """The pool's capacity, advertised while it is active."""

    @abc.abstractmethod
    def initial(
        self, held: Holdings, running: Iterable[dict[str, Any]]
    ) -> tuple[dict[str, Resource], dict[str, list[Resource]]]:
        """InitResource: (used by pod uid, warm by group) from the ENIs and the pods."""

    @abc.abstractmethod
    def groups(self, held: Holdings) -> list[str]:
        """The pool's groups among what the ENIs hold (for ReSync)."""

    @abc.abstractmethod
    def to_groups(self, ec2_resources: list[str]) -> list[str]:
        """EC2 resources (IPs or prefixes) as the pool's group ids."""

    @abc.abstractmethod
    def to_ec2(self, groups: list[str]) -> list[str]:
        """The pool's group ids as EC2 resources."""

    # ------------------------------------------------------------------ shared
    @property
    def capacity(self) -> int:
        """The pool's capacity."""
        return self.pool.capacity

    def run(
        self,
        job: WarmPoolJob,
        ec2: EC2Client,
        cidr_exhaustion: CidrExhaustion = CidrExhaustion.REAL,
    ) -> JobOutcome:
        """Carry out a create / delete / re-sync job against EC2 and report it to the pool."""
        if job.op is JobOp.CREATE:
            return self._create(job, ec2, cidr_exhaustion)
        if job.op is JobOp.DELETE:
            return self._delete(job, ec2)
        if job.op is JobOp.RESYNC:
            return self._resync(ec2)
        return JobOutcome()

    def _create(self, job: WarmPoolJob, ec2: EC2Client, mode: CidrExhaustion) -> JobOutcome:
        made, err = self.ledger.assign(ec2, job.resource_count, prefixes=self.prefixes)
        # eni.go CreateIPV4Resource: fewer than asked without an EC2 error is an error too
        # ("not able to create the desired number of ..."), a retryable one.
        shortfall = (
            (job.resource_count, len(made))
            if err is None and len(made) < job.resource_count
            else None
        )
        did_succeed = err is None and shortfall is None
        no_cidr = False
        if err is not None and self.prefixes:
            # prefix/provider.go: both tests are prefix matches on the error's text.
            text = error_text(err, mode)
            did_succeed = not should_retry_on_error(text)
            no_cidr = text.startswith(INSUFFICIENT_CIDR)
        job.resources = self.to_groups(made)
        follow_up = None
        if self.pool.update_pool(job, did_succeed, prefix_available=not no_cidr):
            follow_up = self.pool.reconcile()
        return JobOutcome(follow_up, err, no_cidr, shortfall)

    def _delete(self, job: WarmPoolJob, ec2: EC2Client) -> JobOutcome:
        failed, err = self.ledger.unassign(ec2, self.to_ec2(job.resources), prefixes=self.prefixes)
        job.resources = self.to_groups(failed)
        follow_up = None
        if self.pool.update_pool(job, not failed, prefix_available=True):
            follow_up = self.pool.reconcile()
        return JobOutcome(follow_up, err)

    def _resync(self, ec2: EC2Client) -> JobOutcome:
        try:
            inst = ec2.describe_instance(self.instance_id)
        except EC2Error as exc:
            return JobOutcome(error=exc)
        held = self.ledger.load(inst)
        self.pool.resync(self.groups(held))
        return JobOutcome()


class SecondaryProvider(NodeProvider):
    """pkg/provider/ip: secondary IPv4 addresses, "IP/mask" resources, one per group."""

    mode = PoolMode.SECONDARY
    prefixes = False

    @staticmethod
    def supports(itype: InstanceTypeInfo) -> bool:
        """Every instance type has a secondary IP pool."""
        return True

    @staticmethod
    def capacity_for(itype: InstanceTypeInfo) -> int:
        """Addresses per ENI less the primary."""
        return itype.ipv4_per_eni - 1

    def initial(
        self, held: Holdings, running: Iterable[dict[str, Any]]
    ) -> tuple[dict[str, Resource], dict[str, list[Resource]]]:
        """Pods annotated with one of the ENIs' IPs hold it; the rest are warm."""
        present = set(self.groups(held))
        used: dict[str, Resource] = {}
        for pod in running:
            ann = pod["metadata"]["annotations"].get(RESOURCE_NAME_IP)
            if ann and ann in present:
                used[pod["metadata"]["uid"]] = Resource(ann, ann)
        taken = {r.resource_id for r in used.values()}
        warm = {g: [Resource(g, g)] for g in self.groups(held) if g not in taken}
        return used, warm

    def groups(self, held: Holdings) -> list[str]:
        """The secondary IPs, with the subnet's mask."""
        return self.to_groups(held.secondary_ips)

    def to_groups(self, ec2_resources: list[str]) -> list[str]:
        """IP -> IP/mask."""
        return [f"{ip}/{self.subnet_mask}" for ip in ec2_resources]

    def to_ec2(self, groups: list[str]) -> list[str]:
        """IP/mask -> IP."""
        return [g.split("/")[0] for g in groups]


class PrefixProvider(NodeProvider):
    """pkg/provider/prefix: /28 prefixes, each a group of 16 "IP/32" resources (Nitro only)."""

    mode = PoolMode.PREFIX
    prefixes = True

    @staticmethod
    def supports(itype: InstanceTypeInfo) -> bool:
        """Prefix delegation needs a Nitro instance."""
        return itype.nitro

    @staticmethod
    def capacity_for(itype: InstanceTypeInfo) -> int:
        """16 addresses for each non-primary slot of the ENI."""
        return (itype.ipv4_per_eni - 1) * NUM_IPV4_ADDR_PER_PREFIX

    def initial(
        self, held: Holdings, running: Iterable[dict[str, Any]]
    ) -> tuple[dict[str, Resource], dict[str, list[Resource]]]:
        """Pods annotated with an IP of a held prefix hold it; the prefixes' other IPs are warm."""
        ip_to_prefix = {ip: p for p in held.prefixes for ip in deconstruct_ips_from_prefix(p)}
        used: dict[str, Resource] = {}
        for pod in running:
            ann = pod["metadata"]["annotations"].get(RESOURCE_NAME_IP)
            if ann and ann in ip_to_prefix:
                used[pod["metadata"]["uid"]] = Resource(ip_to_prefix.pop(ann), ann)
        warm: dict[str, list[Resource]] = {}
        for ip, p in ip_to_prefix.items():
            warm.setdefault(p, []).append(Resource(p, ip))
        return used, warm

    def groups(self, held: Holdings) -> list[str]:
        """The prefixes."""
        return list(held.prefixes)

    def to_groups(self, ec2_resources: list[str]) -> list[str]:
        """A prefix is its own group id."""
        return list(ec2_resources)

    def to_ec2(self, groups: list[str]) -> list[str]:
        """A group id is the prefix."""
        return list(groups)


PROVIDERS: dict[PoolMode, type[NodeProvider]] = {
    PoolMode.SECONDARY: SecondaryProvider,
    PoolMode.PREFIX: PrefixProvider,
}
