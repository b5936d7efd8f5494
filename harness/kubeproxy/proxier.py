"""Per-node winkernel sync: make the node's HNS load balancers match the desired set.

Runs blocking (gRPC to fake_hns) in a worker thread; the agent calls ``sync`` on every
Service/Endpoints change (no more often than minSyncPeriod) and every syncPeriod.
Semantics copied from the winkernel proxier:
- a load balancer whose spec changed is deleted and re-created (HNS < 15.4 cannot
  update in place, and it is what kube-proxy does there);
- a failed create is logged as ``Policy creation failed: <HNS error>`` and the rest of
  that Service port's load balancers are skipped (``continue``); the next sync retries;
- backends are HNS endpoint ids: the node's own endpoint for a local pod IP, else a
  remote endpoint kube-proxy creates on the node's network.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from harness.kubeproxy.desired import LbSpec

log = logging.getLogger("ekswin.kubeproxy")

POLICY_FAILED = "Policy creation failed"


@dataclass
class LbFailure:
    """One failed load-balancer create in a sync."""

    spec: LbSpec
    message: str  # "Policy creation failed: hcnCreateLoadBalancer failed in Win32: ..."
    hresult: int = 0


@dataclass
class SyncResult:
    """What one sync did."""

    created: int = 0
    deleted: int = 0
    unchanged: int = 0
    failures: list[LbFailure] = field(default_factory=list)


@dataclass
class AppliedLb:
    """A load balancer this proxier created (or adopted at start-up)."""

    id: str
    spec: LbSpec | None  # None: adopted from HNS without a known spec -> replaced


class Proxier:
    """HNS load balancers of one node."""

    def __init__(self, node_name: str, hns: Any, source_vip: str = "") -> None:
        self.node_name = node_name
        self.hns = hns  # harness.hns.NodeHns
        self.source_vip = source_vip  # the node IP: SNAT source towards backends
        self.applied: dict[tuple[str, int, int], AppliedLb] = {}
        self.adopted = False
        self.lb_failures_total = 0
        self.last_failures: list[LbFailure] = []

    def forget_applied(self) -> None:
        """HNS lost every policy (it restarted empty): the next sync creates them all."""
        self.applied.clear()
        self.adopted = True

    def _adopt_existing(self) -> None:
        # A restarted kube-proxy finds the policies it made earlier in HNS.
        for lb in self.hns.list_load_balancers():
            self.applied[(lb.frontend_vip, lb.protocol, lb.external_port)] = AppliedLb(lb.id, None)
        self.adopted = True

    def sync(self, desired: list[LbSpec], local_ips: Collection[str] = ()) -> SyncResult:
        """Create, replace and delete load balancers so HNS matches `desired`;
        `local_ips` are this node's pod IPs (never given a remote endpoint)."""
        from harness.hns import HnsFailure

        if not self.adopted:
            self._adopt_existing()
        result = SyncResult()
        want = {lb.key: lb for lb in desired}
        for key in list(self.applied):
            have = self.applied[key]
            if (
                key not in want
                or (have.spec is not None and have.spec != want[key])
                or (have.spec is None)
            ):
                if have.spec is None and key in want and self._matches(have.id, want[key]):
                    have.spec = want[key]
                    continue
                try:
                    self.hns.delete_load_balancer(have.id)
                    result.deleted += 1
                except HnsFailure as e:
                    log.warning("node %s: delete load balancer %s: %s", self.node_name, have.id, e)
                    if not e.not_found:
                        continue
                del self.applied[key]
        failed_ports: set[tuple[str, str]] = set()
        for spec in desired:
            if (spec.service, spec.port_name) in failed_ports:
                continue
            if spec.key in self.applied:
                result.unchanged += 1
                continue
            try:
                backends = self.hns.backend_endpoint_ids(list(spec.backends), local_ips)
                if not backends:
                    continue  # every backend is a local pod still without its endpoint
                lb_id = self.hns.create_load_balancer(spec, backends, self.source_vip)
            except HnsFailure as e:
                message = f"{POLICY_FAILED}: {e}"
                log.error(
                    "node %s: %s (service %s, %s)",
                    self.node_name,
                    message,
                    spec.service_port,
                    spec.kind,
                )
                result.failures.append(LbFailure(spec, message, e.hresult))
                failed_ports.add((spec.service, spec.port_name))
                continue
            # Short of a backend: recorded without its spec, so the next sync compares
            # it with HNS and re-creates it once every backend has its endpoint.
            complete = len(backends) == len(spec.backends)
            self.applied[spec.key] = AppliedLb(lb_id, spec if complete else None)
            result.created += 1
        self._release_remote_endpoints()
        self.lb_failures_total += len(result.failures)
        self.last_failures = result.failures
        return result

    def _release_remote_endpoints(self) -> None:
        """Remote endpoints no load balancer uses any more are deleted (winkernel refcount),
        so an address that later lands on this node's own ENI is free for its pod."""
        from harness.hns import HnsFailure

        try:
            keep = {b for lb in self.hns.list_load_balancers() for b in lb.backends}
            self.hns.remove_unused_remote_endpoints(keep)
        except HnsFailure as e:
            log.warning("node %s: remote endpoint cleanup: %s", self.node_name, e)

    def _matches(self, lb_id: str, spec: LbSpec) -> bool:
        try:
            return bool(self.hns.load_balancer_matches(lb_id, spec))
        except Exception:
            return False
