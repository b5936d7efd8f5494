"""Call the CNI plugin as containerd does: exec with CNI_* env and the netconf on stdin.

Modes (``cni.mode``):

- ``exec`` (default; tests and e2e): exec ``ekswin-cni`` per call with the netconf's
  ``agentSocket`` set. The binary is a thin shim that hands ``{CNI_* env, stdin}`` to
  this agent over that unix socket (``start_server``); the agent runs the plugin
  function with pooled connections and sends back stdout, stderr and the exit code,
  which the binary reproduces. Without the socket the binary runs the plugin itself.
  Like a node's ``/opt/cni/bin``, the agent installs the binary at start into its own
  CNI bin dir (``cni-bin`` next to the socket): a ``python -S`` launcher
  (``harness.cni.install``) that skips ``site`` on the fast path.
- ``exec-direct``: exec without ``agentSocket``: the binary does all the work (Python
  start, grpc import, TLS to the API server per call).
- ``inprocess``: no exec; the same plugin function in a worker thread.

Concurrency is bounded by a semaphore, not by threads per pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.nodes.config import CniSettings
from harness.nodes.spec import InstanceInfo, NodeSpec

log = logging.getLogger("ekswin.nodes.cni")
SOCKET_NAME = "cni.sock"
BIN_DIR_NAME = "cni-bin"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path (108 bytes with the NUL) on Linux
FAILING_KEPT = 500  # pods whose last CNI ADD failed, kept in the call log


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
    """``ekswin-cni`` next to the running interpreter (the venv's bin), else on PATH:
    the console script, which ``exec-direct`` (and ``exec`` before start) execs."""
    candidate = Path(sys.executable).with_name("ekswin-cni")
    return str(candidate) if candidate.exists() else "ekswin-cni"


def build_netconf(
    settings: CniSettings,
    spec: NodeSpec,
    instance: InstanceInfo,
    kubeconfig: str,
    hns_target: str,
    agent_socket: str = "",
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
    } | ({"agentSocket": agent_socket} if agent_socket else {})


def choose_socket_path(settings: CniSettings, status_file: str = "") -> str:
    """Where the agent listens for the exec'd shim: ``cni.socket_path``, else
    ``cni.sock`` next to the status file (the run dir), else a private temp dir; a path
    too long for a unix socket also falls back to the temp dir."""
    if settings.socket_path:
        if len(settings.socket_path) > _SUN_PATH_MAX:
            raise ValueError(
                f"cni.socket_path: {settings.socket_path!r} is longer than "
                f"{_SUN_PATH_MAX} bytes (the unix socket limit)"
            )
        return settings.socket_path
    if status_file:
        candidate = str(Path(status_file).resolve().with_name(SOCKET_NAME))
        if len(candidate) <= _SUN_PATH_MAX:
            return candidate
    return str(Path(tempfile.mkdtemp(prefix="ekswin-cni-")) / SOCKET_NAME)


class AnnotationBoard:
    """Waits for pod annotations on the agent's shared pod watch (thread-safe).

    The in-agent plugin GETs the pod (node identity, as the plugin does) and, when the
    annotation is not there yet, waits here instead of opening one watch request per
    waiting ADD. `lookup(namespace, name)` reads the pod watch's cache; `on_pod` is fed
    every event of that watch after the cache was updated, so a waiter that registers
    and then checks the cache cannot miss the change.
    """

    def __init__(self, lookup: Any = None) -> None:
        self.lookup = lookup or (lambda namespace, name: None)
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, str], list[tuple[str, threading.Event, list[Any]]]] = {}

    def on_pod(self, etype: str, pod: Mapping[str, Any]) -> None:
        """A pod event: wake waiters whose annotation arrived (or whose pod went away)."""
        meta = pod.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if key not in self._waiters:  # cheap unlocked check: most events have no waiter
            return
        annotations = meta.get("annotations") or {}
        with self._lock:
            for ann, event, box in self._waiters.get(key, ()):
                if etype == "DELETED":
                    box.append(None)
                    event.set()
                elif annotations.get(ann):
                    box.append(str(annotations[ann]))
                    event.set()

    def wait(self, namespace: str, name: str, key: str, timeout_s: float) -> str | None:
        """The annotation's value once present, None after `timeout_s`; raises
        ApiError 404 when the pod is deleted meanwhile (as the plugin's watch does)."""
        from harness.cni.annotation import pod_annotation
        from harness.kube.api import ApiError

        event, box = threading.Event(), []  # type: ignore[var-annotated]
        entry = (key, event, box)
        with self._lock:
            self._waiters.setdefault((namespace, name), []).append(entry)
        try:
            value = pod_annotation(self.lookup(namespace, name), key)
            if value:
                return value
            if not event.wait(timeout_s):
                return None
            if box[0] is None:
                raise ApiError(404, f'pods "{name}" not found')
            return str(box[0])
        finally:
            with self._lock:
                waiters = self._waiters.get((namespace, name), [])
                if entry in waiters:
                    waiters.remove(entry)
                if not waiters:
                    self._waiters.pop((namespace, name), None)


def _use_pidfd_child_watcher() -> None:
    """Python 3.11's default child watcher starts a thread per exec'd process to wait
    for it; a pidfd in the event loop does the same without threads (3.12's default)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    with contextlib.suppress(OSError, RuntimeError):
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)


class CniRunner:
    """Runs plugin calls with bounded concurrency, in the configured mode."""

    def __init__(self, settings: CniSettings, board: AnnotationBoard | None = None) -> None:
        from harness.cni.clients import PooledClients

        self.settings = settings
        self.mode = settings.mode
        self.binary = settings.binary or default_binary()
        self.sem = asyncio.Semaphore(settings.concurrency)
        self.calls = 0
        self.served = 0  # calls the exec'd shim handed to this agent over the socket
        # The call log `ekswin why` reads: per pod whose last ADD failed, that failure.
        self.failing: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.socket_path = ""
        self.installed = ""  # the launcher start_server installed (exec mode)
        self._server: asyncio.AbstractServer | None = None
        # In-agent calls (inprocess, or served for the shim) block a thread while the
        # plugin waits for the annotation: their own pool, sized like the bound.
        self.clients = PooledClients(board.wait if board else None)
        self.pool = (
            ThreadPoolExecutor(settings.concurrency, thread_name_prefix="cni")
            if settings.mode in ("inprocess", "exec")
            else None
        )
        if settings.mode != "inprocess":
            _use_pidfd_child_watcher()

    # -- the exec fast path's server ------------------------------------------------------
    async def start_server(self, path: str) -> None:
        """Listen on `path` for calls from the exec'd shim (exec mode), and install the
        plugin into the CNI bin dir (``cni.bin_dir``, else ``cni-bin`` next to `path`)
        unless ``cni.binary`` names one."""
        if not self.settings.binary:
            from harness.cni.install import install_plugin

            bin_dir = self.settings.bin_dir or str(Path(path).parent / BIN_DIR_NAME)
            self.installed = install_plugin(bin_dir)
            self.binary = self.installed
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a stale socket from an earlier agent
        old = os.umask(0o177)  # owner-only from the start: it runs CNI calls
        try:
            self._server = await asyncio.start_unix_server(self._serve, path)
        finally:
            os.umask(old)
        self.socket_path = path

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from harness.cni.shim import decode_request, encode_response
        from harness.cni.vpcbridge import run_captured

        try:
            data = await reader.read()
            try:
                env, stdin = decode_request(data)
            except ValueError as e:
                writer.write(encode_response(1, "", f"ekswin-cni: bad agent request: {e}\n"))
                return
            self.served += 1
            code, out, err = await asyncio.get_running_loop().run_in_executor(
                self.pool, run_captured, env, stdin, self.clients
            )
            writer.write(encode_response(code, out, err))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.warning("CNI shim connection: %s", e)
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop the server, remove the socket, close pooled connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
        if self.installed:  # like the socket, the agent's own file: nothing execs it now
            with contextlib.suppress(OSError):
                os.unlink(self.installed)
                os.rmdir(Path(self.installed).parent)  # only when empty
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.clients.close()

    def status(self) -> dict[str, Any]:
        """Mode and counters for the agent status report."""
        return {
            "mode": self.mode,
            "calls": self.calls,
            "served_over_socket": self.served,
            "socket": self.socket_path,
            "binary": self.binary,
            "concurrency": self.settings.concurrency,
            "failing": dict(self.failing),
        }

    def _log_call(self, command: str, pod: str, outcome: CniOutcome) -> None:
        """Keep the last failed ADD of each pod (dropped when an ADD succeeds)."""
        if command != "ADD":
            return
        if outcome.ok:
            self.failing.pop(pod, None)
            return
        before = self.failing.pop(pod, None)
        self.failing[pod] = {
            "command": command,
            "code": outcome.code,
            "message": outcome.message,
            "at": time.time(),
            "failures": (before or {}).get("failures", 0) + 1,
        }
        while len(self.failing) > FAILING_KEPT:
            self.failing.popitem(last=False)

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
            if self.mode == "inprocess":
                from harness.cni.vpcbridge import run_captured

                code, out, err = await asyncio.get_running_loop().run_in_executor(
                    self.pool, run_captured, env, stdin, self.clients
                )
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
        outcome = CniOutcome(
            code == 0,
            code,
            result if isinstance(result, dict) else {},
            err,
            t_run - t_queue,
            t_end - t_run,
        )
        self._log_call(command, f"{namespace}/{pod_name}", outcome)
        return outcome


class ThreadedCniServer:
    """A CniRunner serving its socket from its own event-loop thread: the agent's side of
    the exec'd shim, for callers without an event loop (benchmarks, tests)."""

    def __init__(self, path: str, settings: CniSettings | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> CniRunner:
            runner = CniRunner(settings or CniSettings(mode="exec"))
            await runner.start_server(path)
            return runner

        self.runner = asyncio.run_coroutine_threadsafe(make(), self.loop).result(10)

    def close(self) -> None:
        """Close the runner, stop the loop thread and close the loop."""
        asyncio.run_coroutine_threadsafe(self.runner.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
