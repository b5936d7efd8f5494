"""THE ONE PLACE where fake_ec2 patches moto's EC2 models and responses.

moto (pinned to :data:`MOTO_VERSION`) hands out random addresses with no limits, knows no
/28 prefixes and never runs out. :func:`install` replaces the few moto methods listed in
:data:`PATCHED` with thin adapters over :class:`fake_ec2.ipam.Ec2Rules`, which decides
every rule. The contract test (tests/fake_ec2/test_moto_contract.py) checks that each
patched attribute still exists with the signature recorded here, so a moto upgrade that
changes them fails loudly instead of silently bypassing the rules.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fake_ec2.allocator import CidrReservation
from fake_ec2.exceptions import AttachmentLimitExceeded, DependencyViolation, Ec2Error
from fake_ec2.ipam import Ec2Rules
from fake_ec2.limits import UNATTACHED, EniLimits, InstanceTypeCatalog

MOTO_VERSION = "5.2.5"

#: Holder of a primary address picked during RunInstances before its ENI exists.
PENDING_LAUNCH = "pending-launch"

#: dotted name -> signature of moto's original (checked by the contract test).
PATCHED: dict[str, str] = {
    "moto.ec2.models.elastic_network_interfaces.NetworkInterface.__init__": (
        "(self, ec2_backend: 'Any', subnet: 'Any', private_ip_address: 'list[str] | str', "
        "private_ip_addresses: 'list[dict[str, Any]] | None' = None, device_index: 'int' = 0, "
        "public_ip_auto_assign: 'bool' = False, group_ids: 'list[str] | None' = None, "
        "description: 'str | None' = None, tags: 'dict[str, str] | None' = None, "
        "delete_on_termination: 'bool | None' = False, **kwargs: 'Any')"
    ),
    "moto.ec2.models.elastic_network_interfaces.NetworkInterfaceBackend."
    "delete_network_interface": "(self, eni_id: 'str') -> 'None'",
    "moto.ec2.models.elastic_network_interfaces.NetworkInterfaceBackend."
    "assign_private_ip_addresses": (
        "(self, eni_id: 'str', private_ip_addresses: 'list[str] | None' = None, "
        "secondary_ips_count: 'int | None' = None) -> 'NetworkInterface'"
    ),
    "moto.ec2.models.elastic_network_interfaces.NetworkInterfaceBackend."
    "unassign_private_ip_addresses": (
        "(self, eni_id: 'str', private_ip_address: 'list[str] | None' = None) -> 'NetworkInterface'"
    ),
    "moto.ec2.models.instances.Instance.attach_eni": (
        "(self, eni: 'NetworkInterface', device_index: 'int') -> 'str'"
    ),
    "moto.ec2.models.instances.Instance.prep_nics": (
        "(self, nic_spec: 'list[dict[str, Any]]', private_ip: 'str | None' = None, "
        "associate_public_ip: 'bool | None' = None, security_groups: "
        "'list[SecurityGroup] | None' = None, ipv6_address_count: 'int | None' = None) -> 'None'"
    ),
    "moto.ec2.models.subnets.Subnet.get_available_subnet_ip": (
        "(self, instance: 'Instance') -> 'str'"
    ),
    "moto.ec2.models.subnets.Subnet.request_ip": (
        "(self, ip: 'str', instance: 'Instance') -> 'None'"
    ),
    "moto.ec2.models.subnets.Subnet.del_subnet_ip": "(self, ip: 'str') -> 'None'",
    "moto.ec2.models.subnets.Subnet.available_ip_address_count": "property",
    "moto.ec2.models.subnets.Subnet.create_cidr_reservation": (
        "(self, reservation_type: \"Literal['explicit'] | Literal['prefix']\", "
        "cidr_block: 'ipaddress.IPv4Network | ipaddress.IPv6Network', "
        "tag_specifications: 'list[dict[str, Any]] | None' = None) -> 'SubnetCidrReservation'"
    ),
    "moto.ec2.models.subnets.Subnet.delete_subnet_cidr_reservation": (
        "(self, reservation_id: 'str') -> 'SubnetCidrReservation | None'"
    ),
    "moto.ec2.models.subnets.SubnetBackend.delete_subnet": ("(self, subnet_id: 'str') -> 'Subnet'"),
    "moto.ec2.responses.elastic_network_interfaces.ElasticNetworkInterfaces."
    "assign_private_ip_addresses": "(self) -> moto.core.responses.ActionResult",
    "moto.ec2.responses.elastic_network_interfaces.ElasticNetworkInterfaces."
    "unassign_private_ip_addresses": "(self) -> moto.core.responses.ActionResult",
}

_state: dict[str, Any] = {}


def describe_original(dotted: str) -> str:
    """Signature text of the moto attribute ``dotted`` as moto ships it (pre-patch)."""
    originals = _state.get("originals", {})
    obj = originals.get(dotted)
    if obj is None:
        obj = _resolve(dotted)
    if isinstance(obj, property):
        return "property"
    return str(inspect.signature(obj))


def _resolve(dotted: str) -> Any:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            obj = getattr(obj, attr)
        owner = obj
        return owner.__dict__[parts[-1]] if isinstance(owner, type) else getattr(owner, parts[-1])
    raise ImportError(dotted)


def rules() -> Ec2Rules:
    """The process-wide rules object (moto's state is process-wide too)."""
    return _state["rules"]  # type: ignore[no-any-return]


def catalog() -> InstanceTypeCatalog:
    """Instance-type limits from moto's own DescribeInstanceTypes data."""
    return _state["catalog"]  # type: ignore[no-any-return]


def _moto_error(err: Ec2Error) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(err.code, err.message)


def _translating(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Raise our Ec2Error as moto's EC2ClientError so moto renders EC2's XML error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Ec2Error as err:
            raise _moto_error(err) from err

    return wrapper


def limits_of_eni(eni: Any) -> EniLimits:
    """Limits that apply to ``eni``: its instance's type, or the unattached default."""
    instance = getattr(eni, "instance", None)
    if instance is None:
        return UNATTACHED
    return catalog().limits(instance.instance_type)


def assign(
    eni: Any,
    *,
    ip_count: int = 0,
    addresses: list[str] | None = None,
    prefix_count: int = 0,
    prefixes: list[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Assign through the rules and mirror the result into moto's ENI."""
    r = rules()
    with r.lock:
        new_ips, new_prefixes = r.assign(
            eni.id,
            limits_of_eni(eni),
            ip_count=ip_count,
            addresses=addresses or (),
            prefix_count=prefix_count,
            prefixes=prefixes or (),
        )
        eni.private_ip_addresses.extend(
            {"Primary": False, "PrivateIpAddress": ip} for ip in new_ips
        )
        eni.ipv4_prefixes.extend({"Ipv4Prefix": p} for p in new_prefixes)
        return new_ips, new_prefixes


def unassign(
    eni: Any, *, addresses: list[str] | None = None, prefixes: list[str] | None = None
) -> None:
    """Unassign through the rules and mirror the result into moto's ENI."""
    r = rules()
    with r.lock:
        r.unassign(eni.id, addresses=addresses or (), prefixes=prefixes or ())
        gone = set(addresses or ())
        eni.private_ip_addresses[:] = [
            item for item in eni.private_ip_addresses if item.get("PrivateIpAddress") not in gone
        ]
        dropped = set(prefixes or ())
        eni.ipv4_prefixes[:] = [p for p in eni.ipv4_prefixes if p["Ipv4Prefix"] not in dropped]


def install(r: Ec2Rules | None = None) -> Ec2Rules:
    """Patch moto (once per process) and return the process-wide rules object."""
    if "rules" in _state:
        return rules()
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"fake_ec2 patches moto {MOTO_VERSION} but moto {moto.__version__} is installed; "
            "re-check fake_ec2/moto_patch.py against the new moto and update PATCHED"
        )
    from moto.core.responses import ActionResult, EmptyResult
    from moto.ec2.models import elastic_network_interfaces as eni_mod
    from moto.ec2.models import instances as inst_mod
    from moto.ec2.models import subnets as subnet_mod
    from moto.ec2.models.instance_types import INSTANCE_TYPES
    from moto.ec2.responses import elastic_network_interfaces as eni_resp

    r = r or Ec2Rules()
    originals = {name: _resolve(name) for name in PATCHED}
    _state.update(rules=r, catalog=InstanceTypeCatalog(INSTANCE_TYPES), originals=originals)

    NetworkInterface = eni_mod.NetworkInterface
    Backend = eni_mod.NetworkInterfaceBackend
    Instance = inst_mod.Instance
    Subnet = subnet_mod.Subnet
    orig_init = NetworkInterface.__init__
    orig_delete = Backend.delete_network_interface
    orig_attach = Instance.attach_eni
    orig_prep_nics = Instance.prep_nics
    orig_create_resv = Subnet.create_cidr_reservation
    orig_delete_resv = Subnet.delete_subnet_cidr_reservation
    orig_delete_subnet = subnet_mod.SubnetBackend.delete_subnet

    def eni_init(
        self: Any,
        ec2_backend: Any,
        subnet: Any,
        private_ip_address: Any,
        private_ip_addresses: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if isinstance(subnet, str):
            subnet = ec2_backend.get_subnet(subnet)
        # Primary: explicit, first of an explicit list, or the lowest free address.
        explicit = list(private_ip_addresses or [])
        primary = (
            private_ip_address[0]
            if isinstance(private_ip_address, list) and private_ip_address
            else private_ip_address or None
        )
        extra: list[str] = []
        for item in explicit:
            ip = item.get("PrivateIpAddress") if isinstance(item, dict) else item
            is_primary = isinstance(item, dict) and str(item.get("Primary")).lower() == "true"
            if primary is None and (is_primary or not extra):
                primary = ip
            elif ip and ip != primary:
                extra.append(str(ip))
        secondary_count = int(kwargs.pop("secondary_ips_count", None) or 0)
        prefix_count = int(kwargs.pop("ipv4_prefix_count", None) or 0)
        with r.lock:
            alloc = r.subnet(subnet.id, subnet.cidr_block)
            holder = f"creating:{id(self)}"
            ip = (
                alloc.claim_ip(primary, holder, steal_from=PENDING_LAUNCH)
                if primary
                else alloc.allocate_ip(holder)
            )
            try:
                orig_init(self, ec2_backend, subnet, ip, None, *args, **kwargs)
            except Exception:
                alloc.release_ip(ip, holder)
                raise
            alloc.release_ip(ip, holder)
            r.create_eni(self.id, subnet.id, subnet.cidr_block, ip)
            self.ipv4_prefixes = []
            try:
                if extra or secondary_count:
                    assign(self, addresses=extra, ip_count=secondary_count)
                if prefix_count:
                    assign(self, prefix_count=prefix_count)
            except Exception:
                r.delete_eni(self.id)
                raise

    def delete_network_interface(self: Any, eni_id: str) -> None:
        orig_delete(self, eni_id)
        r.delete_eni(eni_id)

    def assign_private_ip_addresses(
        self: Any,
        eni_id: str,
        private_ip_addresses: list[str] | None = None,
        secondary_ips_count: int | None = None,
    ) -> Any:
        eni = self.get_network_interface(eni_id)
        assign(eni, addresses=private_ip_addresses, ip_count=int(secondary_ips_count or 0))
        return eni

    def unassign_private_ip_addresses(
        self: Any, eni_id: str, private_ip_address: list[str] | None = None
    ) -> Any:
        eni = self.get_network_interface(eni_id)
        unassign(eni, addresses=private_ip_address)
        return eni

    def attach_eni(self: Any, eni: Any, device_index: int) -> str:
        limits = catalog().limits(self.instance_type)
        with r.lock:
            if eni not in self.nics.values() and len(self.nics) >= limits.max_interfaces:
                raise AttachmentLimitExceeded(len(self.nics) + 1, self.instance_type)
            return orig_attach(self, eni, device_index)  # type: ignore[no-any-return]

    def prep_nics(self: Any, nic_spec: Any, *args: Any, **kwargs: Any) -> None:
        orig_prep_nics(self, nic_spec, *args, **kwargs)
        # EC2: the primary interface a launch creates (no NetworkInterfaces given) is
        # deleted with the instance, releasing its addresses; moto keeps it in-use.
        if not nic_spec and 0 in self.nics:
            self.nics[0].delete_on_termination = True

    def get_available_subnet_ip(self: Any, instance: Any) -> str:
        return r.subnet(self.id, self.cidr_block).allocate_ip(PENDING_LAUNCH)

    def request_ip(self: Any, ip: str, instance: Any) -> None:
        r.subnet(self.id, self.cidr_block).claim_ip(ip, PENDING_LAUNCH)

    def del_subnet_ip(self: Any, ip: str) -> None:
        alloc = r.known_subnet(self.id)
        if alloc is not None:
            alloc.release_ip(ip, PENDING_LAUNCH)

    def available_ip_address_count(self: Any) -> int:
        return r.subnet(self.id, self.cidr_block).available_count

    def create_cidr_reservation(
        self: Any, reservation_type: Any, cidr_block: Any, tag_specifications: Any = None
    ) -> Any:
        with r.lock:
            resv = orig_create_resv(self, reservation_type, cidr_block, tag_specifications)
            if cidr_block.version == 4:
                try:
                    r.add_reservation(
                        self.id,
                        self.cidr_block,
                        CidrReservation(resv.id, str(cidr_block), str(reservation_type)),
                    )
                except Exception:
                    orig_delete_resv(self, resv.id)
                    raise
            return resv

    def delete_subnet_cidr_reservation(self: Any, reservation_id: str) -> Any:
        with r.lock:
            resv = orig_delete_resv(self, reservation_id)
            if resv is not None:
                r.remove_reservation(reservation_id)
            return resv

    @_translating
    def delete_subnet(self: Any, subnet_id: str) -> Any:
        # EC2 refuses while an interface lives in the subnet (moto would delete it).
        if any(eni.subnet.id == subnet_id for eni in getattr(self, "enis", {}).values()):
            raise DependencyViolation(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        subnet = orig_delete_subnet(self, subnet_id)
        r.forget_subnet(subnet_id)
        return subnet

    def resp_assign(self: Any) -> Any:
        eni = self.ec2_backend.get_network_interface(self._get_param("NetworkInterfaceId"))
        new_ips, new_prefixes = assign(
            eni,
            ip_count=self._get_int_param("SecondaryPrivateIpAddressCount", 0),
            addresses=self._get_param("PrivateIpAddresses", []),
            prefix_count=self._get_int_param("Ipv4PrefixCount", 0),
            prefixes=self._get_param("Ipv4Prefixes", []),
        )
        # EC2 lists only what this call assigned (moto lists the whole ENI).
        return ActionResult(
            {
                "NetworkInterfaceId": eni.id,
                "AssignedPrivateIpAddresses": [{"PrivateIpAddress": ip} for ip in new_ips],
                "AssignedIpv4Prefixes": [{"Ipv4Prefix": p} for p in new_prefixes],
            }
        )

    def resp_unassign(self: Any) -> Any:
        eni = self.ec2_backend.get_network_interface(self._get_param("NetworkInterfaceId"))
        unassign(
            eni,
            addresses=self._get_param("PrivateIpAddresses", []),
            prefixes=self._get_param("Ipv4Prefixes", []),
        )
        return EmptyResult()

    NetworkInterface.__init__ = _translating(eni_init)  # type: ignore[method-assign]
    NetworkInterface.ipv4_prefixes = []  # type: ignore[attr-defined]  # default for older ENIs
    Backend.delete_network_interface = _translating(delete_network_interface)  # type: ignore[method-assign]
    Backend.assign_private_ip_addresses = _translating(assign_private_ip_addresses)  # type: ignore[method-assign]
    Backend.unassign_private_ip_addresses = _translating(unassign_private_ip_addresses)  # type: ignore[method-assign]
    Instance.attach_eni = _translating(attach_eni)  # type: ignore[method-assign]
    Instance.prep_nics = _translating(prep_nics)  # type: ignore[method-assign]
    Subnet.get_available_subnet_ip = _translating(get_available_subnet_ip)  # type: ignore[method-assign]
    Subnet.request_ip = _translating(request_ip)  # type: ignore[method-assign]
    Subnet.del_subnet_ip = del_subnet_ip  # type: ignore[method-assign]
    Subnet.available_ip_address_count = property(available_ip_address_count)  # type: ignore[method-assign,assignment]
    Subnet.create_cidr_reservation = _translating(create_cidr_reservation)  # type: ignore[method-assign]
    Subnet.delete_subnet_cidr_reservation = delete_subnet_cidr_reservation  # type: ignore[method-assign]
    subnet_mod.SubnetBackend.delete_subnet = delete_subnet  # type: ignore[method-assign]
    eni_resp.ElasticNetworkInterfaces.assign_private_ip_addresses = _translating(resp_assign)  # type: ignore[method-assign]
    eni_resp.ElasticNetworkInterfaces.unassign_private_ip_addresses = _translating(resp_unassign)  # type: ignore[method-assign]
    return r


def reset_all() -> None:
    """Clear moto's EC2 state (every account and region) and the rules' state."""
    from moto.ec2.models import ec2_backends

    r = rules()
    with r.lock:
        ec2_backends.reset()
        r.reset()


def find_subnet(subnet_id: str) -> Any:
    """moto's Subnet object ``subnet_id`` in any account/region, or None."""
    from moto.ec2.models import ec2_backends

    for account in list(ec2_backends.values()):
        for backend in list(account.values()):
            for az_subnets in backend.subnets.values():
                if subnet_id in az_subnets:
                    return az_subnets[subnet_id]
    return None
