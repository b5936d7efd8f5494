"""EC2 access for the controller: boto3 against a configured endpoint.

Like the real controller's EC2 wrapper (pkg/aws/ec2/api): one client limited to
12 QPS with a burst of 18, retries with exponential backoff on throttling from 100 ms
capped at 10 s (tenacity owns the retries: boto3's own are off), calls filtered by id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from controller.ratelimit import rate_limiter

log = logging.getLogger(__name__)

THROTTLE_CODES = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})
EC2_QPS = 12
EC2_BURST = 18
BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 10.0
MAX_ATTEMPTS = 12

CallObserver = Callable[[str, float, str | None], None]


class EC2Error(Exception):
    """An EC2 API error with its code (e.g. InsufficientCidrBlocks) and message."""

    def __init__(self, action: str, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.action = action
        self.code = code
        self.message = message


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


@dataclass(frozen=True)
class InstanceTypeInfo:
    """Limits from DescribeInstanceTypes."""

    instance_type: str
    ipv4_per_eni: int
    max_enis: int
    nitro: bool


class EC2Client(Protocol):
    """The EC2 calls the IPAM makes (the seam a test double implements); errors are EC2Error."""

    def describe_instance(self, instance_id: str) -> InstanceInfo:
        """DescribeInstances for one instance."""
        ...

    def subnet_cidr(self, subnet_id: str) -> str:
        """The subnet's IPv4 CIDR."""
        ...

    def instance_type(self, instance_type: str) -> InstanceTypeInfo:
        """Limits and Nitro-ness of an instance type."""
        ...

    def assign(self, eni_id: str, count: int, *, prefixes: bool) -> list[str]:
        """Assign `count` secondary IPs or /28 prefixes to the ENI; return what was assigned."""
        ...

    def unassign(self, eni_id: str, resources: list[str], *, prefixes: bool) -> None:
        """Unassign the given secondary IPs or prefixes from the ENI."""
        ...


def _is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, EC2Error) and exc.code in THROTTLE_CODES


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
        max_attempts: int = MAX_ATTEMPTS,
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
        self._max_attempts = max_attempts
        self._type_cache: dict[str, InstanceTypeInfo] = {}
        self._subnet_cache: dict[str, str] = {}
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ core call
    def _call_once(self, action: str, **params: Any) -> dict[str, Any]:
        self._bucket.acquire()
        start = time.monotonic()
        code: str | None = None
        try:
            method = getattr(self._client, _snake(action))
            return method(**params)  # type: ignore[no-any-return]
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", "Unknown"))
            raise EC2Error(action, code, str(err.get("Message", ""))) from exc
        finally:
            if self._observer is not None:
                self._observer(action, time.monotonic() - start, code)

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        """Call `action`, retrying throttling errors with exponential backoff."""
        for attempt in Retrying(
            retry=retry_if_exception(_is_throttle),
            wait=wait_exponential_jitter(initial=BACKOFF_INITIAL_S, max=BACKOFF_MAX_S, jitter=0.05),
            stop=stop_after_attempt(self._max_attempts),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info(
                        "retrying %s after throttling (attempt %d)",
                        action,
                        attempt.retry_state.attempt_number,
                    )
                return self._call_once(action, **params)
        raise AssertionError("unreachable")

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

    def instance_type(self, instance_type: str) -> InstanceTypeInfo:
        """Limits and Nitro-ness of a type (DescribeInstanceTypes, cached per type)."""
        with self._cache_lock:
            if instance_type in self._type_cache:
                return self._type_cache[instance_type]
        out = self.call("DescribeInstanceTypes", InstanceTypes=[instance_type])
        types = out.get("InstanceTypes", [])
        if not types:
            raise EC2Error(
                "DescribeInstanceTypes",
                "InvalidInstanceType",
                f"The following supplied instance types do not exist: [{instance_type}]",
            )
        rec = types[0]
        net = rec.get("NetworkInfo", {})
        info = InstanceTypeInfo(
            instance_type=instance_type,
            ipv4_per_eni=int(net.get("Ipv4AddressesPerInterface", 0)),
            max_enis=int(net.get("MaximumNetworkInterfaces", 0)),
            nitro=rec.get("Hypervisor") == "nitro" or bool(rec.get("BareMetal")),
        )
        with self._cache_lock:
            self._type_cache[instance_type] = info
        return info

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
        """AssignPrivateIpAddresses for `count` secondary IPs or /28 prefixes in one call."""
        params: dict[str, Any] = {"NetworkInterfaceId": eni_id}
        if prefixes:
            params["Ipv4PrefixCount"] = count
        else:
            params["SecondaryPrivateIpAddressCount"] = count
        out = self.call("AssignPrivateIpAddresses", **params)
        if prefixes:
            return [p["Ipv4Prefix"] for p in out.get("AssignedIpv4Prefixes", [])]
        return [a["PrivateIpAddress"] for a in out.get("AssignedPrivateIpAddresses", [])]

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
