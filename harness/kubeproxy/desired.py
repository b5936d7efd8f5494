"""What HNS load balancers a Service needs on a node (winkernel rules), as pure functions.

Per Service port with at least one ready endpoint (winkernel skips a port without
endpoints: "Endpoint information not available for service ... Not applying any
policy"):
- one ClusterIP load balancer (frontend = cluster IP, external port = port), DSR when
  kube-proxy runs with ``--enable-dsr``;
- one NodePort load balancer when the port has a nodePort (no frontend VIP,
  local-routed VIP, external port = nodePort);
- one per ``spec.externalIPs`` entry and one per ``status.loadBalancer.ingress[].ip``.
  Ingress entries that carry only a hostname (ELB/NLB on EKS) get none, so a
  LoadBalancer Service on EKS costs two load balancers per port per node.
Non-ClusterIP load balancers get DSR only with ``externalTrafficPolicy: Local`` (and
``--enable-dsr``). Inputs are Service/Endpoints objects as the API serves them (JSON);
EndpointSlices (what kube-proxy on Windows reads from 1.21, when
``WindowsEndpointSliceProxying`` went beta) are first folded into the Endpoints shape by
:func:`endpoints_from_slices`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

PROTOCOLS = {"TCP": 6, "UDP": 17}  # SCTP is not supported by winkernel

CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
EXTERNAL_IP = "ExternalIP"
INGRESS_IP = "IngressIP"


@dataclass(frozen=True)
class LbSpec:
    """One HNS load balancer kube-proxy wants on a node."""

    service: str  # namespace/name
    port_name: str
    kind: str  # ClusterIP | NodePort | ExternalIP | IngressIP
    frontend_vip: str  # "" for NodePort (all node addresses)
    protocol: int  # 6 TCP, 17 UDP
    internal_port: int  # the endpoints' (target) port
    external_port: int  # service port, or nodePort
    dsr: bool
    local_routed_vip: bool
    backends: tuple[str, ...]  # endpoint IPs, sorted

    @property
    def key(self) -> tuple[str, int, int]:
        """What makes two load balancers collide in HNS: VIP, protocol, external port."""
        return (self.frontend_vip, self.protocol, self.external_port)

    @property
    def service_port(self) -> str:
        """``namespace/name:port`` as kube-proxy logs it."""
        return f"{self.service}:{self.port_name}" if self.port_name else self.service


@dataclass(frozen=True)
class Skipped:
    """A Service port for which no load balancer is created, and why (a log line)."""

    service_port: str
    reason: str


def _endpoint_ips_and_port(
    endpoints: Mapping[str, Any] | None, port_name: str, protocol: str
) -> tuple[tuple[str, ...], int | None]:
    ips: set[str] = set()
    target: int | None = None
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        match = [
            p
            for p in ports
            if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol
        ]
        if not match:
            continue
        target = int(match[0]["port"])
        for addr in subset.get("addresses") or []:  # ready addresses only
            if addr.get("ip"):
                ips.add(str(addr["ip"]))
    return tuple(sorted(ips)), target


SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def endpoints_from_slices(
    slices: Iterable[Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """discovery.k8s.io/v1 EndpointSlices -> Endpoints-shaped objects keyed
    ``namespace/service``: one subset per slice, its ready endpoints' addresses (an
    absent ``ready`` condition means ready, as the API defines it)."""
    out: dict[str, dict[str, Any]] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service or sl.get("addressType", "IPv4") != "IPv4":
            continue
        addresses = [
            {"ip": ip}
            for ep in sl.get("endpoints") or []
            if (ep.get("conditions") or {}).get("ready") is not False
            for ip in (ep.get("addresses") or [])[:1]
        ]
        ports = [
            {"name": p.get("name") or "", "port": p["port"], "protocol": p.get("protocol") or "TCP"}
            for p in sl.get("ports") or []
            if p.get("port") is not None
        ]
        key = f"{meta.get('namespace', 'default')}/{service}"
        entry = out.setdefault(key, {"subsets": []})
        entry["subsets"].append({"addresses": addresses, "ports": ports})
    return out


def service_lbs(
    service: Mapping[str, Any], endpoints: Mapping[str, Any] | None, enable_dsr: bool
) -> tuple[list[LbSpec], list[Skipped]]:
    """The load balancers one Service needs, in the order kube-proxy creates them."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    name = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
    svc_type = spec.get("type", "ClusterIP")
    cluster_ip = spec.get("clusterIP") or ""
    if svc_type == "ExternalName" or cluster_ip in ("", "None"):
        return [], []  # headless / ExternalName: kube-proxy programs nothing
    local = spec.get("externalTrafficPolicy") == "Local"
    ingress_ips = [
        str(i["ip"])
        for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if i.get("ip")
    ]
    out: list[LbSpec] = []
    skipped: list[Skipped] = []
    for port in spec.get("ports") or []:
        port_name = port.get("name") or ""
        proto_name = port.get("protocol") or "TCP"
        sp = f"{name}:{port_name}" if port_name else name
        if proto_name not in PROTOCOLS:
            skipped.append(Skipped(sp, f"protocol {proto_name} is not supported"))
            continue
        backends, ep_port = _endpoint_ips_and_port(endpoints, port_name, proto_name)
        if not backends:
            skipped.append(
                Skipped(
                    sp,
                    f"Endpoint information not available for service {sp}. Not applying any policy",
                )
            )
            continue
        target = port.get("targetPort")
        internal = ep_port or (target if isinstance(target, int) else int(port["port"]))
        cluster_port = int(port["port"])

        template = LbSpec(
            service=name,
            port_name=port_name,
            kind=CLUSTER_IP,
            frontend_vip=cluster_ip,
            protocol=PROTOCOLS[proto_name],
            internal_port=int(internal),
            external_port=cluster_port,
            dsr=enable_dsr,
            local_routed_vip=False,
            backends=backends,
        )

        def make(
            kind: str, vip: str, ext: int, dsr: bool, routed: bool = False, t: LbSpec = template
        ) -> LbSpec:
            return replace(
                t, kind=kind, frontend_vip=vip, external_port=ext, dsr=dsr, local_routed_vip=routed
            )

        out.append(make(CLUSTER_IP, cluster_ip, cluster_port, enable_dsr))
        other_dsr = enable_dsr and local
        if port.get("nodePort"):
            out.append(make(NODE_PORT, "", int(port["nodePort"]), other_dsr, True))
        for ip in spec.get("externalIPs") or []:
            out.append(make(EXTERNAL_IP, str(ip), cluster_port, other_dsr))
        for ip in ingress_ips:
            out.append(make(INGRESS_IP, ip, cluster_port, other_dsr))
    return out, skipped


def desired_lbs(
    services: Iterable[Mapping[str, Any]],
    endpoints_by_service: Mapping[str, Mapping[str, Any]],
    enable_dsr: bool,
) -> tuple[list[LbSpec], list[Skipped]]:
    """All load balancers for a node, services in name order (deterministic sync order).

    `endpoints_by_service` is keyed ``namespace/name``.
    """

    def key(s: Mapping[str, Any]) -> str:
        m = s.get("metadata") or {}
        return f"{m.get('namespace', 'default')}/{m.get('name', '')}"

    lbs: list[LbSpec] = []
    skipped: list[Skipped] = []
    for svc in sorted(services, key=key):
        got, skip = service_lbs(svc, endpoints_by_service.get(key(svc)), enable_dsr)
        lbs.extend(got)
        skipped.extend(skip)
    return lbs, skipped
