"""A thin, thread-safe Kubernetes REST client on raw JSON (urllib3 + the kubeconfig's TLS).

The agent drives hundreds of nodes; decoding every watch event into kubernetes-client
model objects costs more than the work itself, so it speaks JSON directly. TLS and
credentials come from the same kubeconfig loader the CNI plugin uses.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3

from harness.cni.kubeapi import KubeClient


class ApiError(Exception):
    """A non-2xx answer: status, reason and the API server's message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class RestClient:
    """JSON calls against one API server with one identity."""

    def __init__(self, kubeconfig: str, maxsize: int = 4) -> None:
        kc = KubeClient.from_kubeconfig(kubeconfig)
        self.server = kc.server
        self.headers = dict(kc.headers)
        self.headers["User-Agent"] = "ekswin-node-agent"
        self.pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=maxsize,
            block=False,
            ssl_context=kc.context,
            retries=urllib3.Retry(total=3, connect=3, read=0, status=0, backoff_factor=0.2),
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """One call; returns the decoded JSON body or raises ApiError."""
        url = self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        resp = self.pool.request(
            method,
            url,
            body=data,
            headers=headers,
            timeout=urllib3.Timeout(connect=5.0, read=timeout),
        )
        payload = resp.data
        if resp.status >= 300:
            try:
                err = json.loads(payload)
                raise ApiError(resp.status, str(err.get("reason", "")), str(err.get("message", "")))
            except ValueError:
                raise ApiError(resp.status, "", payload.decode(errors="replace")) from None
        return json.loads(payload) if payload else {}

    def get(self, path: str, **kw: Any) -> dict[str, Any]:
        """GET."""
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> dict[str, Any]:
        """POST (create)."""
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> dict[str, Any]:
        """PUT (replace)."""
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, *, strategic: bool = True, **kw: Any) -> dict[str, Any]:
        """PATCH: strategic merge by default, else JSON merge patch."""
        ct = (
            "application/strategic-merge-patch+json"
            if strategic
            else "application/merge-patch+json"
        )
        return self.request("PATCH", path, body, content_type=ct, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        """DELETE (with optional DeleteOptions)."""
        return self.request("DELETE", path, body, **kw)

    def list_and_watch(
        self, path: str, query: Mapping[str, str] | None = None, timeout_s: int = 300
    ) -> tuple[list[dict[str, Any]], str]:
        """LIST: items and the list's resourceVersion to start a watch from."""
        data = self.get(path, query=query, timeout=60.0)
        return list(data.get("items") or []), str(data["metadata"]["resourceVersion"])

    def watch(
        self,
        path: str,
        resource_version: str,
        query: Mapping[str, str] | None = None,
        timeout_s: int = 300,
    ) -> Iterator[dict[str, Any]]:
        """Stream watch events ({"type", "object"}) until the server closes the watch."""
        q = dict(query or {})
        q.update(
            {
                "watch": "1",
                "resourceVersion": resource_version,
                "timeoutSeconds": str(timeout_s),
                "allowWatchBookmarks": "true",
            }
        )
        url = self.server + path + "?" + urllib.parse.urlencode(q)
        resp = self.pool.request(
            "GET",
            url,
            headers=self.headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=timeout_s + 30),
        )
        try:
            if resp.status >= 300:
                raise ApiError(resp.status, "", resp.read().decode(errors="replace"))
            buf = b""
            for chunk in resp.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()
