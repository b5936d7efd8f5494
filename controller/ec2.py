"""EC2 access for the controller: boto3 against a configured endpoint.

Like the real controller's EC2 wrapper (pkg/aws/ec2/api): one client limited to
12 QPS with a burst of 18 and the AWS SDK for Go v2 standard retryer with MaxAttempts 3
(`controller.awssdk`: 5xx, timeouts and throttling retried, jittered back-off capped at
20 s, a 500-token retry quota; boto3's own retries are off), calls filtered by id, and
after an assign the DescribeNetworkInterfaces poll until EC2 shows what it handed out
(helper.go AssignIPv4ResourcesAndWaitTillReady). Instance limits are not asked of EC2:
they come from the controller's own table (`controller.limits`), as upstream's do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from controller import awssdk
from controller.ratelimit import rate_limiter

log = logging.getLogger(__name__)

THROTTLE_CODES = awssdk.THROTTLE_CODES
EC2_QPS = 12
EC2_BURST = 18
MAX_ATTEMPTS = awssdk.DEFAULT_MAX_ATTEMPTS  # pkg/aws/ec2/api/wrapper.go MaxRetries
# helper.go waitForIPAttachment: 250 ms, x2, jitter 0.1, 7 steps, cap 1 min.
ATTACH_POLL_INITIAL_S = 0.25
ATTACH_POLL_FACTOR = 2.0
ATTACH_POLL_JITTER = 0.1
ATTACH_POLL_STEPS = 7
ATTACH_POLL_CAP_S = 60.0
CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
# Not an EC2 code: what the harness records when no HTTP answer came back.
REQUEST_SEND_FAILED = "RequestSendFailed"

# (action, params, seconds, error code or None) once per call, retries inside it, as the
# real controller's wrapper counts and times its SDK calls (wrapper.go).
CallObserver = Callable[[str, Mapping[str, Any], float, str | None], None]


class EC2Error(Exception):
    """An EC2 API error with its code (e.g. InsufficientCidrBlocks) and message.

    `status`, `request_id`, `attempts` and `quota` (tokens available, requested when the
    retry quota refused a retry) are what the SDK's error text is made of: `sdk_text`.
    """

    def __init__(
        self,
        action: str,
        code: str,
        message: str,
        *,
        status: int = 400,
        request_id: str = "",
        attempts: int = 1,
        quota: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.attempts = attempts
        self.quota = quota

    @property
    def sdk_text(self) -> str:
        """err.Error() as the AWS SDK for Go v2 spells it (what the real controller tests)."""
        if self.status:
            inner = awssdk.response_error_text(
                self.status, self.request_id, awssdk.api_error_text(self.code, self.message)
            )
        else:
            inner = f"request send failed, {self.message}"
        if self.quota is not None:
            inner = awssdk.quota_exceeded_text(*self.quota)
        elif self.attempts >= MAX_ATTEMPTS and awssdk.is_retryable(self.failure()):
            inner = awssdk.max_attempts_text(self.attempts, inner)
        return awssdk.operation_error_text("EC2", self.action, inner)

    @property
    def code_text(self) -> str:
        """`Code: message`: the text the controller's prefix tests were written for."""
        return f"{self.code}: {self.message}"

    def failure(self) -> awssdk.Failure:
        """This error as the retryer classifies it."""
        return awssdk.Failure(
            code=self.code if self.status else "",
            status=self.status,
            connection=self.status == 0,
            timeout=isinstance(self.__cause__, ReadTimeoutError),
        )


@dataclass
class ENIInfo:
    """An ENI of the instance: its id, device index, primary IP, secondary IPs and prefixes."""

    eni_id: str
    device_index: int
    primary_ip: str
    secondary_ips: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)


@dataclass
class InstanceInfo:
    """What the controller needs from DescribeInstances."""

    instance_id: str
    instance_type: str
    subnet_id: str
    private_ip: str
    enis: list[ENIInfo]

    @property
    def primary_eni_id(self) -> str:
        """The ENI whose primary IP is the instance's private IP (as instance.go LoadDetails)."""
        for eni in self.enis:
            if eni.primary_ip == self.private_ip:
                return eni.eni_id
        return min(self.enis, key=lambda e: e.device_index).eni_id if self.enis else ""


class EC2Client(Protocol):
    """The EC2 calls the IPAM makes (the seam a test double implements); errors are EC2Error."""

    def describe_instance(self, instance_id: str) -> InstanceInfo:
        """DescribeInstances for one instance."""
        ...

    def subnet_cidr(self, subnet_id: str) -> str:
        """The subnet's IPv4 CIDR."""
        ...

    def assign(self, eni_id: str, count: int, *, prefixes: bool) -> list[str]:
        """Assign `count` secondary IPs or /28 prefixes to the ENI; return what was assigned."""
        ...

    def unassign(self, eni_id: str, resources: list[str], *, prefixes: bool) -> None:
        """Unassign the given secondary IPs or prefixes from the ENI."""
        ...


class EC2Api:
    """The controller's EC2 client (thread-safe); qps 0 means no client rate limit."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        *,
        qps: float = EC2_QPS,
        burst: int = EC2_BURST,
        observer: CallObserver | None = None,
        retryer: awssdk.StandardRetryer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        self._client = session.client(
            "ec2",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=32,
                connect_timeout=10,
                read_timeout=30,
            ),
        )
        self._bucket = rate_limiter(qps, burst)
        self._observer = observer
        self.retryer = retryer or awssdk.StandardRetryer()
        self._sleep = sleep
        self._subnet_cache: dict[str, str] = {}
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ core call
    def _call_once(self, action: str, **params: Any) -> dict[str, Any]:
        self._bucket.acquire()
        try:
            method = getattr(self._client, _snake(action))
            return method(**params)  # type: ignore[no-any-return]
        except ClientError as exc:
            err = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            raise EC2Error(
                action,
                str(err.get("Code", "Unknown")),
                str(err.get("Message", "")),
                status=int(meta.get("HTTPStatusCode") or 400),
                request_id=str(meta.get("RequestId", "")),
            ) from exc
        except CONNECTION_ERRORS as exc:
            raise EC2Error(action, REQUEST_SEND_FAILED, str(exc), status=0) from exc

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        """Call `action` through the SDK v2 standard retry middleware (awssdk.decide); the
        observer sees the whole call once, rate-limiter waits and retries included."""
        start = time.monotonic()
        code: str | None = None
        try:
            return self._call_retrying(action, **params)
        except EC2Error as exc:
            code = exc.code
            raise
        finally:
            if self._observer is not None:
                self._observer(action, params, time.monotonic() - start, code)

    def _call_retrying(self, action: str, **params: Any) -> dict[str, Any]:
        r = self.retryer
        attempt = 1
        retry_cost = 0  # the retry token the current attempt holds
        while True:
            try:
                out = self._call_once(action, **params)
            except EC2Error as exc:
                exc.attempts = attempt
                d = awssdk.decide(r, attempt, exc.failure())
                if not d.retry:
                    if d.why == "quota exceeded":
                        exc.quota = (d.available, d.cost)
                    raise
                log.info(
                    "retrying %s after %s (attempt %d, %.2fs)", action, exc.code, attempt, d.delay_s
                )
                self._sleep(d.delay_s)
                attempt += 1
                retry_cost = d.cost
                continue
            # A success refunds the retry token it used, or adds NoRetryIncrement.
            r.quota.refund(retry_cost if retry_cost else awssdk.NO_RETRY_INCREMENT)
            return out

    # ------------------------------------------------------------------ reads
    def describe_instance(self, instance_id: str) -> InstanceInfo:
        """DescribeInstances filtered by the instance id."""
        out = self.call("DescribeInstances", InstanceIds=[instance_id])
        for res in out.get("Reservations", []):
            for inst in res.get("Instances", []):
                if inst.get("InstanceId") == instance_id:
                    return InstanceInfo(
                        instance_id=instance_id,
                        instance_type=inst["InstanceType"],
                        subnet_id=inst.get("SubnetId", ""),
                        private_ip=inst.get("PrivateIpAddress", ""),
                        enis=[_eni_from(n) for n in inst.get("NetworkInterfaces", [])],
                    )
        raise EC2Error(
            "DescribeInstances",
            "InvalidInstanceID.NotFound",
            f"The instance ID '{instance_id}' does not exist",
        )

    def subnet_cidr(self, subnet_id: str) -> str:
        """The subnet's IPv4 CIDR (DescribeSubnets by id, cached)."""
        with self._cache_lock:
            if subnet_id in self._subnet_cache:
                return self._subnet_cache[subnet_id]
        out = self.call("DescribeSubnets", SubnetIds=[subnet_id])
        cidr = str(out["Subnets"][0]["CidrBlock"])
        with self._cache_lock:
            self._subnet_cache[subnet_id] = cidr
        return cidr

    def describe_eni(self, eni_id: str) -> ENIInfo:
        """DescribeNetworkInterfaces for one ENI id."""
        out = self.call("DescribeNetworkInterfaces", NetworkInterfaceIds=[eni_id])
        nis = out.get("NetworkInterfaces", [])
        if not nis:
            raise EC2Error(
                "DescribeNetworkInterfaces",
                "InvalidNetworkInterfaceID.NotFound",
                f"The networkInterface ID '{eni_id}' does not exist",
            )
        return _eni_from(nis[0])

    # ------------------------------------------------------------------ writes
    def assign(self, eni_id: str, count: int, *, prefixes: bool) -> list[str]:
        """AssignPrivateIpAddresses for `count` IPs or /28 prefixes, then poll
        DescribeNetworkInterfaces until the ENI shows them; return those it shows."""
        params: dict[str, Any] = {"NetworkInterfaceId": eni_id}
        if prefixes:
            params["Ipv4PrefixCount"] = count
        else:
            params["SecondaryPrivateIpAddressCount"] = count
        out = self.call("AssignPrivateIpAddresses", **params)
        if prefixes:
            made = [p["Ipv4Prefix"] for p in out.get("AssignedIpv4Prefixes", [])]
        else:
            made = [a["PrivateIpAddress"] for a in out.get("AssignedPrivateIpAddresses", [])]
        if not made:
            return []  # upstream: "failed to create N ... to eni": the job fails, retryable
        return self._wait_attached(eni_id, made, prefixes=prefixes)

    def _wait_attached(self, eni_id: str, made: list[str], *, prefixes: bool) -> list[str]:
        """retry.OnError(waitForIPAttachment): describe at once, then back off, 7 tries."""
        delay = ATTACH_POLL_INITIAL_S
        shown: list[str] = []
        for step in range(ATTACH_POLL_STEPS):
            try:
                eni = self.describe_eni(eni_id)
            except EC2Error:
                return []  # not the attach error: the poll stops with nothing (as upstream)
            held = set(eni.prefixes if prefixes else eni.secondary_ips)
            shown = [r for r in made if r in held]
            if len(shown) == len(made) or step == ATTACH_POLL_STEPS - 1:
                return shown
            jitter = self.retryer.uniform() * ATTACH_POLL_JITTER * delay
            self._sleep((delay + jitter) * self.retryer.backoff_scale)
            delay = min(delay * ATTACH_POLL_FACTOR, ATTACH_POLL_CAP_S)
        return shown

    def unassign(self, eni_id: str, resources: list[str], *, prefixes: bool) -> None:
        """UnassignPrivateIpAddresses for the given IPs or prefixes in one call."""
        if prefixes:
            self.call(
                "UnassignPrivateIpAddresses", NetworkInterfaceId=eni_id, Ipv4Prefixes=resources
            )
        else:
            self.call(
                "UnassignPrivateIpAddresses",
                NetworkInterfaceId=eni_id,
                PrivateIpAddresses=resources,
            )


def _eni_from(n: dict[str, Any]) -> ENIInfo:
    primary = ""
    secondary: list[str] = []
    for a in n.get("PrivateIpAddresses", []):
        if a.get("Primary"):
            primary = a["PrivateIpAddress"]
        else:
            secondary.append(a["PrivateIpAddress"])
    return ENIInfo(
        eni_id=n["NetworkInterfaceId"],
        device_index=int(n.get("Attachment", {}).get("DeviceIndex", 0)),
        primary_ip=primary or n.get("PrivateIpAddress", ""),
        secondary_ips=secondary,
        prefixes=[p["Ipv4Prefix"] for p in n.get("Ipv4Prefixes", [])],
    )


def _snake(action: str) -> str:
    out = []
    for i, ch in enumerate(action):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
