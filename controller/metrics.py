"""Prometheus metrics and the health/readiness/metrics HTTP server of the controller.

Every collector lives in a registry the caller passes in (never the process-global one),
so two controllers can run in one test. Names, types and labels are the real binary's
where it has the metric (aws/amazon-vpc-resource-controller-k8s @ b8d42511: the EC2
wrapper's counters and `aws_nw_call_latency` summary, pkg/aws/ec2/api/wrapper.go; the
condition gauges; the pod-annotate and advertise counters; controller-runtime v0.20.4's
webhook metrics; its `leader_election_master_status`), and /metrics is written as the Go
client writes it (`controller.exposition`: no `_total` the Python client would add, no
`_created`). The per-node pool gauges, the allocation latency and the EC2 error-code
counter are this emulation's own. See docs/controller-webhook.md for the list.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from controller import exposition
from controller.httpd import ReplyHandler

log = logging.getLogger(__name__)

# (path, query) -> (status, JSON body), or None when the path is not the resolver's.
JsonResolver = Callable[[str, dict[str, list[str]]], tuple[int, Any] | None]

POOL_STATES = ("used", "warm", "cooling", "pending_create", "pending_delete")
# From pod bound to IP annotated: sub-second when warm, up to minutes when exhausted.
ALLOCATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# controller-runtime's webhook latency histogram takes client_golang's DefBuckets.
WEBHOOK_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Counters whose upstream name itself ends in `_total` (the Python family drops it).
GO_TOTAL_COUNTERS = frozenset({"controller_runtime_webhook_requests"})


@dataclass(frozen=True)
class Ec2Op:
    """One method of the real controller's EC2 wrapper: its latency label and counters."""

    api: str | None  # aws_nw_call_latency's `api` label (None: the wrapper times it not)
    calls: str
    errors: str


# wrapper.go @ b8d42511: per EC2 action, the `api` label and the counter pair it bumps.
EC2_OPS: Mapping[str, Ec2Op] = {
    "DescribeInstances": Ec2Op(
        "describe_instances",
        "ec2_describe_instances_api_req_count",
        "ec2_describe_instances_api_err_count",
    ),
    "CreateNetworkInterface": Ec2Op(
        "create_network_interface",
        "ec2_create_network_interface_api_req_count",
        "ec2_create_network_interface_api_err_count",
    ),
    "AttachNetworkInterface": Ec2Op(
        "attach_network_interface",
        "ec2_attach_network_interface_api_req_count",
        "ec2_attach_network_interface_api_err_count",
    ),
    "DeleteNetworkInterface": Ec2Op(
        "delete_network_interface",
        "ec2_delete_network_interface_api_req_count",
        "ec2_delete_network_interface_api_err_count",
    ),
    "DetachNetworkInterface": Ec2Op(
        "detach_network_interface",
        "ec2_detach_network_interface_api_req_count",
        "ec2_detach_network_interface_api_err_count",
    ),
    "DescribeNetworkInterfaces": Ec2Op(
        "describe_network_interface",
        "ec2_describe_network_interface_api_req_count",
        "ec2_describe_network_interface_api_err_count",
    ),
    # The wrapper's paginated DescribeNetworkInterfaces (the ENI cleaner's).
    "DescribeNetworkInterfacesPages": Ec2Op(
        "describe_network_interfaces_pages",
        "ec2_describe_network_interfaces_pages_api_call_count",
        "ec2_describe_network_interfaces_pages_api_err_count",
    ),
    "AssignPrivateIpAddresses": Ec2Op(
        "assign_private_ip",
        "ec2_assign_private_ip_api_req_count",
        "ec2_assign_private_ip_api_err_count",
    ),
    "UnassignPrivateIpAddresses": Ec2Op(
        "unassign_private_ip",
        "ec2_unassign_private_ip_api_req_count",
        "ec2_unassign_private_ip_api_err_count",
    ),
    "CreateTags": Ec2Op(
        "create_tags",
        "ec2_tag_network_interface_api_req_count",
        "ec2_tag_network_interface_api_err_count",
    ),
    "DescribeSubnets": Ec2Op(
        "describe_subnets",
        "ec2_describe_subnets_api_req_count",
        "ec2_describe_subnets_api_err_count",
    ),
    "DescribeTrunkInterfaceAssociations": Ec2Op(
        "describe_trunk_association",
        "ec2_describe_trunk_network_interface_association_api_call_count",
        "ec2_describe_trunk_network_interface_association_api_err_count",
    ),
    "AssociateTrunkInterface": Ec2Op(
        "associate_trunk_to_branch",
        "ec2_associate_trunk_interface_api_req_count",
        "ec2_associate_trunk_interface_api_err_count",
    ),
    "ModifyNetworkInterfaceAttribute": Ec2Op(
        "modify_network_interface_attribute",
        "ec2_modify_network_interface_attribute_api_call_count",
        "ec2_modify_network_interface_attribute_api_err_count",
    ),
    "CreateNetworkInterfacePermission": Ec2Op(
        None,
        "ec2_create_network_interface_permission_api_call_count",
        "ec2_create_network_interface_permission_api_err_count",
    ),
    "DisassociateTrunkInterface": Ec2Op(
        "disassociate_branch_from_trunk",
        "ec2_disassociate_trunk_interface_api_req_count",
        "ec2_disassociate_trunk_interface_api_err_count",
    ),
}


def _count(params: Mapping[str, Any], key: str) -> int:
    value = params.get(key)
    if isinstance(value, list | tuple):
        return len(value)
    return int(value or 0)


class ControllerMetrics:
    """The controller's collectors, registered in `registry`.

    Attributes used by the runtime: `pool_size` (node, state), `ec2_calls` / `ec2_errors`
    (unlabelled), `ec2_op_calls` / `ec2_op_errors` (per action, unlabelled each),
    `ec2_latency` (api, milliseconds), `ec2_error_codes` (action, code),
    `allocation_latency`, `windows_ipam_enabled`, `windows_prefix_delegation_enabled`,
    `annotate_pod_calls` / `annotate_pod_errors` (annotate_key), `advertise_resource_calls`
    / `advertise_resource_errors` (resource_name), `leader` (name).
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
        self.ec2_calls = Counter("ec2_api_req_count", "EC2 API calls made", registry=r)
        self.ec2_errors = Counter("ec2_api_err_count", "EC2 API calls that failed", registry=r)
        self.ec2_op_calls: dict[str, Counter] = {}
        self.ec2_op_errors: dict[str, Counter] = {}
        for action, op in EC2_OPS.items():
            self.ec2_op_calls[action] = Counter(op.calls, f"{action} calls made", registry=r)
            self.ec2_op_errors[action] = Counter(
                op.errors, f"{action} calls that failed", registry=r
            )
        self.assigned_ips = Counter(
            "num_assigned_private_ip_address",
            "Secondary IPv4 addresses asked for (SecondaryPrivateIpAddressCount)",
            registry=r,
        )
        self.assigned_prefixes = Counter(
            "num_assigned_ipv4_prefixes", "IPv4 prefixes asked for (Ipv4PrefixCount)", registry=r
        )
        self.unassigned_ips = Counter(
            "num_unassigned_private_ip_address",
            "Secondary IPv4 addresses released",
            registry=r,
        )
        self.unassigned_prefixes = Counter(
            "num_unassigned_ipv4_prefixes", "IPv4 prefixes released", registry=r
        )
        self.ec2_latency = Summary(
            "aws_nw_call_latency",
            "EC2 API call latency in whole milliseconds, retries included, by api",
            ["api"],
            registry=r,
        )
        self.ec2_error_codes = Counter(
            "ec2_api_err_code_count",
            "EC2 errors by action and EC2 error code",
            ["action", "code"],
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
            "1 when the ConfigMap sets enable-windows-ipam to true",
            registry=r,
        )
        self.windows_prefix_delegation_enabled = Gauge(
            "windows_prefix_delegation_enabled",
            "1 when the ConfigMap sets enable-windows-prefix-delegation to true",
            registry=r,
        )
        self.annotate_pod_calls = Counter(
            "annotate_pod_request_call_count",
            "Pod annotate requests, by annotation key",
            ["annotate_key"],
            registry=r,
        )
        self.annotate_pod_errors = Counter(
            "annotate_pod_request_err_count",
            "Pod annotate requests that failed, by annotation key",
            ["annotate_key"],
            registry=r,
        )
        self.advertise_resource_calls = Counter(
            "advertise_resource_request_call_count",
            "Node capacity patches, by extended resource",
            ["resource_name"],
            registry=r,
        )
        self.advertise_resource_errors = Counter(
            "advertise_resource_request_err_count",
            "Node capacity patches that failed, by extended resource",
            ["resource_name"],
            registry=r,
        )
        self.leader = Gauge(
            "leader_election_master_status",
            "1 while this process holds the named lease, else 0",
            ["name"],
            registry=r,
        )

    def observe_ec2_call(
        self,
        action: str,
        seconds: float,
        code: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """One EC2 call as the wrapper counts it: once per SDK call (its retries inside),
        latency in whole ms, the asked-for IP/prefix counts, and the error if it failed."""
        params = params or {}
        op = EC2_OPS.get(action)
        if op is not None and op.api is not None:
            self.ec2_latency.labels(api=op.api).observe(float(int(seconds * 1000)))
        self.ec2_calls.inc()
        if op is not None:
            self.ec2_op_calls[action].inc()
        if action == "AssignPrivateIpAddresses":
            if ips := _count(params, "SecondaryPrivateIpAddressCount"):
                self.assigned_ips.inc(ips)
            elif prefixes := _count(params, "Ipv4PrefixCount"):
                self.assigned_prefixes.inc(prefixes)
        elif action == "UnassignPrivateIpAddresses":
            if ips := _count(params, "PrivateIpAddresses"):
                self.unassigned_ips.inc(ips)
            elif prefixes := _count(params, "Ipv4Prefixes"):
                self.unassigned_prefixes.inc(prefixes)
        if code is not None:
            self.ec2_errors.inc()
            if op is not None:
                self.ec2_op_errors[action].inc()
            self.ec2_error_codes.labels(action=action, code=code).inc()

    def observe_annotate(self, key: str, ok: bool) -> None:
        """client_wrapper.go AnnotatePod: a call, and an error when it failed."""
        self.annotate_pod_calls.labels(annotate_key=key).inc()
        if not ok:
            self.annotate_pod_errors.labels(annotate_key=key).inc()

    def observe_advertise(self, resource: str, ok: bool) -> None:
        """k8s wrapper AdvertiseCapacityIfNotSet: a patch (only when the capacity differs),
        and an error when it failed."""
        self.advertise_resource_calls.labels(resource_name=resource).inc()
        if not ok:
            self.advertise_resource_errors.labels(resource_name=resource).inc()

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
    """controller-runtime v0.20.4's webhook metrics (pkg/webhook/internal/metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "controller_runtime_webhook_requests_total",
            "Admission requests by webhook path and HTTP status code",
            ["webhook", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Latency of processing admission requests",
            ["webhook"],
            buckets=WEBHOOK_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Admission requests being served",
            ["webhook"],
            registry=registry,
        )


def metrics_text(registry: CollectorRegistry) -> bytes:
    """/metrics as the Go client writes it."""
    return exposition.render(registry, GO_TOTAL_COUNTERS)


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
            self._send(200, metrics_text(self.server.registry), exposition.CONTENT_TYPE)
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
