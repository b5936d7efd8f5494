"""``python -m bench._hostnet_kubelet --config agent.json``: the node agent's kubelet
emulation for host-network pods of the same nodes, as the benchmark's baseline.

The node agent leaves host-network pods alone (``Kubelet.on_pod`` returns for them), so
they would stay Pending. This process drives them with the same ``Kubelet`` class: the
same status writes (ContainerCreating, then Running and Ready) with each node's own
identity, the same timing profile's delays and the same deletion, but no sandbox network
(no HNS namespace, no CNI call; the pod's IP is its node's, as on a real kubelet). One
shared pod watch, one bounded worker pool, like the agent (``api_workers`` of its config).

Prints ``listening on file://<config>`` once the watch has synced; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.kube.informer import Informer
from harness.kube.rest import RestClient
from harness.nodes import profiles
from harness.nodes.cnirunner import CniRunner
from harness.nodes.config import AgentConfig, CniSettings
from harness.nodes.kubelet import Kubelet, PodRuntime


class HostNetworkKubelet(Kubelet):
    """``Kubelet`` for host-network pods only: the sandbox step makes no network."""

    def on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        """Take the host-network pods the node agent ignores; leave it the others."""
        spec = pod.get("spec") or {}
        if not spec.get("hostNetwork"):
            return
        # Kubelet.on_pod skips host-network pods; hand it a copy without the flag.
        super().on_pod(etype, {**pod, "spec": {**spec, "hostNetwork": False}})

    async def _create_sandbox(self, pr: PodRuntime, sandbox: str) -> str | None:
        """A host-network sandbox joins the host's network: nothing to create, no CNI."""
        pr.pod_ip = self.host_ip
        return None


async def run(config: AgentConfig, config_path: Path) -> None:
    """Drive the config's nodes' host-network pods until SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    executor = ThreadPoolExecutor(config.api_workers, thread_name_prefix="hostnet-io")

    async def call(fn: Any, *args: Any, **kw: Any) -> Any:
        return await loop.run_in_executor(executor, lambda: fn(*args, **kw))

    profile = profiles.load(config.timing_profile)
    rng = random.Random(config.seed)
    # Never called (no sandbox network); the Kubelet constructor wants one.
    cni = CniRunner(CniSettings(mode="inprocess", concurrency=1))
    kubelets: dict[str, HostNetworkKubelet] = {}
    for entry in config.nodes:
        assert entry.instance is not None, "the environment's agent config names instances"
        client = await call(RestClient, entry.kubeconfig, config.api_workers)
        kubelets[entry.spec.name] = HostNetworkKubelet(
            node_name=entry.spec.name,
            host_ip=entry.instance.private_ip,
            client=client,
            hns=None,
            netconf={},
            cni=cni,
            profile=profile,
            rng=random.Random(rng.random()),
            call=call,
        )

    def on_pod(etype: str, pod: dict[str, Any]) -> None:
        kubelet = kubelets.get((pod.get("spec") or {}).get("nodeName") or "")
        if kubelet is not None:
            kubelet.on_pod(etype, pod)

    watcher = await call(RestClient, config.watch_kubeconfig or config.nodes[0].kubeconfig, 8)
    informer = Informer(
        watcher, "/api/v1/pods", loop, on_pod, {"fieldSelector": "spec.nodeName!="}, "pods"
    ).start()
    await call(informer.synced.wait, 60)
    if not informer.synced.is_set():
        raise RuntimeError("pod watch did not sync within 60 s")
    print(f"listening on file://{config_path}", flush=True)
    await stopping.wait()
    informer.stop()
    for kubelet in kubelets.values():
        kubelet.stop()
    executor.shutdown(wait=False, cancel_futures=True)
    await cni.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run until stopped."""
    parser = argparse.ArgumentParser(prog="python -m bench._hostnet_kubelet")
    parser.add_argument("--config", required=True, type=Path, help="the node agent's JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run(AgentConfig.read(args.config), args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
