"""Call the CNI plugin as containerd does: exec with CNI_* env and the netconf on stdin.

``exec`` mode (default, always in tests and e2e) runs the ``ekswin-cni`` binary per
call; ``inprocess`` mode calls the same ``harness.cni.plugin.run`` in a worker thread
for very large runs. Concurrency is bounded by a semaphore, not by threads per pod.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.nodes.config import CniSettings
from harness.nodes.spec import InstanceInfo, NodeSpec


@dataclass(frozen=True)
class CniOutcome:
    """The result of one plugin call."""

    ok: bool
    code: int
    result: dict[str, Any]  # the result JSON (ADD) or the error JSON
    stderr: str = ""
    queued_s: float = 0.0  # waiting for a free CNI slot (the concurrency bound)
    ran_s: float = 0.0  # the plugin call itself

    @property
    def message(self) -> str:
        """The error ``msg`` (with details), for Events."""
        msg = str(self.result.get("msg", "")) or self.stderr.strip() or f"exit status {self.code}"
        details = self.result.get("details")
        return f"{msg}: {details}" if details else msg


def default_binary() -> str:
    """``ekswin-cni`` next to the running interpreter (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).with_name("ekswin-cni")
    return str(candidate) if candidate.exists() else "ekswin-cni"


def build_netconf(
    settings: CniSettings, spec: NodeSpec, instance: InstanceInfo, kubeconfig: str, hns_target: str
) -> dict[str, Any]:
    """The vpc-bridge netconf for one node (docs/nodes.md shows an example)."""
    prefix = instance.subnet_cidr.split("/")[1]
    import ipaddress

    gateway = str(ipaddress.ip_network(instance.subnet_cidr).network_address + 1)
    return {
        "cniVersion": settings.cni_version,
        "name": settings.netconf_name,
        "type": "ekswin-cni",
        "capabilities": {"portMappings": True, "dns": True},
        "eniMACAddress": instance.mac,
        "eniIPAddresses": [f"{instance.private_ip}/{prefix}"],
        "vpcCIDRs": list(instance.vpc_cidrs) or [instance.subnet_cidr],
        "serviceCIDR": settings.service_cidr,
        "gatewayIPAddress": gateway,
        "dns": {"nameservers": list(settings.dns_servers), "search": list(settings.dns_search)},
        "kubeconfig": kubeconfig,
        "hnsEndpoint": hns_target,
        "hnsHost": spec.name,
        "annotationTimeoutSeconds": settings.annotation_timeout_s,
    }


class CniRunner:
    """Runs plugin calls with bounded concurrency."""

    def __init__(self, settings: CniSettings) -> None:
        self.settings = settings
        self.binary = settings.binary or default_binary()
        self.sem = asyncio.Semaphore(settings.concurrency)
        self.calls = 0
        # In-process calls block a thread while the plugin waits for the annotation:
        # give them their own pool sized like the concurrency bound.
        self.pool = (
            ThreadPoolExecutor(settings.concurrency, thread_name_prefix="cni")
            if settings.mode == "inprocess"
            else None
        )

    async def call(
        self,
        command: str,
        netconf: dict[str, Any],
        *,
        container_id: str,
        netns: str,
        namespace: str,
        pod_name: str,
        port_mappings: list[dict[str, Any]] | None = None,
    ) -> CniOutcome:
        """One ADD/DEL/CHECK call for a pod sandbox."""
        conf = dict(netconf)
        if port_mappings:
            conf["runtimeConfig"] = {"portMappings": port_mappings}
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(Path(self.binary).parent),
            "CNI_ARGS": (
                f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={pod_name};"
                f"K8S_POD_INFRA_CONTAINER_ID={container_id}"
            ),
        }
        stdin = json.dumps(conf).encode()
        t_queue = time.monotonic()
        async with self.sem:
            t_run = time.monotonic()
            self.calls += 1
            if self.settings.mode == "inprocess":
                from harness.cni.plugin import run

                code, out = await asyncio.get_running_loop().run_in_executor(
                    self.pool, run, env, stdin
                )
                err = ""
            else:
                full_env = {"PATH": os.environ.get("PATH", ""), **env}
                proc = await asyncio.create_subprocess_exec(
                    self.binary,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=full_env,
                )
                out_b, err_b = await proc.communicate(stdin)
                code, out, err = proc.returncode or 0, out_b.decode(), err_b.decode()
        t_end = time.monotonic()
        try:
            result = json.loads(out) if out.strip() else {}
        except ValueError:
            result = {"msg": f"invalid plugin output: {out[:200]!r}"}
        return CniOutcome(
            code == 0,
            code,
            result if isinstance(result, dict) else {},
            err,
            t_run - t_queue,
            t_end - t_run,
        )
