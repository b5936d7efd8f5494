"""Prometheus metrics and the health/readiness/metrics HTTP server of the controller.

Every collector lives in a registry the caller passes in (never the process-global one),
so two controllers can run in one test. Names follow the real controller where it has
the metric (aws/amazon-vpc-resource-controller-k8s: ec2_api_req_count, aws_nw_call_latency,
windows_ipam_enabled, ...; controller-runtime's webhook metrics; client-go's
leader_election_master_status); the per-node pool gauges and the allocation latency are
this emulation's own. The Python client exposes counters with a `_total` suffix.
See docs/controller-webhook.md for the list.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import urllib.parse
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from controller.httpd import ReplyHandler

log = logging.getLogger(__name__)

# (path, query) -> (status, JSON body), or None when the path is not the resolver's.
JsonResolver = Callable[[str, dict[str, list[str]]], tuple[int, Any] | None]

POOL_STATES = ("used", "warm", "cooling", "pending_create", "pending_delete")
# EC2 calls take milliseconds to seconds (retries, throttling): buckets cover both.
EC2_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# From pod bound to IP annotated: sub-second when warm, up to minutes when exhausted.
ALLOCATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WEBHOOK_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ControllerMetrics:
    """The controller's collectors, registered in `registry`.

    Attributes used by the runtime: `pool_size` (node, state), `ec2_calls` / `ec2_errors` /
    `ec2_latency` (action), `ec2_error_codes` (action, code), `allocation_latency`,
    `windows_ipam_enabled`, `windows_prefix_delegation_enabled`, `annotate_pod_calls` /
    `annotate_pod_errors` (annotate_key), `advertise_resource_calls` /
    `advertise_resource_errors` (resource_name), `leader` (name).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.pool_size = Gauge(
            "windows_ip_pool_size",
            "IPv4 addresses in a node's warm pool by state "
            "(used, warm, cooling, pending_create, pending_delete)",
            ["node", "state"],
            registry=r,
        )
        self.ec2_calls = Counter(
            "ec2_api_req_count", "The number of calls made to ec2", ["action"], registry=r
        )
        self.ec2_errors = Counter(
            "ec2_api_err_count",
            "The number of errors encountered while interacting with ec2",
            ["action"],
            registry=r,
        )
        self.ec2_error_codes = Counter(
            "ec2_api_err_code_count",
            "EC2 errors by action and EC2 error code",
            ["action", "code"],
            registry=r,
        )
        self.ec2_latency = Histogram(
            "aws_nw_call_latency_seconds",
            "EC2 API call latency in seconds, by action",
            ["action"],
            buckets=EC2_LATENCY_BUCKETS,
            registry=r,
        )
        self.allocation_latency = Histogram(
            "windows_ip_allocation_latency_seconds",
            "Time from a Windows pod seen bound to its IP annotation",
            buckets=ALLOCATION_BUCKETS,
            registry=r,
        )
        self.windows_ipam_enabled = Gauge(
            "windows_ipam_enabled",
            "Binary value to indicate whether user has set enable-windows-ipam to true",
            registry=r,
        )
        self.windows_prefix_delegation_enabled = Gauge(
            "windows_prefix_delegation_enabled",
            "Binary value to indicate whether user has set enable-windows-prefix-delegation "
            "to true",
            registry=r,
        )
        self.annotate_pod_calls = Counter(
            "annotate_pod_request_call_count",
            "The number of request to annotate pod object",
            ["annotate_key"],
            registry=r,
        )
        self.annotate_pod_errors = Counter(
            "annotate_pod_request_err_count",
            "The number of request that failed to annotate the pod",
            ["annotate_key"],
            registry=r,
        )
        self.advertise_resource_calls = Counter(
            "advertise_resource_request_call_count",
            "The number of request to advertise extended resource",
            ["resource_name"],
            registry=r,
        )
        self.advertise_resource_errors = Counter(
            "advertise_resource_request_err_count",
            "The number of request that failed to advertise extended resource",
            ["resource_name"],
            registry=r,
        )
        self.leader = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, "
            "0 indicates backup, 1 indicates master. 'name' is the string used to "
            "identify the lease.",
            ["name"],
            registry=r,
        )

    def observe_ec2_call(self, action: str, seconds: float, code: str | None = None) -> None:
        """Count one EC2 call (and its error code, if it failed) and record its latency."""
        self.ec2_calls.labels(action=action).inc()
        self.ec2_latency.labels(action=action).observe(seconds)
        if code is not None:
            self.ec2_errors.labels(action=action).inc()
            self.ec2_error_codes.labels(action=action, code=code).inc()

    def set_pool(self, node: str, counts: dict[str, int]) -> None:
        """Set a node's pool gauges from {state: count}; unknown states are an error."""
        for state, value in counts.items():
            if state not in POOL_STATES:
                raise ValueError(f"pool state {state!r}: expected one of {POOL_STATES}")
            self.pool_size.labels(node=node, state=state).set(value)

    def remove_node(self, node: str) -> None:
        """Drop every pool series of a deleted node."""
        for state in POOL_STATES:
            with contextlib.suppress(KeyError):
                self.pool_size.remove(node, state)


class WebhookMetrics:
    """controller-runtime's webhook metrics (the real controller serves these)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "controller_runtime_webhook_requests",
            "Total number of admission requests by HTTP status code.",
            ["webhook", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            ["webhook"],
            buckets=WEBHOOK_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            ["webhook"],
            registry=registry,
        )


class _HealthHandler(ReplyHandler):
    protocol_version = "HTTP/1.1"
    server: _HealthHTTPServer

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path in ("/healthz", "/livez"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        elif path == "/readyz":
            try:
                ready = bool(self.server.ready())
            except Exception:  # a broken readiness check means "not ready", not a crash
                log.exception("readiness check failed")
                ready = False
            if ready:
                self._send(200, b"ok", "text/plain; charset=utf-8")
            else:
                self._send(503, b"not ready", "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif (found := self._json(path, urllib.parse.parse_qs(url.query))) is not None:
            code, body = found
            self._send(code, json.dumps(body, indent=1).encode(), "application/json")
        else:
            self._send(404, b"not found", "text/plain; charset=utf-8")

    def _json(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        resolve = self.server.json_routes
        if resolve is None:
            return None
        try:
            return resolve(path, query)
        except Exception as exc:  # a broken view is a 500 with the reason, not a dead server
            log.exception("GET %s failed", path)
            return 500, {"error": f"{type(exc).__name__}: {exc}"}

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health %s - %s", self.address_string(), format % args)


class _HealthHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        addr: tuple[str, int],
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        json_routes: JsonResolver | None,
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.json_routes = json_routes
        super().__init__(addr, _HealthHandler)


class HealthServer:
    """A running health/metrics server; see serve_health."""

    def __init__(self, httpd: _HealthHTTPServer) -> None:
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="health", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        host = str(self._httpd.server_address[0])
        return f"http://{host}:{self.port}"

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def serve_health(
    port: int,
    *,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    host: str = "127.0.0.1",
    json_routes: JsonResolver | None = None,
) -> HealthServer:
    """Serve /healthz (200 while alive), /readyz (200 if ready() else 503), /metrics, and
    whatever JSON paths `json_routes` answers (the controller's introspection).

    `port` 0 picks a free port; read it back from `.port`.
    """
    return HealthServer(_HealthHTTPServer((host, port), registry, ready, json_routes))
