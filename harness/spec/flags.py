"""`ekswin up` flags -> an environment spec (the same validation as a file)."""

from __future__ import annotations

from typing import Any

from harness.spec.load import SpecError, parse_spec
from harness.spec.model import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MAX_PODS,
    DEFAULT_SUBNET_CIDR,
    DEFAULT_VPC_CIDR,
    EnvSpec,
)

# Which flag set which spec field, so a flag's bad value is reported by its flag name.
FLAG_OF_FIELD = {
    "nodes[0].instance_type": "--instance-type",
    "nodes[0].max_pods": "--max-pods",
    "nodes[0].count": "--windows-nodes",
    "vpc.subnets[0].cidr": "--subnet",
    "seed": "--seed",
    "controller.replicas": "--controller",
}


def spec_document(
    *,
    windows_nodes: int = 0,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    prefix_delegation: bool = False,
    subnet: str = DEFAULT_SUBNET_CIDR,
    max_pods: int = DEFAULT_MAX_PODS,
    dsr: bool = False,
    backend: str = "auto",
    timing: str = "real",
    seed: int = 0,
    name: str = "",
    controller: str = "python",
) -> dict[str, Any]:
    """The spec document the flags describe. One node is `win-0`, N nodes `win-0..N-1`."""
    doc: dict[str, Any] = {
        "version": 1,
        "seed": seed,
        "backend": backend,
        "timing": timing,
        "vpc": {"cidr": DEFAULT_VPC_CIDR, "subnets": [{"name": "a", "cidr": subnet}]},
        "kube_proxy": {"dsr": dsr},
    }
    if name:
        doc["name"] = name
    if controller != "python":
        doc["controller"] = {"implementation": controller}
    if windows_nodes > 0:
        doc["configmap"] = {"enable-windows-ipam": "true"}
        if prefix_delegation:
            doc["configmap"]["enable-windows-prefix-delegation"] = "true"
        group_name = "win-0" if windows_nodes == 1 else "win"
        doc["nodes"] = [
            {
                "name": group_name,
                "instance_type": instance_type,
                "subnet": "a",
                "count": windows_nodes,
                "max_pods": max_pods,
            }
        ]
    return doc


def spec_from_flags(**flags: Any) -> EnvSpec:
    """Build and validate the spec; errors name the flag that set the bad field."""
    try:
        return parse_spec(spec_document(**flags), "command line")
    except SpecError as e:
        for p in e.problems:
            from harness.spec.load import format_path

            flag = FLAG_OF_FIELD.get(format_path(p.path))
            if flag:
                object.__setattr__(p, "message", f"{flag}: {p.message}")
        raise SpecError(e.source, e.problems) from None
