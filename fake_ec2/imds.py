"""The EC2 instance metadata service (IMDSv2) routes the real controller reads.

The upstream VPC Resource Controller asks IMDS for its region and its account id before
it makes any EC2 call (docs/upstream-controller.md), through the AWS SDK for Go v2's
imds client: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
(the answer must carry the TTL back in a header, or the SDK refuses the token), then
GETs with ``X-aws-ec2-metadata-token``. fake_ec2 serves them on its own address, so
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` is simply fake_ec2's URL.

Tokens are required (``HttpTokens=required``, the default of current EC2 launch
templates): a GET without a live token answers 401, as IMDS does.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PREFIX = "/latest/"
TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL_S = 21600  # IMDS refuses longer tokens (and the SDK asks for exactly this)
DEFAULT_ACCOUNT = "123456789012"  # moto's default account: the one fake_ec2's state is in
StartResponse = Callable[..., Any]


def _environ_header(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


@dataclass
class Identity:
    """The instance the controller believes it runs on (the identity document's fields)."""

    region: str
    account_id: str = DEFAULT_ACCOUNT
    availability_zone: str = ""
    instance_id: str = ""
    instance_type: str = "m5.large"
    private_ip: str = "127.0.0.1"
    image_id: str = "ami-00000000000000000"
    pending_time: str = "2026-01-01T00:00:00Z"  # RFC 3339: the SDK decodes it as time.Time

    @classmethod
    def for_seed(cls, region: str, seed: int) -> Identity:
        """A deterministic identity for fake_ec2 started with `seed`."""
        rng = random.Random(f"imds-{seed}")
        return cls(
            region=region,
            availability_zone=f"{region}a",
            instance_id="i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17)),
        )

    def document(self) -> dict[str, Any]:
        """The instance identity document (the keys IMDS returns)."""
        return {
            "accountId": self.account_id,
            "architecture": "x86_64",
            "availabilityZone": self.availability_zone,
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": self.image_id,
            "instanceId": self.instance_id,
            "instanceType": self.instance_type,
            "kernelId": None,
            "pendingTime": self.pending_time,
            "privateIp": self.private_ip,
            "ramdiskId": None,
            "region": self.region,
            "version": "2017-09-30",
        }

    def metadata(self) -> dict[str, str]:
        """meta-data paths (below /latest/meta-data/) and their text."""
        return {
            "placement/region": self.region,
            "placement/availability-zone": self.availability_zone,
            "instance-id": self.instance_id,
            "instance-type": self.instance_type,
            "local-ipv4": self.private_ip,
        }


@dataclass
class Imds:
    """WSGI app for the /latest/ routes: tokens, meta-data, the identity document."""

    identity: Identity
    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, body, headers = self.answer(environ)
        out = body.encode()
        start_response(
            status,
            [("Content-Type", "text/plain"), ("Content-Length", str(len(out))), *headers],
        )
        return [out]

    def answer(self, environ: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
        """(status line, body, extra headers) for one request."""
        with self._lock:
            self.requests += 1
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == TOKEN_PATH:
            if method != "PUT":
                return "405 Method Not Allowed", "", [("Allow", "OPTIONS, PUT")]
            return self._token(environ)
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "", [("Allow", "OPTIONS, GET, HEAD")]
        if not self._valid(environ.get(_environ_header(TOKEN_HEADER), "")):
            return "401 Unauthorized", "", []
        if path == "/latest/dynamic/instance-identity/document":
            return "200 OK", json.dumps(self.identity.document(), indent=2), []
        meta = self.identity.metadata()
        if path.startswith("/latest/meta-data/"):
            key = path[len("/latest/meta-data/") :]
            if key.rstrip("/") in meta:  # IMDS serves a leaf with a trailing slash too
                return "200 OK", meta[key.rstrip("/")], []
            listing = _listing(meta, key)
            if listing:
                return "200 OK", listing, []
        return "404 Not Found", "Not Found", []

    def _token(self, environ: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
        if environ.get("HTTP_X_FORWARDED_FOR"):
            # IMDS refuses token requests that went through a proxy.
            return "403 Forbidden", "", []
        raw = environ.get(_environ_header(TTL_HEADER), "")
        try:
            ttl = int(raw)
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= MAX_TTL_S:
            return "400 Bad Request", "", []
        token = secrets.token_urlsafe(40)
        now = self.clock()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + ttl
        return "200 OK", token, [(TTL_HEADER, str(ttl))]

    def _valid(self, token: str) -> bool:
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > self.clock()


def _listing(meta: dict[str, str], key: str) -> str:
    """The directory listing IMDS gives for a path prefix ('' = the meta-data root)."""
    prefix = key.rstrip("/") + "/" if key else ""
    names = sorted(
        {
            k[len(prefix) :].split("/")[0] + ("/" if "/" in k[len(prefix) :] else "")
            for k in meta
            if k.startswith(prefix)
        }
    )
    return "\n".join(names)
