"""Kubelet emulation for the pods bound to one node (an asyncio task per pod, no threads).

Lifecycle (containerd + kubelet, as seen from the API):
1. Pod bound here -> status Pending with containers waiting ``ContainerCreating``.
2. Sandbox: after the profile's sandbox delay, an HNS namespace is created for the
   sandbox (as containerd does on Windows) and the CNI plugin runs ADD with
   ``CNI_NETNS`` = that namespace id. On failure: a Warning Event
   ``FailedCreatePodSandBox`` (source kubelet, host node) with containerd's message,
   DEL for the failed sandbox, namespace removed, retry with a new sandbox id after
   the profile's doubling backoff.
3. After image pull + container start delays: Running and Ready with podIP(s).
4. deletionTimestamp set -> containers stop (profile delay, capped by the grace
   period), CNI DEL, namespace removed, pod deleted with grace 0 (uid precondition).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.kube.api import ApiError
from harness.kube.rest import RestClient
from harness.nodes import podstatus
from harness.nodes.cnirunner import CniRunner
from harness.nodes.profiles import TimingProfile

log = logging.getLogger("ekswin.nodes.kubelet")

Call = Callable[..., Awaitable[Any]]


def now_rfc3339() -> str:
    """Seconds-precision UTC timestamp as Kubernetes writes it."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRuntime:
    """What the emulated kubelet tracks for one pod."""

    uid: str
    namespace: str
    name: str
    pod: dict[str, Any]
    deleting: asyncio.Event = field(default_factory=asyncio.Event)
    gone: bool = False  # the API object no longer exists
    task: asyncio.Task[None] | None = None
    sandbox: str = ""
    netns: str = ""
    pod_ip: str = ""
    failures: int = 0
    cni_add_s: float = 0.0
    cni_queued_s: float = 0.0
    events: dict[str, tuple[str, int]] = field(default_factory=dict)  # reason -> (name, count)
    attempt: int = 0  # sandboxes created so far (the next one's id derives from it)
    recreating: bool = False  # its sandbox network vanished; a new sandbox is on its way


class Kubelet:
    """Pods of one node."""

    def __init__(
        self,
        *,
        node_name: str,
        host_ip: str,
        client: RestClient,
        hns: Any,
        netconf: dict[str, Any],
        cni: CniRunner,
        profile: TimingProfile,
        rng: random.Random,
        call: Call,
    ) -> None:
        self.node_name = node_name
        self.host_ip = host_ip
        self.client = client
        self.hns = hns  # harness.hns.NodeHns (blocking; used through `call`)
        self.netconf = netconf
        self.cni = cni
        self.profile = profile
        self.rng = rng
        self.call = call
        self.pods: dict[str, PodRuntime] = {}
        self._recreations: set[asyncio.Task[None]] = set()
        self.on_sandbox_recreated: Callable[[], None] | None = None

    # -- events from the shared pod watch (loop thread) ---------------------------------
    def on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        """Dispatch one watch event for a pod bound to this node."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        pr = self.pods.get(uid)
        if etype == "DELETED":
            if pr is not None:
                pr.gone = True
                pr.deleting.set()
            return
        phase = (pod.get("status") or {}).get("phase")
        if pr is None:
            if phase in ("Succeeded", "Failed"):
                return
            pr = PodRuntime(uid, str(meta.get("namespace")), str(meta.get("name")), pod)
            self.pods[uid] = pr
            pr.task = asyncio.get_running_loop().create_task(
                self._lifecycle(pr), name=f"pod {pr.namespace}/{pr.name}"
            )
        pr.pod = pod
        if meta.get("deletionTimestamp"):
            pr.deleting.set()

    def stop(self) -> None:
        """Cancel every pod task (agent shutdown; nothing is torn down)."""
        for pr in self.pods.values():
            if pr.task:
                pr.task.cancel()
        for task in list(self._recreations):
            task.cancel()

    # -- lifecycle ------------------------------------------------------------------------
    async def _sleep_unless_deleted(self, pr: PodRuntime, seconds: float) -> bool:
        """Sleep; True when the pod started terminating meanwhile."""
        if seconds <= 0:
            return pr.deleting.is_set()
        try:
            await asyncio.wait_for(pr.deleting.wait(), seconds)
            return True
        except TimeoutError:
            return False

    async def _lifecycle(self, pr: PodRuntime) -> None:
        try:
            status = pr.pod.get("status") or {}
            if status.get("phase") == "Running" and status.get("podIP"):
                await self._adopt(pr)
            else:
                await self._start(pr)
            await pr.deleting.wait()
            await self._terminate(pr)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s: lifecycle failed", pr.namespace, pr.name)
        finally:
            self.pods.pop(pr.uid, None)

    async def _adopt(self, pr: PodRuntime) -> None:
        """A pod already Running when the agent (re)starts: find its sandbox in HNS."""
        pr.pod_ip = str(pr.pod["status"]["podIP"])
        if _host_network(pr.pod):
            pr.sandbox = podstatus.sandbox_id(pr.uid, pr.attempt)
            return
        found = await self.call(self.hns.find_endpoint_by_ip, pr.pod_ip)
        if found is not None:
            ep, ns_id = found
            pr.sandbox = ep.name.removeprefix("cid-")
            pr.netns = ns_id or ""

    async def _patch_status(self, pr: PodRuntime, status: dict[str, Any]) -> bool:
        body = {"metadata": {"uid": pr.uid}, "status": status}
        try:
            await self.call(
                self.client.patch, f"/api/v1/namespaces/{pr.namespace}/pods/{pr.name}/status", body
            )
            return True
        except ApiError as e:
            if e.status in (404, 409):
                return False
            raise

    async def _start(self, pr: PodRuntime) -> None:
        t_seen = time.monotonic()
        start_time = (pr.pod.get("status") or {}).get("startTime") or now_rfc3339()
        await self._patch_status(pr, podstatus.container_creating(pr.pod, self.host_ip, start_time))
        attempt = 0
        while True:
            if await self._sleep_unless_deleted(
                pr, self.profile.delay_s("sandbox_create", self.rng)
            ):
                return
            sandbox = podstatus.sandbox_id(pr.uid, pr.attempt)
            attempt += 1
            pr.attempt += 1
            error = await self._create_sandbox(pr, sandbox)
            if error is None:
                break
            pr.failures += 1
            await self._record_event(pr, "FailedCreatePodSandBox", error, "Warning")
            if await self._sleep_unless_deleted(pr, self.profile.backoff_s(pr.failures)):
                return
        delay = self.profile.delay_s("image_pull", self.rng) + self.profile.delay_s(
            "container_start", self.rng
        )
        if await self._sleep_unless_deleted(pr, delay):
            return
        await self._patch_status(
            pr, podstatus.running(pr.pod, self.host_ip, pr.pod_ip, start_time, now_rfc3339())
        )
        log.info(
            "pod %s/%s Running on %s ip=%s after %.2fs (CNI ADD %.2fs of which queued %.2fs, "
            "%d attempt(s))",
            pr.namespace,
            pr.name,
            self.node_name,
            pr.pod_ip,
            time.monotonic() - t_seen,
            pr.cni_add_s,
            pr.cni_queued_s,
            attempt,
        )

    async def _create_sandbox(self, pr: PodRuntime, sandbox: str) -> str | None:
        """Namespace + CNI ADD; None on success, else the FailedCreatePodSandBox message.

        A hostNetwork pod's sandbox shares the node's network, as the kubelet does it: no
        HNS namespace, no CNI call, and the pod IP is the node's own address."""
        if _host_network(pr.pod):
            pr.sandbox, pr.netns, pr.pod_ip = sandbox, "", self.host_ip
            return None
        try:
            netns = await self.call(self.hns.create_namespace)
        except Exception as e:
            return (
                f"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to "
                f'create network namespace for sandbox "{sandbox}": {e}'
            )
        t0 = time.monotonic()
        outcome = await self.cni.call(
            "ADD",
            self.netconf,
            container_id=sandbox,
            netns=netns,
            namespace=pr.namespace,
            pod_name=pr.name,
            port_mappings=_port_mappings(pr.pod),
        )
        pr.cni_add_s = time.monotonic() - t0
        pr.cni_queued_s = outcome.queued_s
        if outcome.ok:
            ips = outcome.result.get("ips") or []
            pr.sandbox, pr.netns = sandbox, netns
            pr.pod_ip = str(ips[0]["address"]).split("/")[0] if ips else ""
            return None
        # containerd tears the failed sandbox's network down before giving up on it.
        await self.cni.call(
            "DEL",
            self.netconf,
            container_id=sandbox,
            netns=netns,
            namespace=pr.namespace,
            pod_name=pr.name,
        )
        try:
            await self.call(self.hns.delete_namespace, netns)
        except Exception as e:
            log.warning("pod %s/%s: namespace cleanup failed: %s", pr.namespace, pr.name, e)
        return podstatus.sandbox_failure_message(
            sandbox, str(self.netconf["name"]), outcome.message
        )

    # -- sandboxes whose network vanished (HNS restarted empty) --------------------------
    def recreate_lost_sandboxes(self) -> int:
        """Start re-creating the sandbox of every running pod (docs/nodes.md: recovery):
        its HNS endpoint is gone, so, as the kubelet does when a sandbox's network is
        not ready, it is killed and re-created (event SandboxChanged); CNI ADD gives it
        its annotated IP again. Returns how many pods that concerns."""
        loop = asyncio.get_running_loop()
        count = 0
        for pr in list(self.pods.values()):
            if (
                pr.sandbox
                and not pr.deleting.is_set()
                and not pr.recreating
                and not _host_network(pr.pod)
            ):
                pr.recreating = True
                count += 1
                task = loop.create_task(
                    self._recreate(pr), name=f"resandbox {pr.namespace}/{pr.name}"
                )
                self._recreations.add(task)  # a reference, or the loop may drop the task
                task.add_done_callback(self._recreations.discard)
        return count

    def pod_ips(self) -> frozenset[str]:
        """The sandbox-network IPs of this node's pods (any thread; a snapshot)."""
        return frozenset(
            pr.pod_ip for pr in list(self.pods.values()) if pr.pod_ip and not _host_network(pr.pod)
        )

    def lost_sandboxes(self) -> list[str]:
        """namespace/name of pods whose sandbox is being re-created (no endpoint now)."""
        return sorted(f"{pr.namespace}/{pr.name}" for pr in self.pods.values() if pr.recreating)

    async def _recreate(self, pr: PodRuntime) -> None:
        try:
            await self._record_event(
                pr, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.",
                "Normal",
            )  # fmt: skip
            old, old_ns = pr.sandbox, pr.netns
            # StopPodSandbox first: CNI DEL of the old sandbox (its endpoint is gone).
            await self.cni.call(
                "DEL", self.netconf, container_id=old, netns=old_ns,
                namespace=pr.namespace, pod_name=pr.name,
            )  # fmt: skip
            failures = 0
            while not pr.deleting.is_set():
                sandbox = podstatus.sandbox_id(pr.uid, pr.attempt)
                pr.attempt += 1
                error = await self._create_sandbox(pr, sandbox)
                if error is None:
                    break
                failures += 1
                await self._record_event(pr, "FailedCreatePodSandBox", error, "Warning")
                if await self._sleep_unless_deleted(pr, self.profile.backoff_s(failures)):
                    return
            else:
                return
            start_time = (pr.pod.get("status") or {}).get("startTime") or now_rfc3339()
            await self._patch_status(
                pr, podstatus.running(pr.pod, self.host_ip, pr.pod_ip, start_time, now_rfc3339())
            )
            log.info("pod %s/%s: sandbox re-created, ip=%s", pr.namespace, pr.name, pr.pod_ip)
            if self.on_sandbox_recreated is not None:
                self.on_sandbox_recreated()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s: sandbox re-creation failed", pr.namespace, pr.name)
        finally:
            pr.recreating = False

    async def _terminate(self, pr: PodRuntime) -> None:
        grace = (pr.pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
        stop = self.profile.delay_s("container_stop", self.rng)
        if grace is not None:
            stop = min(stop, float(grace))
        if stop > 0 and not pr.gone:
            await asyncio.sleep(stop)
        if pr.sandbox and not _host_network(pr.pod):
            outcome = await self.cni.call(
                "DEL",
                self.netconf,
                container_id=pr.sandbox,
                netns=pr.netns,
                namespace=pr.namespace,
                pod_name=pr.name,
            )
            if not outcome.ok:
                log.warning("pod %s/%s: CNI DEL failed: %s", pr.namespace, pr.name, outcome.message)
            if pr.netns:
                try:
                    await self.call(self.hns.delete_namespace, pr.netns)
                except Exception as e:
                    log.warning("pod %s/%s: namespace delete: %s", pr.namespace, pr.name, e)
        if not pr.gone:
            body = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": pr.uid},
            }
            try:
                await self.call(
                    self.client.delete, f"/api/v1/namespaces/{pr.namespace}/pods/{pr.name}", body
                )
            except ApiError as e:
                if e.status not in (404, 409):
                    raise

    async def _record_event(self, pr: PodRuntime, reason: str, message: str, etype: str) -> None:
        """Create the Event once, then bump count/message like the event correlator."""
        now = now_rfc3339()
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": pr.namespace,
            "name": pr.name,
            "uid": pr.uid,
            "resourceVersion": (pr.pod.get("metadata") or {}).get("resourceVersion", ""),
        }
        base = f"/api/v1/namespaces/{pr.namespace}/events"
        try:
            if reason in pr.events:
                name, count = pr.events[reason]
                await self.call(
                    self.client.patch,
                    f"{base}/{name}",
                    {"count": count + 1, "message": message, "lastTimestamp": now},
                )
                pr.events[reason] = (name, count + 1)
                return
            name = f"{pr.name}.{self.rng.getrandbits(64):016x}"
            await self.call(
                self.client.post,
                base,
                podstatus.event_body(
                    name=name,
                    namespace=pr.namespace,
                    involved=involved,
                    reason=reason,
                    message=message,
                    event_type=etype,
                    component="kubelet",
                    host=self.node_name,
                    now=now,
                ),
            )
            pr.events[reason] = (name, 1)
        except ApiError as e:
            log.warning("pod %s/%s: event %s not recorded: %s", pr.namespace, pr.name, reason, e)


def _port_mappings(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(
                    {
                        "hostPort": p["hostPort"],
                        "containerPort": p["containerPort"],
                        "protocol": (p.get("protocol") or "TCP").lower(),
                    }
                )
    return out


def _host_network(pod: dict[str, Any]) -> bool:
    """Whether the pod runs in the node's network namespace (spec.hostNetwork)."""
    return bool((pod.get("spec") or {}).get("hostNetwork"))
