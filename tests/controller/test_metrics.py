"""controller.metrics: per-instance registries, the Go client's exposition, the health server."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controller.ec2 import EC2Api, EC2Error
from controller.exposition import go_float, sample_value
from controller.metrics import ControllerMetrics, WebhookMetrics, metrics_text, serve_health


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def text(reg: CollectorRegistry) -> str:
    return metrics_text(reg).decode()


def test_two_instances_in_one_process_do_not_share_state() -> None:
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    m1, m2 = ControllerMetrics(r1), ControllerMetrics(r2)
    m1.observe_ec2_call("AssignPrivateIpAddresses", 0.02)
    m1.observe_ec2_call("AssignPrivateIpAddresses", 0.5, "InsufficientCidrBlocks")
    m2.observe_ec2_call("DescribeInstances", 0.01)
    t1, t2 = text(r1), text(r2)
    assert sample_value(t1, "ec2_api_req_count") == 2
    assert sample_value(t1, "ec2_api_err_count") == 1
    assert sample_value(t1, "ec2_assign_private_ip_api_req_count") == 2
    assert sample_value(t1, "ec2_assign_private_ip_api_err_count") == 1
    code = {"action": "AssignPrivateIpAddresses", "code": "InsufficientCidrBlocks"}
    assert sample_value(t1, "ec2_api_err_code_count", code) == 1
    assert sample_value(t1, "aws_nw_call_latency_count", {"api": "assign_private_ip"}) == 2
    assert sample_value(t2, "ec2_assign_private_ip_api_req_count") == 0
    assert sample_value(t2, "ec2_describe_instances_api_req_count") == 1


def test_ec2_metrics_are_the_wrappers_names_types_and_units() -> None:
    """wrapper.go: unlabelled counters without `_total`, the per-action pair, the asked-for
    IP/prefix counts, and `aws_nw_call_latency` a Summary in whole milliseconds by api."""
    reg = CollectorRegistry()
    m = ControllerMetrics(reg)
    m.observe_ec2_call("AssignPrivateIpAddresses", 0.0259, params={"Ipv4PrefixCount": 2})
    m.observe_ec2_call(
        "AssignPrivateIpAddresses", 0.0011, params={"SecondaryPrivateIpAddressCount": 3}
    )
    m.observe_ec2_call(
        "UnassignPrivateIpAddresses", 0.002, params={"Ipv4Prefixes": ["10.0.0.16/28"]}
    )
    m.observe_ec2_call("DescribeNetworkInterfaces", 1.5, "RequestLimitExceeded")
    t = text(reg)
    assert "# TYPE ec2_api_req_count counter" in t.splitlines()
    assert "ec2_api_req_count 4" in t.splitlines()
    assert "# TYPE aws_nw_call_latency summary" in t.splitlines()
    assert 'aws_nw_call_latency_sum{api="assign_private_ip"} 26' in t.splitlines()  # 25 + 1
    assert 'aws_nw_call_latency_count{api="describe_network_interface"} 1' in t.splitlines()
    assert sample_value(t, "num_assigned_ipv4_prefixes") == 2
    assert sample_value(t, "num_assigned_private_ip_address") == 3
    assert sample_value(t, "num_unassigned_ipv4_prefixes") == 1
    assert sample_value(t, "ec2_describe_network_interface_api_err_count") == 1
    # Every counter of the wrapper is there from the start, as Go registers them.
    assert sample_value(t, "ec2_disassociate_trunk_interface_api_req_count") == 0
    assert "_total" not in t and "_created" not in t
    assert "aws_nw_call_latency_seconds" not in t


def test_webhook_and_leader_metrics_keep_their_go_names() -> None:
    reg = CollectorRegistry()
    w = WebhookMetrics(reg)
    w.requests.labels(webhook="/mutate-v1-pod", code="200").inc()
    w.latency.labels(webhook="/mutate-v1-pod").observe(0.003)
    ControllerMetrics(reg).leader.labels(name="cp-vpc-resource-controller").set(1)
    lines = text(reg).splitlines()
    # controller-runtime names this counter with `_total` itself.
    assert "# TYPE controller_runtime_webhook_requests_total counter" in lines
    assert (
        'controller_runtime_webhook_requests_total{code="200",webhook="/mutate-v1-pod"} 1' in lines
    )
    assert (
        'controller_runtime_webhook_latency_seconds_bucket{webhook="/mutate-v1-pod",le="0.005"} 1'
        in lines
    )
    assert 'leader_election_master_status{name="cp-vpc-resource-controller"} 1' in lines


def test_exposition_is_the_go_clients() -> None:
    reg = CollectorRegistry()
    Counter("b_count", "B.", ["z", "a"], registry=reg).labels(z="1", a="2").inc(1234567)
    Counter("c_count", "Empty vector.", ["x"], registry=reg)
    Gauge("a_gauge", 'A "quoted" help\\ line.', registry=reg).set(0.5)
    h = Histogram("d_seconds", "D.", buckets=(0.1, 1), registry=reg)
    h.observe(0.05)
    assert metrics_text(reg).decode() == (
        '# HELP a_gauge A "quoted" help\\\\ line.\n'
        "# TYPE a_gauge gauge\n"
        "a_gauge 0.5\n"
        "# HELP b_count B.\n"
        "# TYPE b_count counter\n"
        'b_count{a="2",z="1"} 1.234567e+06\n'
        "# HELP d_seconds D.\n"
        "# TYPE d_seconds histogram\n"
        'd_seconds_bucket{le="0.1"} 1\n'
        'd_seconds_bucket{le="1"} 1\n'
        'd_seconds_bucket{le="+Inf"} 1\n'
        "d_seconds_sum 0.05\n"
        "d_seconds_count 1\n"
    )


@pytest.mark.parametrize(
    ("value", "go"),
    [(0, "0"), (1, "1"), (3.0, "3"), (2.5, "2.5"), (100000.0, "100000"), (1e6, "1e+06"),
     (0.0001, "0.0001"), (1e-05, "1e-05"), (-3.25, "-3.25"), (float("inf"), "+Inf")],
)  # fmt: skip
def test_numbers_as_go_writes_them(value: float, go: str) -> None:
    assert go_float(value) == go


def test_one_observation_per_call_retries_included() -> None:
    """wrapper.go counts and times an SDK call once, its retries inside it."""
    seen: list[tuple[str, dict[str, Any], str | None]] = []
    api = EC2Api(
        "http://127.0.0.1:9",
        "us-west-2",
        qps=0,
        burst=0,
        observer=lambda a, p, s, c: seen.append((a, dict(p), c)),
        sleep=lambda s: None,
    )
    answers: list[Any] = [
        EC2Error("DescribeInstances", "RequestLimitExceeded", "slow down", status=503),
        EC2Error("DescribeInstances", "RequestLimitExceeded", "slow down", status=503),
        {"Reservations": []},
    ]

    def once(action: str, **params: Any) -> dict[str, Any]:
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a  # type: ignore[no-any-return]

    api._call_once = once  # type: ignore[method-assign]
    api.call("DescribeInstances", InstanceIds=["i-1"])
    assert seen == [("DescribeInstances", {"InstanceIds": ["i-1"]}, None)]
    answers[:] = [EC2Error("DescribeSubnets", "InvalidSubnetID.NotFound", "no")]
    with pytest.raises(EC2Error):
        api.call("DescribeSubnets", SubnetIds=["s"])
    assert seen[-1] == ("DescribeSubnets", {"SubnetIds": ["s"]}, "InvalidSubnetID.NotFound")


def test_runtime_style_attribute_use() -> None:
    # The runtime drives the collectors directly (controller/__main__.py).
    reg = CollectorRegistry()
    m = ControllerMetrics(reg)
    m.pool_size.labels(node="n", state="pending_delete").set(2)
    m.allocation_latency.observe(0.3)
    m.windows_ipam_enabled.set(1)
    m.observe_annotate("vpc.amazonaws.com/PrivateIPv4Address", ok=False)
    m.observe_advertise("vpc.amazonaws.com/PrivateIPv4Address", ok=True)
    t = text(reg)
    assert sample_value(t, "windows_ip_allocation_latency_seconds_count") == 1
    assert sample_value(t, "windows_ipam_enabled") == 1
    key = {"annotate_key": "vpc.amazonaws.com/PrivateIPv4Address"}
    assert sample_value(t, "annotate_pod_request_call_count", key) == 1
    assert sample_value(t, "annotate_pod_request_err_count", key) == 1
    res = {"resource_name": "vpc.amazonaws.com/PrivateIPv4Address"}
    assert sample_value(t, "advertise_resource_request_call_count", res) == 1
    assert sample_value(t, "advertise_resource_request_err_count", res) is None


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
        assert "ec2_tag_network_interface_api_req_count 1" in text.splitlines()
        assert "_total" not in text and "_created" not in text
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
        assert "windows_ipam_enabled 1" in get(f"http://127.0.0.1:{s1.port}/metrics")[1]
        assert "windows_ipam_enabled 0" in get(f"http://127.0.0.1:{s2.port}/metrics")[1]
        assert get(f"http://127.0.0.1:{s2.port}/readyz")[0] == 503
    finally:
        s1.shutdown()
        s2.shutdown()
