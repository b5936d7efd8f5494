"""Every verb on the API server as raw JSON, over a urllib3 connection pool (thread-safe).

The node agent's client (node registration, leases, pod status, Events) and
kube-proxy's: credentials from ``harness.kube.config``, errors as ``ApiError`` as in
the standard-library ``KubeClient`` the CNI plugin uses.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3

from harness.kube import config as kubeconfig
from harness.kube.api import status_error, watch_query


class RestClient:
    """JSON calls against one API server with one identity."""

    def __init__(self, kubeconfig_path: str, maxsize: int = 4) -> None:
        cfg = kubeconfig.load(kubeconfig_path)
        self.server = cfg.server
        self.config = cfg
        self.pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=maxsize,
            block=False,
            ssl_context=cfg.ssl_context,
            retries=urllib3.Retry(total=3, connect=3, read=0, status=0, backoff_factor=0.2),
        )

    def headers(self) -> dict[str, str]:
        """The headers of one request (the current token, when it is refreshed)."""
        return {**self.config.request_headers(), "User-Agent": "ekswin-node-agent"}

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
        headers = self.headers()
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
        if resp.status >= 300:
            raise status_error(resp.status, resp.data)
        return json.loads(resp.data) if resp.data else {}

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

    def list_objects(
        self, path: str, query: Mapping[str, str] | None = None
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
        q = watch_query(resource_version, timeout_s, bookmarks=True, query=query)
        resp = self.pool.request(
            "GET",
            self.server + path + "?" + urllib.parse.urlencode(q),
            headers=self.headers(),
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=timeout_s + 30),
        )
        try:
            if resp.status >= 300:
                raise status_error(resp.status, resp.read())
            buf = b""
            for chunk in resp.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()
