"""``python -m fake_hns.cli --target ADDR --host NODE``: show one node's HNS for a human.

Lists the host's configuration and port pool, then networks, endpoints, namespaces and
load balancers as tables (rich). ``--json`` prints the DumpState JSON instead;
``--list-hosts`` lists the nodes the server hosts.
"""

from __future__ import annotations

import argparse
import sys

from fake_hns.client import HnsClient, HnsError, HnsRpcError, UnknownHostError


def _show(client: HnsClient) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=240)  # piped: don't wrap GUIDs and addresses at 80 columns
    host = client.get_host()
    pool = host.port_pool
    console.print(
        f"[bold]{host.name}[/bold]  {host.windows_build}  HNS "
        f"{host.hns_version.major}.{host.hns_version.minor}  DSR={host.features.dsr}  "
        f"update-in-place={host.features.modify_load_balancer}"
    )
    console.print(
        f"port pool {pool.dynamic_port_range.start}-{pool.dynamic_port_range.end}, "
        f"block {pool.block_size}: {pool.used_blocks}/{pool.total_blocks} blocks used, "
        f"{pool.free_blocks} free"
    )

    networks = Table(title="Networks")
    for col in ("Id", "Name", "Type", "Subnets"):
        networks.add_column(col)
    for n in client.list_networks():
        subnets = ", ".join(s.ip_address_prefix for i in n.ipams for s in i.subnets)
        networks.add_row(n.id, n.name, _enum_name(n, "type"), subnets)
    console.print(networks)

    endpoints = Table(title="Endpoints")
    for col in ("Id", "Name", "IP", "MAC", "Network", "Namespace", "Policies"):
        endpoints.add_column(col)
    for e in client.list_endpoints():
        ips = ", ".join(f"{c.ip_address}/{c.prefix_length}" for c in e.ip_configurations)
        kinds = ", ".join(str(p.WhichOneof("policy")) for p in e.policies)
        endpoints.add_row(
            e.id, e.name, ips, e.mac_address, e.host_compute_network,
            e.host_compute_namespace, kinds,
        )  # fmt: skip
    console.print(endpoints)

    namespaces = Table(title="Namespaces")
    for col in ("Id", "Type", "Endpoints"):
        namespaces.add_column(col)
    for ns in client.list_namespaces():
        namespaces.add_row(ns.id, _enum_name(ns, "type"), ", ".join(ns.endpoint_ids))
    console.print(namespaces)

    lbs = Table(title="Load balancers")
    for col in ("Id", "Frontend VIPs", "Ports", "Flags", "Backends", "Reserved ports"):
        lbs.add_column(col)
    for lb in client.list_load_balancers():
        ports = ", ".join(
            f"{m.external_port}->{m.internal_port}/{'tcp' if m.protocol == 6 else 'udp'}"
            for m in lb.port_mappings
        )
        flags = "DSR" if lb.flags & 1 else "-"
        reserved = (
            f"{lb.reserved_ports.start}-{lb.reserved_ports.end}"
            if lb.HasField("reserved_ports")
            else "-"
        )
        lbs.add_row(
            lb.id, ", ".join(lb.frontend_vips) or "(all)", ports, flags,
            str(len(lb.host_compute_endpoints)), reserved,
        )  # fmt: skip
    console.print(lbs)


def _enum_name(msg: object, field: str) -> str:
    descriptor = msg.DESCRIPTOR.fields_by_name[field].enum_type  # type: ignore[attr-defined]
    return str(descriptor.values_by_number[getattr(msg, field)].name).split("_TYPE_", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit 1 on an unknown host or an HNS/gRPC error."""
    parser = argparse.ArgumentParser(prog="python -m fake_hns.cli", description=__doc__)
    parser.add_argument("--target", required=True, help="server address, grpc://127.0.0.1:PORT")
    parser.add_argument("--host", default="", help="node name")
    parser.add_argument("--json", action="store_true", help="print DumpState JSON")
    parser.add_argument("--list-hosts", action="store_true", help="list nodes and exit")
    args = parser.parse_args(argv)
    if not args.host and not args.list_hosts and not args.json:
        parser.error("--host NODE is required (or --list-hosts / --json)")
    with HnsClient(args.target, args.host) as client:
        try:
            if args.list_hosts:
                for host in client.list_hosts():
                    pool = host.port_pool
                    print(
                        f"{host.name}\t{host.windows_build}\tendpoints={host.endpoints}\t"
                        f"load_balancers={host.load_balancers}\t"
                        f"port_blocks={pool.used_blocks}/{pool.total_blocks}"
                    )
            elif args.json:
                print(client.dump_state(all_hosts=not args.host))
            else:
                _show(client)
        except (UnknownHostError, HnsError, HnsRpcError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
