"""controller.metrics: per-instance registries and the health/metrics HTTP server."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from controller.metrics import ControllerMetrics, serve_health


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_two_instances_in_one_process_do_not_share_state() -> None:
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    m1, m2 = ControllerMetrics(r1), ControllerMetrics(r2)
    m1.observe_ec2_call("AssignPrivateIpAddresses", 0.02)
    m1.observe_ec2_call("AssignPrivateIpAddresses", 0.5, "InsufficientCidrBlocks")
    m2.observe_ec2_call("DescribeInstances", 0.01)
    a = {"action": "AssignPrivateIpAddresses"}
    assert r1.get_sample_value("ec2_api_req_count_total", a) == 2
    assert r1.get_sample_value("ec2_api_err_count_total", a) == 1
    assert (
        r1.get_sample_value("ec2_api_err_code_count_total", {**a, "code": "InsufficientCidrBlocks"})
        == 1
    )
    assert r1.get_sample_value("aws_nw_call_latency_seconds_count", a) == 2
    assert r2.get_sample_value("ec2_api_req_count_total", a) is None
    assert r2.get_sample_value("ec2_api_req_count_total", {"action": "DescribeInstances"}) == 1


def test_pool_gauges_per_node_and_state_and_removal() -> None:
    reg = CollectorRegistry()
    m = ControllerMetrics(reg)
    m.set_pool("n1", {"used": 4, "warm": 3, "cooling": 1, "pending_create": 0})
    m.set_pool("n2", {"used": 1})
    assert reg.get_sample_value("windows_ip_pool_size", {"node": "n1", "state": "warm"}) == 3
    m.remove_node("n1")
    assert reg.get_sample_value("windows_ip_pool_size", {"node": "n1", "state": "used"}) is None
    assert reg.get_sample_value("windows_ip_pool_size", {"node": "n2", "state": "used"}) == 1
    with pytest.raises(ValueError, match="pool state 'free'"):
        m.set_pool("n2", {"free": 1})


def test_runtime_style_attribute_use() -> None:
    # The runtime drives the collectors directly (controller/__main__.py).
    reg = CollectorRegistry()
    m = ControllerMetrics(reg)
    m.pool_size.labels(node="n", state="pending_delete").set(2)
    m.allocation_latency.observe(0.3)
    m.ec2_errors.labels(action="X").inc()
    m.windows_ipam_enabled.set(1)
    m.leader.labels(name="cp-vpc-resource-controller").set(1)
    assert reg.get_sample_value("windows_ip_allocation_latency_seconds_count") == 1
    assert reg.get_sample_value("windows_ipam_enabled") == 1
    assert (
        reg.get_sample_value(
            "leader_election_master_status", {"name": "cp-vpc-resource-controller"}
        )
        == 1
    )


def test_health_server_endpoints() -> None:
    reg = CollectorRegistry()
    m = ControllerMetrics(reg)
    m.observe_ec2_call("CreateTags", 0.1)
    ready = {"v": False}
    srv = serve_health(0, registry=reg, ready=lambda: ready["v"])
    try:
        assert srv.port > 0
        base = f"http://127.0.0.1:{srv.port}"
        assert get(f"{base}/healthz") == (200, "ok")
        assert get(f"{base}/readyz")[0] == 503
        ready["v"] = True
        assert get(f"{base}/readyz") == (200, "ok")
        status, text = get(f"{base}/metrics")
        assert status == 200
        assert 'ec2_api_req_count_total{action="CreateTags"} 1.0' in text
        assert get(f"{base}/nope")[0] == 404
    finally:
        srv.shutdown()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=2)


def test_failing_readiness_check_reports_not_ready() -> None:
    def boom() -> bool:
        raise RuntimeError("x")

    srv = serve_health(0, registry=CollectorRegistry(), ready=boom)
    try:
        assert get(f"http://127.0.0.1:{srv.port}/readyz")[0] == 503
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
    finally:
        srv.shutdown()


def test_two_health_servers_side_by_side() -> None:
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    ControllerMetrics(r1).windows_ipam_enabled.set(1)
    ControllerMetrics(r2)
    s1 = serve_health(0, registry=r1, ready=lambda: True)
    s2 = serve_health(0, registry=r2, ready=lambda: False)
    try:
        assert s1.port != s2.port
        assert "windows_ipam_enabled 1.0" in get(f"http://127.0.0.1:{s1.port}/metrics")[1]
        assert "windows_ipam_enabled 0.0" in get(f"http://127.0.0.1:{s2.port}/metrics")[1]
        assert get(f"http://127.0.0.1:{s2.port}/readyz")[0] == 503
    finally:
        s1.shutdown()
        s2.shutdown()
