"""Parse the CNI call: ``CNI_*`` environment, ``CNI_ARGS`` and the vpc-bridge netconf.

Pure functions over plain data (no I/O), so they are unit-tested without a server.
Keys follow aws/amazon-vpc-cni-plugins (vpc-bridge) plus three ekswin keys that stand
in for what a Windows host provides implicitly: ``kubeconfig`` (the node's own
credentials), ``hnsEndpoint`` (fake_hns gRPC address) and ``hnsHost`` (the node whose
HNS to use). Error messages mirror the real plugin's.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.cni.errors import (
    DECODING_FAILURE,
    INCOMPATIBLE_VERSION,
    INTERNAL,
    INVALID_ENVIRONMENT,
    CniError,
)
from harness.cni.version import SUPPORTED_VERSIONS

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION")
NAMESPACE_PLACEHOLDER = "{%namespace%}"
DEFAULT_ANNOTATION_TIMEOUT_S = 60.0  # the current plugin waits up to one minute
_MAC = re.compile(r"^([0-9A-Fa-f]{2})([:-][0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True)
class CniEnv:
    """The CNI_* environment of one call."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: str = ""
    path: str = ""


@dataclass(frozen=True)
class K8sArgs:
    """The Kubernetes keys of CNI_ARGS."""

    namespace: str = ""
    pod_name: str = ""
    infra_container_id: str = ""


@dataclass(frozen=True)
class PortMapping:
    """runtimeConfig.portMappings entry."""

    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Dns:
    """The netconf ``dns`` block."""

    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetConf:
    """A parsed vpc-bridge network configuration (plus the ekswin keys)."""

    cni_version: str
    name: str
    type: str
    eni_name: str = ""
    eni_mac: str = ""  # normalised lower-case, colon separated
    eni_ip_addresses: tuple[ipaddress.IPv4Interface, ...] = ()
    vpc_cidrs: tuple[ipaddress.IPv4Network, ...] = ()
    service_cidr: str = ""
    gateway: str = ""
    ip_addresses: tuple[ipaddress.IPv4Interface, ...] = ()
    dns: Dns = field(default_factory=Dns)
    port_mappings: tuple[PortMapping, ...] = ()
    kubeconfig: str = ""
    hns_endpoint: str = ""
    hns_host: str = ""
    annotation_timeout_s: float = DEFAULT_ANNOTATION_TIMEOUT_S
    prev_result: Mapping[str, Any] | None = None

    @property
    def network_name(self) -> str:
        """The HNS network name (``network_name``)."""
        return network_name(self.name, self.eni_mac)

    @property
    def eni_subnet(self) -> ipaddress.IPv4Network:
        """The subnet of the ENI's primary address (first of eniIPAddresses)."""
        return self.eni_ip_addresses[0].network

    @property
    def node_ip(self) -> str:
        """The ENI primary IP (the node IP)."""
        return str(self.eni_ip_addresses[0].ip)

    def snat_exceptions(self) -> list[str]:
        """OutBoundNAT exceptions: VPC CIDRs (else the ENI subnet), then the service CIDR."""
        out = [str(c) for c in self.vpc_cidrs] or [str(self.eni_subnet)]
        if self.service_cidr:
            out.append(self.service_cidr)
        return out

    def dns_for(self, namespace: str) -> Dns:
        """The dns block with ``{%namespace%}`` in search domains replaced by `namespace`."""
        search = tuple(s.replace(NAMESPACE_PLACEHOLDER, namespace, 1) for s in self.dns.search)
        return Dns(self.dns.nameservers, self.dns.domain, search, self.dns.options)


def network_name(netconf_name: str, eni_mac: str) -> str:
    """The node's HNS network name: ``<netconf name>br<ENI MAC, lower-case, no separators>``
    (vpc-bridge format), whichever way the MAC is written."""
    return f"{netconf_name}br{eni_mac.lower().replace(':', '').replace('-', '')}"


def endpoint_name(container_id: str) -> str:
    """The HNS endpoint name for a sandbox: ``cid-<sandbox id>`` (vpc-bridge format)."""
    return f"cid-{container_id}"


def parse_env(env: Mapping[str, str]) -> CniEnv:
    """Read the CNI_* variables; the spec's required ones missing -> error code 4."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CniError(INVALID_ENVIRONMENT, "required env variables [CNI_COMMAND] missing")
    if command not in COMMANDS:
        raise CniError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND: {command}")
    required = {
        "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
        "VERSION": (),
    }[command]
    missing = [k for k in required if not env.get(k)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, f"required env variables [{','.join(missing)}] missing")
    return CniEnv(
        command=command,
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=env.get("CNI_NETNS", ""),
        ifname=env.get("CNI_IFNAME", ""),
        args=env.get("CNI_ARGS", ""),
        path=env.get("CNI_PATH", ""),
    )


def parse_cni_args(args: str) -> K8sArgs:
    """Parse ``K=V;K=V`` CNI_ARGS, keeping the Kubernetes keys (unknown keys ignored)."""
    values: dict[str, str] = {}
    for pair in filter(None, args.split(";")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise CniError(INTERNAL, f"failed to parse runtime args: ARGS: invalid pair {pair!r}")
        values[key] = value
    return K8sArgs(
        namespace=values.get("K8S_POD_NAMESPACE", ""),
        pod_name=values.get("K8S_POD_NAME", ""),
        infra_container_id=values.get("K8S_POD_INFRA_CONTAINER_ID", ""),
    )


def decode(stdin: bytes | str) -> dict[str, Any]:
    """Decode the netconf JSON object; failures -> code 6 as libcni's skel reports them."""
    try:
        data = json.loads(stdin)
    except (ValueError, UnicodeDecodeError) as e:
        raise CniError(DECODING_FAILURE, f"decoding version from network config: {e}") from e
    if not isinstance(data, dict):
        raise CniError(DECODING_FAILURE, "decoding version from network config: not a JSON object")
    return data


def check_version(data: Mapping[str, Any]) -> str:
    """The netconf's cniVersion, refused (code 1) when this plugin does not support it."""
    version = data.get("cniVersion", "0.1.0") or "0.1.0"
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {list(SUPPORTED_VERSIONS)}",
        )
    return version


def _iface(value: Any, what: str) -> ipaddress.IPv4Interface:
    if not isinstance(value, str):
        raise CniError(INTERNAL, f"invalid {what} {value!r}")
    try:
        iface = ipaddress.ip_interface(value if "/" in value else value + "/32")
    except ValueError as e:
        raise CniError(INTERNAL, f"invalid {what} {value}") from e
    if not isinstance(iface, ipaddress.IPv4Interface):
        raise CniError(INTERNAL, "Only a single IPv4 address per endpoint is supported on Windows")
    return iface


def _str_list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise CniError(INTERNAL, f"failed to parse network config: {key} must be a list")
    return value


def parse_netconf(data: Mapping[str, Any]) -> NetConf:
    """Validate a decoded netconf the way vpc-bridge does; errors name the field and value."""
    version = check_version(data)
    eni_name = data.get("eniName") or ""
    eni_mac = data.get("eniMACAddress") or ""
    if not eni_name and not eni_mac:
        raise CniError(INTERNAL, "missing required parameter ENIName or ENIMACAddress")
    if eni_mac:
        if not isinstance(eni_mac, str) or not _MAC.match(eni_mac):
            raise CniError(INTERNAL, f"invalid ENIMACAddress {eni_mac}")
        eni_mac = eni_mac.lower().replace("-", ":")
    eni_ips = tuple(_iface(v, "ENIIPAddress") for v in _str_list(data, "eniIPAddresses"))
    vpc_cidrs: list[ipaddress.IPv4Network] = []
    for v in _str_list(data, "vpcCIDRs"):
        try:
            net = ipaddress.ip_network(v, strict=False)
        except (ValueError, TypeError) as e:
            raise CniError(INTERNAL, f"invalid VPCCIDR {v}") from e
        if not isinstance(net, ipaddress.IPv4Network):
            raise CniError(INTERNAL, f"invalid VPCCIDR {v}")
        vpc_cidrs.append(net)
    ips = tuple(_iface(v, "IPAddress") for v in _str_list(data, "ipAddresses"))
    gateway = data.get("gatewayIPAddress") or ""
    if gateway:
        try:
            ipaddress.IPv4Address(gateway)
        except (ValueError, TypeError) as e:
            raise CniError(INTERNAL, f"invalid GatewayIPAddress {gateway}") from e
    service_cidr = data.get("serviceCIDR") or ""
    if service_cidr:
        try:
            ipaddress.IPv4Network(service_cidr)
        except (ValueError, TypeError) as e:
            raise CniError(INTERNAL, f"invalid ServiceCIDR {service_cidr}") from e
    dns_raw = data.get("dns") or {}
    if not isinstance(dns_raw, dict):
        raise CniError(INTERNAL, "failed to parse network config: dns must be an object")
    dns = Dns(
        nameservers=tuple(_str_list(dns_raw, "nameservers")),
        domain=str(dns_raw.get("domain") or ""),
        search=tuple(_str_list(dns_raw, "search")),
        options=tuple(_str_list(dns_raw, "options")),
    )
    runtime = data.get("runtimeConfig") or {}
    mappings: list[PortMapping] = []
    for pm in (runtime.get("portMappings") or []) if isinstance(runtime, dict) else []:
        try:
            mappings.append(
                PortMapping(
                    int(pm["hostPort"]),
                    int(pm["containerPort"]),
                    str(pm.get("protocol", "tcp")).lower(),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CniError(INTERNAL, f"invalid portMapping {pm!r}") from e
    timeout = data.get("annotationTimeoutSeconds", DEFAULT_ANNOTATION_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise CniError(
            INTERNAL, f"invalid annotationTimeoutSeconds {timeout!r}: expected a number >= 0"
        )
    prev = data.get("prevResult")
    return NetConf(
        cni_version=version,
        name=str(data.get("name") or ""),
        type=str(data.get("type") or ""),
        eni_name=str(eni_name),
        eni_mac=str(eni_mac),
        eni_ip_addresses=eni_ips,
        vpc_cidrs=tuple(vpc_cidrs),
        service_cidr=str(service_cidr),
        gateway=str(gateway),
        ip_addresses=ips,
        dns=dns,
        port_mappings=tuple(mappings),
        kubeconfig=str(data.get("kubeconfig") or ""),
        hns_endpoint=str(data.get("hnsEndpoint") or ""),
        hns_host=str(data.get("hnsHost") or ""),
        annotation_timeout_s=float(timeout),
        prev_result=prev if isinstance(prev, dict) else None,
    )


def require_for_add(conf: NetConf) -> None:
    """Fields ADD cannot work without on Windows (the plugin needs the ENI subnet and HNS)."""
    if not conf.eni_mac:
        # The network name embeds the ENI MAC; on a Windows host the plugin looks it up
        # from eniName, which an emulated host cannot do.
        raise CniError(INTERNAL, f"failed to find ENI {conf.eni_name}: eniMACAddress is required")
    if not conf.eni_ip_addresses:
        raise CniError(INTERNAL, "missing required parameter eniIPAddresses")
    if not conf.hns_endpoint or not conf.hns_host:
        raise CniError(INTERNAL, "missing required parameter hnsEndpoint or hnsHost")
