"""The plugin's behaviour: the AWS Windows VPC CNI (vpc-bridge) against fake_hns and the API server.

ADD reads the pod's ``vpc.amazonaws.com/PrivateIPv4Address`` annotation from the API
server (waiting up to ``annotationTimeoutSeconds``, default 60 s), finds or creates
the node's L2Bridge HNS network ``<name>br<ENI MAC>``, creates endpoint
``cid-<sandbox id>`` with that IP, OutBoundNAT (exceptions: VPC CIDRs + service CIDR)
and SDN routes (service CIDR, node IP /32), and attaches it to the sandbox's HNS
namespace (``CNI_NETNS``). DEL never reads the API server and always succeeds.

``run(env, stdin, clients)`` is the whole plugin as a function. The exec'd console
script (``harness.cni.plugin``) calls it with fresh connections; the node agent calls
it in-process (``cni.mode inprocess``, or for the exec'd shim's socket fast path) with
pooled ones (``harness.cni.clients``). Log lines go to stderr, or to a per-thread
buffer that the agent hands back to the shim.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
from collections.abc import Mapping
from typing import Any

from harness.cni.clients import Clients, FreshClients
from harness.cni.errors import INTERNAL, CniError
from harness.cni.netconf import (
    CniEnv,
    NetConf,
    check_version,
    decode,
    endpoint_name,
    parse_cni_args,
    parse_env,
    parse_netconf,
    require_for_add,
)
from harness.cni.version import version_result

ANNOTATION = "vpc.amazonaws.com/PrivateIPv4Address"


_sink = threading.local()  # .lines: list[str] while run_captured() runs in this thread


def _log(msg: str) -> None:
    line = f"ekswin-cni: {msg}"
    lines = getattr(_sink, "lines", None)
    if lines is not None:
        lines.append(line)
    else:
        print(line, file=sys.stderr, flush=True)


def _pod_ip(conf: NetConf, env: CniEnv, clients: Clients) -> ipaddress.IPv4Interface:
    """The pod's address: static ipAddresses, else the annotation (vpc-bridge order)."""
    if conf.ip_addresses:
        if len(conf.ip_addresses) > 1:
            raise CniError(
                INTERNAL, "Only a single IPv4 address per endpoint is supported on Windows"
            )
        return conf.ip_addresses[0]
    k8s = parse_cni_args(env.args)
    if "K8S" not in env.args:
        raise CniError(INTERNAL, "missing required parameter ipAddresses (no Kubernetes args)")
    if not k8s.namespace or not k8s.pod_name:
        raise CniError(INTERNAL, f"failed to parse Kubernetes args: missing required args {k8s}")
    if not conf.kubeconfig:
        raise CniError(INTERNAL, "missing required parameter kubeconfig")
    from harness.kube.api import ApiError

    prefix = f"failed to parse Kubernetes args: failed to get pod IP address {k8s.pod_name}"
    try:
        value = clients.pod_annotation(
            conf.kubeconfig, k8s.namespace, k8s.pod_name, ANNOTATION, conf.annotation_timeout_s
        )
    except ApiError as e:
        raise CniError(INTERNAL, f"{prefix}: {e}") from e
    except (OSError, ValueError, KeyError) as e:
        raise CniError(INTERNAL, f"{prefix}: {e}") from e
    if not value:
        raise CniError(INTERNAL, f"{prefix}: pod {k8s.pod_name} does not have label {ANNOTATION}")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError as e:
        raise CniError(INTERNAL, f"invalid IPAddress {value} from pod label") from e
    if not isinstance(iface, ipaddress.IPv4Interface):
        raise CniError(INTERNAL, "Only a single IPv4 address per endpoint is supported on Windows")
    return iface


def _gateway(conf: NetConf) -> str:
    # The VPC router sits at the subnet's base address + 1.
    return conf.gateway or str(conf.eni_subnet.network_address + 1)


def _result(
    conf: NetConf, env: CniEnv, mac: str, ip: ipaddress.IPv4Interface, namespace: str
) -> dict[str, Any]:
    ip_cfg: dict[str, Any] = {"interface": 0, "address": str(ip), "gateway": _gateway(conf)}
    if conf.cni_version.startswith("0.3"):
        ip_cfg["version"] = "4"
    dns = conf.dns_for(namespace)
    out: dict[str, Any] = {
        "cniVersion": conf.cni_version,
        "interfaces": [{"name": env.ifname, "mac": mac, "sandbox": env.netns}],
        "ips": [ip_cfg],
    }
    if dns.nameservers or dns.search or dns.domain:
        out["dns"] = {
            k: v
            for k, v in (
                ("nameservers", list(dns.nameservers)),
                ("domain", dns.domain),
                ("search", list(dns.search)),
                ("options", list(dns.options)),
            )
            if v
        }
    return out


def cmd_add(conf: NetConf, env: CniEnv, clients: Clients) -> dict[str, Any]:
    """CNI ADD."""
    require_for_add(conf)
    ip = _pod_ip(conf, env, clients)
    from harness.hns import HnsFailure

    namespace = parse_cni_args(env.args).namespace
    try:
        with clients.hns(conf.hns_endpoint, conf.hns_host) as hns:
            network_id = hns.find_or_create_network(
                conf.network_name, str(conf.eni_subnet), _gateway(conf)
            )
            name = endpoint_name(env.container_id)
            existing = hns.get_endpoint(name)
            if existing is not None:
                _log(f"Found existing HCN endpoint {name}.")
                return _result(conf, env, existing.mac, ip, namespace)
            dns = conf.dns_for(namespace)
            ep = hns.create_endpoint(
                network_id=network_id,
                name=name,
                ip=str(ip.ip),
                prefix_length=ip.network.prefixlen,
                snat_exceptions=conf.snat_exceptions(),
                routes=[conf.service_cidr, f"{conf.node_ip}/32"] if conf.service_cidr else [],
                port_mappings=[
                    (p.protocol, p.container_port, p.host_port) for p in conf.port_mappings
                ],
                dns_servers=list(dns.nameservers),
                dns_search=list(dns.search),
            )
            try:
                hns.attach(env.netns, ep.id)
            except HnsFailure:
                hns.delete_endpoint(ep.id)  # do not leak a half-built endpoint
                raise
            return _result(conf, env, ep.mac, ip, namespace)
    except HnsFailure as e:
        raise CniError(INTERNAL, str(e)) from e


def cmd_del(conf: NetConf, env: CniEnv, clients: Clients) -> None:
    """CNI DEL: best effort, never reads the API server, succeeds when things are gone."""
    if not conf.hns_endpoint or not conf.hns_host:
        return
    from harness.hns import HnsFailure

    name = endpoint_name(env.container_id)
    try:
        with clients.hns(conf.hns_endpoint, conf.hns_host) as hns:
            ep = hns.get_endpoint(name)
            if ep is None:
                return
            if env.netns:
                try:
                    hns.detach(env.netns, ep.id)
                except HnsFailure as e:
                    _log(f"Failed to detach endpoint, ignoring: {e}")
            hns.delete_endpoint(ep.id)
    except HnsFailure as e:
        _log(f"Failed to delete endpoint, ignoring: {e}")


def cmd_check(conf: NetConf, env: CniEnv, clients: Clients) -> None:
    """CNI CHECK: the endpoint exists, sits in the sandbox namespace, has prevResult's IP."""
    require_for_add(conf)
    from harness.hns import HnsFailure

    name = endpoint_name(env.container_id)
    try:
        with clients.hns(conf.hns_endpoint, conf.hns_host) as hns:
            ep = hns.get_endpoint(name)
            if ep is None:
                raise CniError(INTERNAL, f"failed to find endpoint {name}")
            if env.netns and ep.id not in hns.namespace_endpoints(env.netns):
                raise CniError(
                    INTERNAL, f"endpoint {name} is not attached to namespace {env.netns}"
                )
            prev = conf.prev_result or {}
            want = [str(i.get("address", "")).split("/")[0] for i in prev.get("ips") or []]
            if want and ep.ip not in want:
                raise CniError(INTERNAL, f"endpoint {name} has IP {ep.ip}, prevResult says {want}")
    except HnsFailure as e:
        raise CniError(INTERNAL, str(e)) from e


def run(
    env: Mapping[str, str], stdin: bytes | str, clients: Clients | None = None
) -> tuple[int, str]:
    """Run one CNI call; returns (exit code, stdout text). Never raises for CNI errors.

    `clients` supplies the API server and HNS connections (default: fresh ones per call,
    as a standalone exec'd plugin has).
    """
    clients = clients or FreshClients()
    version = "1.0.0"
    try:
        cenv = parse_env(env)
        data = decode(stdin) if (stdin or cenv.command != "VERSION") else {}
        if cenv.command == "VERSION":
            return 0, version_result(data)
        version = check_version(data)
        conf = parse_netconf(data)
        if cenv.command == "ADD":
            return 0, json.dumps(cmd_add(conf, cenv, clients))
        if cenv.command == "DEL":
            cmd_del(conf, cenv, clients)
            return 0, ""
        cmd_check(conf, cenv, clients)
        return 0, ""
    except CniError as e:
        _log(f"error: {e.msg}")
        return 1, e.dumps(version)
    except Exception as e:  # an unexpected bug still answers in CNI form
        _log(f"internal error: {e!r}")
        return 1, CniError(INTERNAL, f"internal error: {e}").dumps(version)


def run_captured(
    env: Mapping[str, str], stdin: bytes | str, clients: Clients | None = None
) -> tuple[int, str, str]:
    """`run`, with the plugin's log lines returned as stderr text instead of printed
    (for calls made in the agent on behalf of an exec'd shim)."""
    _sink.lines = []
    try:
        code, out = run(env, stdin, clients)
        return code, out, "".join(line + "\n" for line in _sink.lines)
    finally:
        _sink.lines = None
