"""What the AWS SDK for Go v2 (which the real controller links) does with a failed call.

Plain Python over plain data, no I/O: the standard retryer's decisions (which errors it
retries, how long it waits, its retry-token quota) and how the SDK spells an error's
text. The real controller's error checks are string tests on that text, so the text is
behaviour, not cosmetics. Sources (docs/fidelity.md cites the lines):
aws-sdk-go-v2 aws/retry/standard.go, jitter_backoff.go, middleware.go, aws/ratelimit;
smithy-go errors.go (OperationError, GenericAPIError); aws-sdk-go-v2
aws/transport/http/response_error.go.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

DEFAULT_MAX_ATTEMPTS = 3  # standard.go DefaultMaxAttempts (the controller sets MaxRetries 3)
DEFAULT_MAX_BACKOFF_S = 20.0  # standard.go DefaultMaxBackoff
RETRY_RATE_TOKENS = 500  # standard.go DefaultRetryRateTokens
RETRY_COST = 5  # DefaultRetryCost
RETRY_TIMEOUT_COST = 10  # DefaultRetryTimeoutCost
NO_RETRY_INCREMENT = 1  # DefaultNoRetryIncrement

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
RETRYABLE_CODES = frozenset({"RequestTimeout", "RequestTimeoutException"})
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


@dataclass(frozen=True)
class Failure:
    """One failed attempt as the retryer sees it: an API answer or a transport error."""

    code: str = ""  # API error code ("" for a transport error)
    status: int = 0  # HTTP status (0: no response)
    connection: bool = False  # connection refused/reset, read timeout
    timeout: bool = False  # a timeout (costs RETRY_TIMEOUT_COST)


def is_retryable(f: Failure) -> bool:
    """DefaultRetryables: connection errors, 500/502/503/504, timeout and throttle codes."""
    return (
        f.connection
        or f.status in RETRYABLE_STATUS
        or f.code in RETRYABLE_CODES
        or f.code in THROTTLE_CODES
    )


def is_throttle(code: str) -> bool:
    """DefaultThrottleErrorCodes membership."""
    return code in THROTTLE_CODES


class RetryQuota:
    """aws/ratelimit TokenRateLimit: a bucket of retry tokens (thread-safe)."""

    def __init__(self, tokens: int = RETRY_RATE_TOKENS) -> None:
        self.capacity = tokens
        self._tokens = tokens
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """Tokens left."""
        with self._lock:
            return self._tokens

    def take(self, cost: int) -> bool:
        """GetToken: deduct `cost`; False (QuotaExceededError) when fewer are left."""
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def refund(self, n: int) -> None:
        """AddTokens / a released retry token: give `n` back, never above the capacity."""
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + n)


class StandardRetryer:
    """retry.NewStandard with MaxAttempts 3 (the controller's EC2 client).

    `backoff_scale` shortens the waits for the harness's fast timing profile only; at
    1.0 every figure is the SDK's. `rng` makes the jitter reproducible from a seed (the
    SDK draws it from crypto/rand).
    """

    def __init__(
        self,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        backoff_scale: float = 1.0,
        quota: RetryQuota | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self.backoff_scale = backoff_scale
        self.quota = quota or RetryQuota()
        self._rng = rng or random.Random(0)
        self._rng_lock = threading.Lock()
        # NewExponentialJitterBackoff: attempts past log2(max backoff in s) wait the cap.
        self._cap_after = int(math.log2(max_backoff_s)) if max_backoff_s >= 1 else 0

    def uniform(self) -> float:
        """A draw in [0, 1) from the seeded source (shared by every thread)."""
        with self._rng_lock:
            return self._rng.random()

    def delay(self, attempt: int) -> float:
        """ExponentialJitterBackoff.BackoffDelay: rand[0,1) * 2^attempt s, or the cap."""
        if attempt > self._cap_after:
            base = self.max_backoff_s
        else:
            base = self.uniform() * float(1 << attempt)
        return base * self.backoff_scale

    def retry_cost(self, f: Failure) -> int:
        """GetRetryToken's cost: 10 for a timeout, else 5."""
        return RETRY_TIMEOUT_COST if f.timeout else RETRY_COST


@dataclass(frozen=True)
class Decision:
    """What the retry middleware does after attempt `attempt` failed."""

    retry: bool
    delay_s: float = 0.0
    cost: int = 0
    why: str = ""  # "not retryable" / "max attempts" / "quota exceeded" when not retrying
    available: int = 0  # tokens left when the quota refused


def decide(r: StandardRetryer, attempt: int, f: Failure) -> Decision:
    """middleware.go handleAttempt: retryable? attempts left? a retry token? then the delay."""
    if not is_retryable(f):
        return Decision(False, why="not retryable")
    if r.max_attempts > 0 and attempt >= r.max_attempts:
        return Decision(False, why="max attempts")
    cost = r.retry_cost(f)
    if not r.quota.take(cost):
        return Decision(False, cost=cost, why="quota exceeded", available=r.quota.remaining)
    return Decision(True, delay_s=r.delay(attempt), cost=cost)


# ---------------------------------------------------------------------------- error text
def api_error_text(code: str, message: str) -> str:
    """smithy-go GenericAPIError.Error()."""
    return f"api error {code}: {message}"


def response_error_text(status: int, request_id: str, inner: str) -> str:
    """aws-sdk-go-v2 transport/http ResponseError.Error()."""
    return f"https response error StatusCode: {status}, RequestID: {request_id}, {inner}"


def operation_error_text(service: str, operation: str, inner: str) -> str:
    """smithy-go OperationError.Error()."""
    return f"operation error {service}: {operation}, {inner}"


def max_attempts_text(attempts: int, inner: str) -> str:
    """aws/retry MaxAttemptsError.Error()."""
    return f"exceeded maximum number of attempts, {attempts}, {inner}"


def quota_exceeded_text(available: int, requested: int) -> str:
    """GetRetryToken's wrap of ratelimit QuotaExceededError."""
    return (
        f"failed to get rate limit token, retry quota exceeded, {available} available, "
        f"{requested} requested"
    )
