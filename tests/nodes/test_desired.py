"""kube-proxy (winkernel) desired-state table tests: Service + Endpoints -> LB specs."""

from __future__ import annotations

from typing import Any

import pytest

from harness.kubeproxy.desired import (
    CLUSTER_IP,
    EXTERNAL_IP,
    INGRESS_IP,
    NODE_PORT,
    desired_lbs,
    endpoints_from_slices,
    service_lbs,
)


def svc(
    name: str = "web",
    *,
    type_: str = "ClusterIP",
    cluster_ip: str = "10.100.0.10",
    ports: list[dict[str, Any]] | None = None,
    external_ips: list[str] | None = None,
    ingress: list[dict[str, str]] | None = None,
    etp: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": type_,
        "clusterIP": cluster_ip,
        "ports": ports or [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    if external_ips:
        spec["externalIPs"] = external_ips
    if etp:
        spec["externalTrafficPolicy"] = etp
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": ingress or []}},
    }


def eps(
    ips: list[str],
    port: int = 8080,
    name: str = "",
    protocol: str = "TCP",
    not_ready: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "subsets": [
            {
                "addresses": [{"ip": i} for i in ips],
                "notReadyAddresses": [{"ip": i} for i in not_ready or []],
                "ports": [{"name": name, "port": port, "protocol": protocol}],
            }
        ]
    }


def kinds(lbs: list[Any]) -> list[str]:
    return [lb.kind for lb in lbs]


@pytest.mark.parametrize(
    ("service", "dsr", "expected"),
    [
        # ClusterIP: one LB per port, DSR follows --enable-dsr.
        (svc(), False, [(CLUSTER_IP, "10.100.0.10", 80, False)]),
        (svc(), True, [(CLUSTER_IP, "10.100.0.10", 80, True)]),
        # NodePort: ClusterIP + NodePort; DSR only on the ClusterIP one.
        (
            svc(type_="NodePort", ports=[{"port": 80, "targetPort": 8080, "nodePort": 30080}]),
            True,
            [(CLUSTER_IP, "10.100.0.10", 80, True), (NODE_PORT, "", 30080, False)],
        ),
        # NodePort with externalTrafficPolicy Local: DSR on both with --enable-dsr.
        (
            svc(
                type_="NodePort",
                etp="Local",
                ports=[{"port": 80, "targetPort": 8080, "nodePort": 30080}],
            ),
            True,
            [(CLUSTER_IP, "10.100.0.10", 80, True), (NODE_PORT, "", 30080, True)],
        ),
        # EKS LoadBalancer: ingress carries a hostname -> two LBs per port.
        (
            svc(
                type_="LoadBalancer",
                ports=[{"port": 80, "targetPort": 8080, "nodePort": 31000}],
                ingress=[{"hostname": "a1b2.elb.us-west-2.amazonaws.com"}],
            ),
            False,
            [(CLUSTER_IP, "10.100.0.10", 80, False), (NODE_PORT, "", 31000, False)],
        ),
        # Ingress IP and external IPs each add one.
        (
            svc(
                type_="LoadBalancer",
                ports=[{"port": 80, "targetPort": 8080, "nodePort": 31000}],
                ingress=[{"ip": "203.0.113.5"}],
                external_ips=["198.51.100.7"],
            ),
            False,
            [
                (CLUSTER_IP, "10.100.0.10", 80, False),
                (NODE_PORT, "", 31000, False),
                (EXTERNAL_IP, "198.51.100.7", 80, False),
                (INGRESS_IP, "203.0.113.5", 80, False),
            ],
        ),
        # Headless and ExternalName: nothing.
        (svc(cluster_ip="None"), False, []),
        (svc(type_="ExternalName", cluster_ip=""), False, []),
    ],
)
def test_service_lbs_table(
    service: dict[str, Any], dsr: bool, expected: list[tuple[str, str, int, bool]]
) -> None:
    lbs, _ = service_lbs(service, eps(["10.0.1.5", "10.0.1.4"]), dsr)
    assert [(lb.kind, lb.frontend_vip, lb.external_port, lb.dsr) for lb in lbs] == expected
    for lb in lbs:
        assert lb.backends == ("10.0.1.4", "10.0.1.5")  # sorted, ready only
        assert lb.internal_port == 8080
        assert lb.protocol == 6


def test_no_ready_endpoints_skips_with_winkernel_message() -> None:
    lbs, skipped = service_lbs(svc(), eps([], not_ready=["10.0.1.9"]), False)
    assert lbs == []
    assert skipped[0].reason == (
        "Endpoint information not available for service default/web. Not applying any policy"
    )
    lbs, skipped = service_lbs(svc(), None, False)
    assert lbs == [] and len(skipped) == 1


def test_multi_port_matches_endpoint_ports_by_name_and_protocol() -> None:
    service = svc(
        ports=[
            {"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
        ]
    )
    endpoints = {
        "subsets": [
            {
                "addresses": [{"ip": "10.0.1.4"}],
                "ports": [
                    {"name": "http", "port": 8080, "protocol": "TCP"},
                    {"name": "dns", "port": 5353, "protocol": "UDP"},
                ],
            }
        ]
    }
    lbs, skipped = service_lbs(service, endpoints, False)
    assert skipped == []
    assert [(lb.port_name, lb.protocol, lb.external_port, lb.internal_port) for lb in lbs] == [
        ("http", 6, 80, 8080),
        ("dns", 17, 53, 5353),
    ]
    assert lbs[0].service_port == "default/web:http"


def test_sctp_is_skipped() -> None:
    lbs, skipped = service_lbs(
        svc(ports=[{"port": 9, "protocol": "SCTP"}]), eps(["10.0.1.4"]), False
    )
    assert lbs == [] and "SCTP" in skipped[0].reason


def test_desired_lbs_orders_services_by_name_and_keys_are_unique() -> None:
    services = [svc("b", cluster_ip="10.100.0.2"), svc("a", cluster_ip="10.100.0.1")]
    endpoints = {"default/a": eps(["10.0.1.4"]), "default/b": eps(["10.0.1.5"])}
    lbs, _ = desired_lbs(services, endpoints, False)
    assert [lb.service for lb in lbs] == ["default/a", "default/b"]
    assert len({lb.key for lb in lbs}) == len(lbs)


def _slice(service: str, endpoints: list[dict[str, Any]], *, port: int = 8080) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": f"{service}-abc12",
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "", "port": port, "protocol": "TCP"}],
    }


def test_endpoint_slices_give_the_load_balancers_endpoints_give() -> None:
    """Two slices of one Service (ready, not ready, ready by absence of the condition)
    fold into what the Endpoints object would say; other address types are ignored."""
    slices = [
        _slice("web", [{"addresses": ["10.0.0.5"], "conditions": {"ready": True}},
                       {"addresses": ["10.0.0.6"], "conditions": {"ready": False}}]),
        _slice("web", [{"addresses": ["10.0.0.7"]}]),
        {**_slice("web", [{"addresses": ["fd00::1"]}]), "addressType": "IPv6"},
        {"metadata": {"namespace": "default", "name": "orphan"}, "endpoints": []},
    ]  # fmt: skip
    folded = endpoints_from_slices(slices)
    assert set(folded) == {"default/web"}
    from_slices, _ = desired_lbs([svc()], folded, False)
    from_endpoints, _ = desired_lbs(
        [svc()], {"default/web": eps(["10.0.0.5", "10.0.0.7"], not_ready=["10.0.0.6"])}, False
    )
    assert from_slices == from_endpoints and from_slices
    assert set(from_slices[0].backends) == {"10.0.0.5", "10.0.0.7"}
