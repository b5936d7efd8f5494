"""The API server's wire conventions shared by every client here: errors, paths, watches.

Standard library only (the exec'd CNI plugin imports it).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping


class ApiError(Exception):
    """A failed API call: HTTP status (0 when no answer came), the Status reason and
    message. ``str()`` is the message, as client-go prints a StatusError."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def status_error(status: int, body: bytes) -> ApiError:
    """The ApiError for a non-2xx answer: reason and message from its Status object,
    else the body text."""
    text = body.decode(errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return ApiError(status, text)
    return ApiError(status, str(data.get("message") or text), str(data.get("reason") or ""))


def pod_path(namespace: str, name: str = "") -> str:
    """``/api/v1/namespaces/<namespace>/pods[/<name>]`` with both parts quoted."""
    base = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods"
    return f"{base}/{urllib.parse.quote(name)}" if name else base


def watch_query(
    resource_version: str,
    timeout_s: int,
    *,
    bookmarks: bool,
    query: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`query` plus the parameters of a watch from `resource_version` that the server
    ends after `timeout_s` (with or without BOOKMARK events)."""
    return {
        **(query or {}),
        "watch": "1",
        "resourceVersion": resource_version,
        "timeoutSeconds": str(timeout_s),
        "allowWatchBookmarks": "true" if bookmarks else "false",
    }
