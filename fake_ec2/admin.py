"""Client for the fake_ec2 admin API (``/_ekswin/...``): standard library only.

>>> admin = AdminClient("http://127.0.0.1:5555")      # doctest: +SKIP
>>> admin.set_faults({"actions": {"AssignPrivateIpAddresses": {"throttle_rate": 0.5}}})
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# What fake_ec2's server requires of an admin request (fake_ec2.server.admin_refusal);
# kept here too so this client stays standard library only.
ADMIN_HEADER = "X-Ekswin-Admin"
JSON = "application/json"


class AdminError(RuntimeError):
    """The admin API refused a request (HTTP status and its error text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"fake_ec2 admin API answered {status}: {message}")
        self.status = status


class AdminClient:
    """Talks to one fake_ec2 server's admin API."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self.base_url}/_ekswin/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": JSON, ADMIN_HEADER: "1"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                text = json.loads(text).get("error", text)
            raise AdminError(err.code, text) from None

    def set_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Merge faults: ``{"actions": {Action: {latency_ms, throttle_rate, bucket:
        {capacity, refill_per_s}, error: {code, times, message}}}, "profile": "realistic",
        "time_scale": 1.0, "seed": N}``. Returns the resulting plan."""
        return self._call("POST", "faults", spec)  # type: ignore[no-any-return]

    def clear_faults(self) -> dict[str, Any]:
        """Remove every fault."""
        return self._call("DELETE", "faults")  # type: ignore[no-any-return]

    def faults(self) -> dict[str, Any]:
        """The current fault plan."""
        return self._call("GET", "faults")  # type: ignore[no-any-return]

    def set_seed(self, seed: int) -> None:
        """Restart the fault RNG from ``seed``."""
        self._call("POST", "seed", {"seed": seed})

    def fragment(
        self, subnet: str, every: int = 16, offset: int = 0, cidr: str | None = None
    ) -> dict[str, Any]:
        """Occupy one address in every ``every``-block of ``subnet`` (or of its range
        ``cidr``) at ``offset``."""
        body: dict[str, Any] = {"subnet": subnet, "every": every, "offset": offset}
        if cidr is not None:
            body["cidr"] = cidr
        return self._call("POST", "fragment", body)  # type: ignore[no-any-return]

    def unfragment(self, subnet: str, cidr: str | None = None) -> dict[str, Any]:
        """Free what fragmentation holds in ``subnet`` (or in its range ``cidr``)."""
        body: dict[str, Any] = {"subnet": subnet}
        if cidr is not None:
            body["cidr"] = cidr
        return self._call("DELETE", "fragment", body)  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        """Subnets, ENIs with their IPs and prefixes, reservations, faults."""
        return self._call("GET", "state")  # type: ignore[no-any-return]

    def reset(self, seed: int | None = None) -> None:
        """Clear moto's EC2 state, ours, the faults and the request log."""
        self._call("POST", "reset", {} if seed is None else {"seed": seed})

    def requests(
        self, since: int = 0, action: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Logged EC2 requests with ``seq > since``: action, params, status, code, latency."""
        out = self._call(
            "GET", "requests", query={"since": since, "action": action, "limit": limit}
        )
        return out["requests"]  # type: ignore[no-any-return]

    def healthy(self) -> bool:
        """True when the server answers."""
        try:
            return bool(self._call("GET", "health").get("ok"))
        except (OSError, AdminError):
            return False
