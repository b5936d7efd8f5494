"""The AWS SDK for Go v2 model: standard retryer decisions and error text (no I/O)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from controller import awssdk
from controller.awssdk import Failure, RetryQuota, StandardRetryer, decide
from controller.ec2 import EC2Api, EC2Error


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (Failure(code="RequestLimitExceeded", status=503), True),
        (Failure(code="RequestLimitExceeded", status=400), True),  # throttle code alone
        (Failure(code="Throttling", status=400), True),
        (Failure(code="EC2ThrottledException", status=400), True),
        (Failure(code="InternalError", status=500), True),
        (Failure(code="Unavailable", status=503), True),
        (Failure(code="", status=502), True),
        (Failure(code="RequestTimeout", status=400), True),
        (Failure(connection=True), True),
        (Failure(code="InsufficientCidrBlocks", status=400), False),
        (Failure(code="PrivateIpAddressLimitExceeded", status=400), False),
        (Failure(code="InvalidParameterValue", status=400), False),
        (Failure(code="Unknown", status=501), False),  # 501 is not in the retryable set
    ],
)
def test_default_retryables(failure: Failure, retryable: bool) -> None:
    assert awssdk.is_retryable(failure) is retryable


def test_three_attempts_then_max_attempts() -> None:
    r = StandardRetryer(rng=random.Random(1))
    f = Failure(code="RequestLimitExceeded", status=503)
    first, second, third = decide(r, 1, f), decide(r, 2, f), decide(r, 3, f)
    assert first.retry and second.retry
    assert not third.retry and third.why == "max attempts"
    assert 0 <= first.delay_s < 2.0 and 0 <= second.delay_s < 4.0  # rand * 2^attempt
    assert r.quota.remaining == 500 - 2 * 5


def test_backoff_reaches_the_20s_cap_after_attempt_4() -> None:
    r = StandardRetryer(max_attempts=0, rng=random.Random(2))
    assert all(r.delay(a) < 2**a for a in range(1, 5))
    assert r.delay(5) == r.delay(9) == 20.0
    assert StandardRetryer(backoff_scale=0.05).delay(7) == pytest.approx(1.0)


def test_retry_quota_500_cost_5_timeout_10() -> None:
    q = RetryQuota()
    r = StandardRetryer(max_attempts=0, quota=q, rng=random.Random(3))
    assert decide(r, 1, Failure(connection=True, timeout=True)).cost == 10
    for _ in range(98):
        assert decide(r, 1, Failure(code="Throttling", status=400)).retry
    assert q.remaining == 0
    refused = decide(r, 1, Failure(code="Throttling", status=400))
    assert not refused.retry and refused.why == "quota exceeded"
    q.refund(1000)
    assert q.remaining == 500  # never above the bucket's size


def test_error_text_as_the_sdk_spells_it() -> None:
    e = EC2Error(
        "AssignPrivateIpAddresses",
        "InsufficientCidrBlocks",
        "The specified subnet does not have enough free cidr blocks to satisfy the request.",
        request_id="req-1",
    )
    assert e.sdk_text == (
        "operation error EC2: AssignPrivateIpAddresses, https response error StatusCode: 400, "
        "RequestID: req-1, api error InsufficientCidrBlocks: The specified subnet does not "
        "have enough free cidr blocks to satisfy the request."
    )
    assert e.code_text.startswith("InsufficientCidrBlocks: ")
    t = EC2Error("DescribeInstances", "RequestLimitExceeded", "Request limit exceeded.", status=503)
    t.attempts = 3
    assert t.sdk_text.startswith(
        "operation error EC2: DescribeInstances, exceeded maximum number of attempts, 3, "
        "https response error StatusCode: 503"
    )
    t.quota = (0, 5)
    assert t.sdk_text == (
        "operation error EC2: DescribeInstances, failed to get rate limit token, "
        "retry quota exceeded, 0 available, 5 requested"
    )


class _Flaky(EC2Api):
    """EC2Api whose calls answer from a script instead of the network."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__("http://127.0.0.1:9", "us-west-2", qps=0, sleep=self._sleep_)
        self.answers = answers
        self.slept: list[float] = []
        self.calls = 0

    def _sleep_(self, s: float) -> None:
        self.slept.append(s)

    def _call_once(self, action: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        a = self.answers.pop(0)
        if isinstance(a, EC2Error):
            raise a
        return dict(a)


def test_call_retries_throttling_twice_then_gives_up() -> None:
    throttle = [EC2Error("DescribeSubnets", "RequestLimitExceeded", "x", status=503) for _ in "abc"]
    api = _Flaky(list(throttle))
    with pytest.raises(EC2Error) as e:
        api.call("DescribeSubnets")
    assert api.calls == 3 and len(api.slept) == 2
    assert e.value.attempts == 3 and "exceeded maximum number of attempts, 3" in e.value.sdk_text


def test_call_does_not_retry_a_client_error_and_refunds_on_success() -> None:
    api = _Flaky([EC2Error("AssignPrivateIpAddresses", "InsufficientCidrBlocks", "x")])
    with pytest.raises(EC2Error):
        api.call("AssignPrivateIpAddresses")
    assert api.calls == 1 and api.slept == []
    api = _Flaky([EC2Error("X", "InternalError", "x", status=500), {"ok": 1}])
    assert api.call("X") == {"ok": 1}
    assert api.retryer.quota.remaining == 500  # the retry's 5 came back


def test_assign_polls_describe_network_interfaces_until_shown() -> None:
    shown_later = {
        "NetworkInterfaces": [
            {"NetworkInterfaceId": "eni-1", "PrivateIpAddresses": [], "Ipv4Prefixes": []}
        ]
    }
    shown = {
        "NetworkInterfaces": [
            {
                "NetworkInterfaceId": "eni-1",
                "PrivateIpAddresses": [],
                "Ipv4Prefixes": [{"Ipv4Prefix": "10.0.0.16/28"}],
            }
        ]
    }
    api = _Flaky([{"AssignedIpv4Prefixes": [{"Ipv4Prefix": "10.0.0.16/28"}]}, shown_later, shown])
    assert api.assign("eni-1", 1, prefixes=True) == ["10.0.0.16/28"]
    assert api.calls == 3
    assert len(api.slept) == 1 and 0.25 <= api.slept[0] <= 0.25 * 1.1
