"""A bounded, in-memory log of the EC2 requests the server answered."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One answered request: action, parameters, result code, HTTP status, latency and
    the access key that signed it."""

    seq: int
    time: float
    action: str
    params: dict[str, str]
    status: int
    code: str  # "OK" or the EC2 error code
    latency_ms: float
    access_key: str = ""  # who signed it (CloudTrail's userIdentity.accessKeyId)


class RequestLog:
    """The last ``capacity`` requests, with a monotonically increasing sequence number."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0

    def add(self, **fields: Any) -> RequestRecord:
        """Append a record (fields of :class:`RequestRecord` except ``seq``)."""
        with self._lock:
            self._seq += 1
            record = RequestRecord(seq=self._seq, **fields)
            self._records.append(record)
            return record

    def query(
        self, since: int = 0, action: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Records with ``seq > since`` (optionally of one action), oldest first."""
        with self._lock:
            rows = [
                r for r in self._records if r.seq > since and (action is None or r.action == action)
            ]
        if limit is not None:
            rows = rows[-limit:]
        return [asdict(r) for r in rows]

    def clear(self) -> None:
        """Forget every record (the sequence keeps counting)."""
        with self._lock:
            self._records.clear()
