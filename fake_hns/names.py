"""Which names fake_hns accepts, and how much of a caller's text its errors carry.

A host is a Kubernetes node, so its name follows the node-name rule (a DNS-1123
subdomain). HNS object names (networks, endpoints) are free text to HNS; here they are
bounded and free of control characters, so that they can be logged and listed. Errors
quote at most `MAX_SHOWN` characters of a value and are at most `MAX_DETAILS` long:
gRPC carries them in headers, which clients cap (16 KiB by default) — a longer error
would reach the caller as RESOURCE_EXHAUSTED instead of the error itself.
"""

from __future__ import annotations

import re

MAX_HOST_NAME = 253  # Kubernetes node names: DNS-1123 subdomain
MAX_OBJECT_NAME = 256
MAX_SHOWN = 64
MAX_DETAILS = 1024
MAX_FAULT_MESSAGE = 512

_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

HOST_NAME_EXPECTED = (
    f"a Kubernetes node name: at most {MAX_HOST_NAME} lowercase letters, digits, '-' and "
    "'.', starting and ending with a letter or digit"
)


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """`value` quoted (repr), cut to `limit` characters with its full length noted."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def bounded(text: str, limit: int = MAX_DETAILS) -> str:
    """`text` cut to `limit` characters (a marker says how long it was)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... (cut: {len(text)} characters)"


def metadata_text(text: str, limit: int = MAX_DETAILS) -> str:
    """`text` as a valid gRPC metadata value: printable ASCII (others as \\u escapes), bounded."""
    safe = "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode() for c in text)
    return bounded(safe, limit)


def check_host_name(name: str) -> None:
    """ValueError unless `name` is a valid node name."""
    if not name:
        raise ValueError("host: a node name is required")
    if len(name) > MAX_HOST_NAME or not _DNS1123_SUBDOMAIN.match(name):
        raise ValueError(f"host {shown(name)}: expected {HOST_NAME_EXPECTED}")


def check_object_name(field: str, name: str) -> None:
    """ValueError unless `name` (may be empty) is at most 256 characters without controls."""
    if len(name) > MAX_OBJECT_NAME:
        raise ValueError(f"{field} {shown(name)}: expected at most {MAX_OBJECT_NAME} characters")
    if _CONTROL.search(name):
        raise ValueError(f"{field} {shown(name)}: expected no control characters")
