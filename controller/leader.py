"""Lease-based leader election (coordination.k8s.io/v1), with client-go's semantics.

The real controller elects a leader on the Lease kube-system/cp-vpc-resource-controller
through controller-runtime and client-go's leaderelection package, with lease duration
30 s, renew deadline 15 s and retry period 5 s (its flags --leader-lease-duration-seconds,
--leader-lease-renew-deadline, --leader-lease-retry-period). This module follows the same
rules:

- a candidate takes the Lease when it does not exist, has no holder, or its record has
  not changed for leaseDurationSeconds as observed on the candidate's own clock (so clock
  skew between replicas does not matter);
- the holder renews every retry period; when no renewal succeeds within the renew
  deadline it stops leading (the real binary then exits);
- writes use the Lease's resourceVersion, so two candidates never both win;
- acquireTime and leaseTransitions change only when the holder changes;
- stop() releases a held Lease (holderIdentity "", leaseDurationSeconds 1), like
  ReleaseOnCancel, so a successor does not wait out the lease.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from kubernetes import client as kclient
from kubernetes.client.rest import ApiException

log = logging.getLogger(__name__)

DEFAULT_LEASE_DURATION_S = 30.0
DEFAULT_RENEW_DEADLINE_S = 15.0
DEFAULT_RETRY_PERIOD_S = 5.0
JITTER_FACTOR = 1.2  # client-go's JitterFactor for acquire retries
MIN_REQUEST_TIMEOUT_S = 0.2


def _micro_time(t: dt.datetime) -> str:
    """A metav1.MicroTime string (RFC 3339 with microseconds, UTC)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for one Lease and calls back when leadership starts and stops.

    `run()` blocks (run it in a thread) until leadership is lost or `stop()` is called.
    `on_started_leading` runs in its own thread (it may block); `on_stopped_leading` runs
    in the `run()` thread once leadership ends, only if it was acquired.
    """

    def __init__(
        self,
        api_client: kclient.ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: float = DEFAULT_LEASE_DURATION_S,
        renew_deadline_s: float = DEFAULT_RENEW_DEADLINE_S,
        retry_period_s: float = DEFAULT_RETRY_PERIOD_S,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not identity:
            raise ValueError("identity: expected a non-empty string unique to this replica")
        if not namespace or not name:
            raise ValueError(f"namespace/name {namespace!r}/{name!r}: expected the Lease's")
        if retry_period_s <= 0:
            raise ValueError(f"retry_period_s {retry_period_s}: expected > 0")
        if renew_deadline_s <= JITTER_FACTOR * retry_period_s:
            raise ValueError(
                f"renew_deadline_s {renew_deadline_s}: expected > {JITTER_FACTOR} x "
                f"retry_period_s ({retry_period_s})"
            )
        if lease_duration_s <= renew_deadline_s:
            raise ValueError(
                f"lease_duration_s {lease_duration_s}: expected > renew_deadline_s "
                f"({renew_deadline_s})"
            )
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._api = kclient.CoordinationV1Api(api_client)
        self._core = kclient.CoreV1Api(api_client)
        self._rng = random.Random(zlib.crc32(identity.encode()) if seed is None else seed)
        self._clock = clock
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._op = threading.Lock()  # one Lease write at a time (renew vs release)
        # What we last saw of the Lease: its spec, when it changed (our clock), its
        # resourceVersion (for optimistic writes).
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._rv: str | None = None

    # ------------------------------------------------------------------ public
    @property
    def is_leader(self) -> bool:
        """True while this replica holds the Lease (as of its last successful write)."""
        return self._leading.is_set()

    def run(self) -> None:
        """Acquire the Lease, call on_started_leading, renew until lost or stopped."""
        if not self._acquire():
            return
        self._leading.set()
        log.info("%s became leader of lease %s/%s", self.identity, self.namespace, self.name)
        self._record_event("became leader")
        threading.Thread(target=self._on_started, name="leading", daemon=True).start()
        try:
            self._renew_loop()
        finally:
            self._leading.clear()
            self._on_stopped()

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; with `release` (default) give up a held Lease at once.

        `release=False` abandons the Lease as a crashed process would: a successor must
        wait for it to expire.
        """
        with self._op:
            # Under the lock, so the run thread cannot drop leadership (and skip the
            # release) between our stop request and this check.
            self._stop.set()
            was_leader = self._leading.is_set()
            self._leading.clear()
            if release and was_leader:
                self._release()

    # ------------------------------------------------------------------ loops
    def _acquire(self) -> bool:
        while not self._stop.is_set():
            deadline = self._clock() + self.renew_deadline_s
            if self._try_acquire_or_renew(deadline):
                return True
            # client-go: wait.JitterUntil(retryPeriod, 1.2): retry * (1 + U[0,1) * 1.2)
            wait = self.retry_period_s * (1 + self._rng.random() * JITTER_FACTOR)
            self._stop.wait(wait)
        return False

    def _renew_loop(self) -> None:
        while not self._stop.is_set():
            deadline = self._clock() + self.renew_deadline_s
            while not self._try_acquire_or_renew(deadline):
                remaining = deadline - self._clock()
                if remaining <= 0 or self._stop.wait(min(self.retry_period_s, remaining)):
                    break
                if deadline - self._clock() <= 0:
                    break
            else:
                self._stop.wait(self.retry_period_s)
                continue
            if not self._stop.is_set():
                log.error(
                    "%s failed to renew lease %s/%s within %.1fs: leadership lost",
                    self.identity,
                    self.namespace,
                    self.name,
                    self.renew_deadline_s,
                )
            return

    # ------------------------------------------------------------------ one attempt
    def _record(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            # The Lease holds whole seconds; round up so scaled-down tests stay safe.
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration_s)),
            "acquireTime": _micro_time(now),
            "renewTime": _micro_time(now),
            "leaseTransitions": 0,
        }

    def _observe(self, spec: dict[str, Any], rv: str | None) -> None:
        if spec != self._observed:
            self._observed = dict(spec)
            self._observed_at = self._clock()
        self._rv = rv

    def _timeout(self, deadline: float) -> float:
        return max(MIN_REQUEST_TIMEOUT_S, deadline - self._clock())

    def _try_acquire_or_renew(self, deadline: float) -> bool:
        with self._op:
            if self._stop.is_set():
                return False
            try:
                return self._attempt(deadline)
            except ApiException as e:
                log.warning("lease %s/%s: %s %s", self.namespace, self.name, e.status, e.reason)
            except Exception as e:  # network errors: retried by the loops
                log.warning("lease %s/%s: %s", self.namespace, self.name, e)
            return False

    def _attempt(self, deadline: float) -> bool:
        now = dt.datetime.now(dt.UTC)
        record = self._record(now)
        # Fast path (client-go): while our own record is the one last seen and still
        # valid, update directly without a GET.
        if (
            self._leading.is_set()
            and self._observed
            and self._observed.get("holderIdentity") == self.identity
            and self._rv is not None
            and self._clock() < self._observed_at + self._observed_duration()
        ):
            record["acquireTime"] = self._observed.get("acquireTime", record["acquireTime"])
            record["leaseTransitions"] = self._observed.get("leaseTransitions", 0)
            try:
                self._write(record, self._rv, deadline)
                return True
            except ApiException as e:
                log.info("optimistic lease update failed (%s); re-reading", e.status)
        current = self._get(deadline)
        if current is None:
            try:
                created = self._create(record, deadline)
            except ApiException as e:
                if e.status == 409:  # another candidate created it first
                    return False
                raise
            self._observe(record, created["metadata"].get("resourceVersion"))
            return True
        spec = current.get("spec") or {}
        self._observe(spec, current["metadata"].get("resourceVersion"))
        holder = spec.get("holderIdentity") or ""
        expired = self._clock() >= self._observed_at + self._observed_duration()
        if holder and holder != self.identity and not expired:
            return False  # held by someone else and not expired
        if holder == self.identity:
            record["acquireTime"] = spec.get("acquireTime") or record["acquireTime"]
            record["leaseTransitions"] = spec.get("leaseTransitions") or 0
        else:
            record["leaseTransitions"] = (spec.get("leaseTransitions") or 0) + 1
        try:
            self._write(record, self._rv, deadline)
        except ApiException as e:
            if e.status == 409:  # lost the race for this resourceVersion
                return False
            raise
        if holder != self.identity:
            log.info(
                "%s took lease %s/%s from %r", self.identity, self.namespace, self.name, holder
            )
        return True

    def _observed_duration(self) -> float:
        return float((self._observed or {}).get("leaseDurationSeconds") or 0)

    def _release(self) -> None:
        if self._rv is None or self._observed is None:
            return
        now = _micro_time(dt.datetime.now(dt.UTC))
        record = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": self._observed.get("leaseTransitions", 0),
        }
        try:
            self._write(record, self._rv, self._clock() + self.renew_deadline_s)
            log.info("%s released lease %s/%s", self.identity, self.namespace, self.name)
        except Exception as e:  # best effort, like client-go: the lease expires anyway
            log.warning("releasing lease %s/%s failed: %s", self.namespace, self.name, e)

    # ------------------------------------------------------------------ wire
    def _get(self, deadline: float) -> dict[str, Any] | None:
        try:
            resp = self._api.read_namespaced_lease(
                self.name,
                self.namespace,
                _preload_content=False,
                _request_timeout=self._timeout(deadline),
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return json.loads(resp.data)  # type: ignore[no-any-return]

    def _create(self, record: dict[str, Any], deadline: float) -> dict[str, Any]:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record,
        }
        resp = self._api.create_namespaced_lease(
            self.namespace, body, _preload_content=False, _request_timeout=self._timeout(deadline)
        )
        return json.loads(resp.data)  # type: ignore[no-any-return]

    def _write(self, record: dict[str, Any], rv: str | None, deadline: float) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace, "resourceVersion": rv},
            "spec": record,
        }
        resp = self._api.replace_namespaced_lease(
            self.name,
            self.namespace,
            body,
            _preload_content=False,
            _request_timeout=self._timeout(deadline),
        )
        out = json.loads(resp.data)
        self._observe(record, out["metadata"].get("resourceVersion"))

    def _record_event(self, what: str) -> None:
        """Best-effort Event on the Lease ("<identity> became leader"), as client-go does."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.name}.{uuid.uuid4().hex[:16]}",
                "namespace": self.namespace,
            },
            "involvedObject": {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "name": self.name,
                "namespace": self.namespace,
            },
            "reason": "LeaderElection",
            "message": f"{self.identity} {what}",
            "type": "Normal",
            "source": {"component": "vpc-resource-controller"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

        def send() -> None:
            try:
                self._core.create_namespaced_event(
                    self.namespace, body, _preload_content=False, _request_timeout=5
                )
            except Exception as e:
                log.debug("leader election event not recorded: %s", e)

        threading.Thread(target=send, name="leader-event", daemon=True).start()
