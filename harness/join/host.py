"""`ekswin agent --join FILE`: fake Windows nodes on this host for another host's environment.

The first host runs the environment (`ekswin up` on the existing or kind backend:
fake EC2, the controller and webhook, the join service); this host runs, for its own
nodes only, a fake_hns and K node-agent shards, supervised as `up` supervises them
(restart with back-off), everything in its own process group, logging to this
host's run directory. :class:`JoinedNodeGroup` is one such host's node group:

start
    read and check the join file; reach the API server and fake EC2 with it (a
    failure names the field; exit 2); refuse node names another agent drives; take
    over what an earlier run of this run directory left (its instances are terminated,
    its Nodes leave); start fake_hns; launch the EC2 instances in the environment's
    subnet; obtain each node's certificate and kube-proxy's through CSRs the first
    host approves; start the shards; wait until every node is Ready and (IPAM on) the
    controller advertises its pod IPs.
stop (Ctrl-C, SIGTERM) — a node group scale-in
    cordon the nodes and delete their pods (DaemonSet pods aside, as ``kubectl
    drain`` does), the kubelet emulation tearing each sandbox down (CNI DEL); stop the
    shards; report the nodes NotReady (the kubelet's "node is shutting down");
    terminate their instances; stop fake_hns; then the first host, as the cloud
    controller manager does for an instance gone, deletes the Nodes and their
    Leases. A killed agent (SIGKILL, a lost host) leaves its nodes to go NotReady on
    instances still running, as a lost kubelet does; the next start of the same run
    directory cleans them up.

Node names are ``<prefix>-<i>``: ``--name-prefix``, default ``<join prefix>-<host>``
(the join file's ``node_group.name_prefix``, `win`, and this host's name), so agents on
different hosts never pick the same names; two agents on one host need their own
prefix (a name another agent drives is refused before anything starts).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from harness import kubeconfig as kc
from harness.components import Component, ListeningLine, python_module
from harness.join.joinfile import JOIN_LABEL, JoinFile, JoinFileError, check_prefix
from harness.nodes.launch import NodeLaunch, NodeRecord, start_nodes
from harness.nodes.spec import NodeSpec, node_conditions
from harness.process import Supervisor
from harness.spec import EnvSpec

Say = Callable[[str], None]

CHECK_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0
LEAVE_TIMEOUT_S = 30.0
NODES_FILE = "joined-nodes.json"
START_TIMEOUT_S = 60.0
IDENTITY_WORKERS = 16  # CSRs in flight at once (each waits for an approval)


class JoinRefused(Exception):
    """This host cannot join as asked (exit status 2); the message says why."""


def host_slug(hostname: str | None = None) -> str:
    """This host's name as a node-name part: the first label, lowercase, [a-z0-9-]."""
    name = (hostname or socket.gethostname()).split(".", 1)[0].lower()
    slug = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")[:30].strip("-")
    return slug or "host"


def default_run_dir(prefix: str) -> Path:
    """Where an agent keeps its state without --run-dir: <state dir>/agents/<prefix>."""
    from harness.rundir import state_root

    return state_root() / "agents" / prefix


class JoinCredentials:
    """The join token's use on this host: certificates through CSRs that the first host
    approves and the cluster signs (harness.join.access)."""

    def __init__(self, join: JoinFile, run_dir: Path, supervisor: Supervisor, tag: str) -> None:
        self.join = join
        self.supervisor = supervisor
        self.tag = tag  # makes this host's request names its own
        self.cluster_name = f"ekswin-{join.environment}"
        self.kubeconfig = kc.write(
            run_dir / "join.kubeconfig",
            kc.build(
                self.cluster_name,
                join.kubernetes.server,
                join.kubernetes.ca_pem,
                token=join.kubernetes.token,
            ),
        )
        self._api: Any = None

    @property
    def api(self) -> Any:
        """A kubernetes ApiClient with the join token."""
        if self._api is None:
            from harness.identity import api_client

            self._api = api_client(self.kubeconfig)
        return self._api

    def issue_client_kubeconfig(self, user: str, groups: Sequence[str], path: Path) -> Path:
        """A kubeconfig with a certificate for `user` in `groups`, once approved."""
        from harness.backends import csr

        env = self.join.environment
        pair = csr.issue(
            self.api,
            csr.csr_name(env, f"{self.tag}-{user}"),
            user,
            groups,
            {JOIN_LABEL: env},
            approver=f"the first host of environment {env!r} (its `ekswin up`)",
        )
        config = kc.build(
            self.cluster_name,
            self.join.kubernetes.server,
            self.join.kubernetes.ca_pem,
            cert_pem=pair.cert_pem,
            key_pem=pair.key_pem,
        )
        return kc.write(path, config)

    def kube_proxy_kubeconfig(self, path: Path) -> Path:
        """kube-proxy's kubeconfig: the user the environment binds to system:node-proxier."""
        return self.issue_client_kubeconfig(self.join.kubernetes.kube_proxy_user, [], path)

    def close(self) -> None:
        """Close the API client."""
        if self._api is not None:
            self._api.close()
            self._api = None


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


@dataclass
class JoinedNodeGroup:
    """The nodes one `ekswin agent` adds to another host's environment."""

    join: JoinFile
    source: Path
    spec: EnvSpec
    nodes: int
    prefix: str
    run_dir: Path
    agents: int
    subnet: str = ""
    names: list[str] = field(default_factory=list)
    records: list[NodeRecord] = field(default_factory=list)
    shards: list[Component] = field(default_factory=list)
    hns: Component | None = None
    supervision: Any = None
    creds: JoinCredentials | None = None
    sup: Supervisor | None = None
    started: bool = False  # start() began: instances may exist
    _lock: Any = None
    _ec2: Any = None
    _kp_api: Any = None

    # -- preparing (nothing started) --------------------------------------------------
    @classmethod
    def prepare(
        cls,
        path: Path,
        *,
        nodes: int,
        prefix: str | None = None,
        run_dir: Path | None = None,
        agents: int | None = None,
        subnet: str | None = None,
    ) -> JoinedNodeGroup:
        """Read the join file and the options (JoinFileError / JoinRefused, exit 2)."""
        from harness.spec import SpecError, parse_spec

        join = JoinFile.read(path)
        try:
            spec = parse_spec(dict(join.spec), f"join file {path}: spec")
        except SpecError as e:
            first = str(e).strip().splitlines()
            raise JoinFileError(" ".join(line.strip() for line in first[:2])) from None
        if nodes < 1:
            raise JoinRefused(f"--nodes {nodes}: expected 1 or more")
        chosen = check_prefix(prefix or f"{join.node_group.name_prefix}-{host_slug()}")
        shards = agents if agents else spec.node_agent.shards(nodes)
        group = cls(
            join=join,
            source=path,
            spec=spec,
            nodes=nodes,
            prefix=chosen,
            run_dir=(run_dir or default_run_dir(chosen)).resolve(),
            agents=max(1, min(shards, nodes)),
            subnet=join.node_group.subnet(subnet).id,
        )
        group.names = [f"{chosen}-{i}" for i in range(nodes)]
        return group

    def node_specs(self) -> list[NodeSpec]:
        """The NodeSpec of every node of this host (the join file's node group)."""
        ng = self.join.node_group
        sub = next(s for s in ng.subnets if s.id == self.subnet)
        return [
            NodeSpec(
                name=name,
                instance_type=ng.instance_type,
                subnet_id=sub.id,
                availability_zone=sub.az,
                region=self.join.ec2.region,
                max_pods=ng.max_pods,
                windows_build=ng.windows_build,
                nodegroup=self.prefix,
            )
            for name in self.names
        ]

    def ec2(self) -> Any:
        """A boto3 EC2 client for the environment's fake EC2 (no retries: errors show)."""
        if self._ec2 is None:
            from harness.nodes.ec2 import ec2_client

            self._ec2 = ec2_client(
                self.join.ec2.endpoint,
                self.join.ec2.region,
                max_attempts=1,
                access_key=self.join.ec2.access_key_id,
            )
        return self._ec2

    def check_endpoints(self) -> None:
        """Reach the API server (with the join token) and fake EC2 (the subnet), or
        raise JoinRefused naming the join file's field."""
        import urllib3

        from harness.kube.api import ApiError
        from harness.kube.rest import RestClient

        where = f"join file {self.source}"
        k8s = self.join.kubernetes
        assert self.creds is not None
        try:
            RestClient(str(self.creds.kubeconfig), 1).get(
                "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                query={"limit": "1"},
                timeout=CHECK_TIMEOUT_S,
            )
        except ApiError as e:
            hint = (
                "expired, or the environment is gone: copy a fresh join.json from the first host"
                if e.status in (401, 403)
                else "the API server answers, but not as expected"
            )
            raise JoinRefused(
                f"{where}: kubernetes.token: the API server {k8s.server} refused it "
                f"({e.status}): {hint}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise JoinRefused(
                f"{where}: kubernetes.server {k8s.server}: unreachable from this host "
                f"({_reason(e)})"
            ) from None
        from harness.nodes.ec2 import ec2_client

        e2 = self.join.ec2
        ec2 = ec2_client(
            e2.endpoint, e2.region, max_attempts=1, access_key=e2.access_key_id,
            timeout_s=CHECK_TIMEOUT_S,
        )  # fmt: skip
        try:
            ec2.describe_subnets(SubnetIds=[self.subnet])
        except Exception as e:
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            if code:
                raise JoinRefused(
                    f"{where}: node_group.subnets: {self.subnet} is not in fake EC2 at "
                    f"{self.join.ec2.endpoint} ({code}): was the first host's environment "
                    "started again? Copy its new join.json"
                ) from None
            raise JoinRefused(
                f"{where}: ec2.endpoint {self.join.ec2.endpoint}: unreachable from this host "
                f"({_reason(e)})"
            ) from None

    # -- start ------------------------------------------------------------------------
    def open(self) -> None:
        """Own the run directory (exit 2 when another agent does) and reap what a killed
        earlier agent left there; create the credentials. Then check the endpoints."""
        from harness import rundir
        from harness.env import remove_sockets
        from harness.process import PidRegistry

        try:
            rundir.prepare_run_dir(self.run_dir)
            lock = rundir.RunDirLock(self.run_dir)
            if not lock.acquire():
                raise JoinRefused(
                    f"run directory {self.run_dir} is used by another `ekswin agent` "
                    f"(pid {lock.holder()}); give this one its own --run-dir or --name-prefix"
                )
        except rundir.RunDirError as e:
            raise JoinRefused(str(e)) from None
        self._lock = lock
        PidRegistry(self.run_dir).reap()
        remove_sockets(self.run_dir)
        for stale in ("ready", "supervision.json"):
            (self.run_dir / stale).unlink(missing_ok=True)
        self.sup = Supervisor(self.run_dir)
        self.creds = JoinCredentials(self.join, self.run_dir, self.sup, self.prefix)
        self.check_endpoints()

    def start(self, say: Say) -> None:
        """Everything up to every node schedulable (see the module doc)."""
        assert self.sup is not None and self.creds is not None
        self._take_over(say)  # refuses before anything of this run exists
        self.started = True
        self.hns = Component(
            "fake-hns",
            python_module("fake_hns", "--port", "0", "--seed", str(self.spec.seed)),
            ListeningLine(),
        ).start(self.sup)
        hns_url = self.hns.wait_ready(START_TIMEOUT_S)
        say(f"    fake HNS for this host's nodes: {hns_url}")
        plan = NodeLaunch(
            nodes=tuple(self.node_specs()),
            ec2_url=self.join.ec2.endpoint,
            hns_target=hns_url.removeprefix("grpc://"),
            region=self.join.ec2.region,
            run_dir=self.run_dir,
            spec=self.spec,
        )
        names = ["node-agent" if i == 0 else f"node-agent-{i}" for i in range(self.agents)]
        try:
            self.shards, self.records = start_nodes(
                plan,
                self.creds,
                lambda m: say(f"    {m}"),
                names,
                kube_proxy=self.creds.kube_proxy_kubeconfig,
                identity_workers=IDENTITY_WORKERS,
            )
        finally:
            self._write_records()
        self._wait_schedulable(say, plan.ready_timeout_s())
        self.supervision = self._supervise(plan)
        (self.run_dir / "ready").write_text(str(time.time()))

    def _write_records(self) -> None:
        """joined-nodes.json: the nodes and instances this run started (removed once they
        left the cluster; after a crash it says what the next start takes over)."""
        doc = {
            "environment": self.join.environment,
            "names": self.names,
            "nodes": [r.to_dict() for r in self.records],
        }
        (self.run_dir / NODES_FILE).write_text(json.dumps(doc, indent=1))

    def _nodes_now(self) -> dict[str, dict[str, Any]]:
        """This host's Nodes as the API server has them now (by name)."""
        from harness.nodes.progress import list_windows_nodes

        wanted = set(self.names)
        return {
            n["metadata"]["name"]: n
            for n in list_windows_nodes(self._reader())
            if n["metadata"]["name"] in wanted
        }

    def _reader(self) -> Any:
        """An API client that may list Nodes: kube-proxy's certificate once issued (it
        outlives the join token, so a scale-in days later still sees its Nodes), else
        the join token."""
        assert self.creds is not None
        kp = self.run_dir / "components" / "nodes" / "kube-proxy.kubeconfig"
        if self._kp_api is None and kp.exists() and self.records:
            from harness.identity import api_client

            self._kp_api = api_client(kp)
        return self._kp_api or self.creds.api

    def _take_over(self, say: Say) -> None:
        """Refuse names another agent drives; clean up what an earlier run of this run
        directory left (Nodes, instances) before starting again."""
        comp = self.run_dir / "components" / "nodes"
        existing = self._nodes_now()
        foreign = [n for n in existing if not (comp / f"{n}.kubeconfig").exists()]
        if foreign:
            ready = [n for n in foreign if _ready(existing[n])]
            shown = ", ".join(sorted(foreign)[:3]) + (" ..." if len(foreign) > 3 else "")
            why = (
                "Ready: another agent drives them"
                if ready
                else "NotReady: left by an agent with another run directory (kubectl delete "
                "node ... removes them)"
            )
            raise JoinRefused(
                f"node name(s) {shown} exist and are {why}; give this agent its own --name-prefix"
            )
        left = self._running_instances()
        if existing or left:
            say(
                f"    an earlier run of {self.run_dir} left {len(existing)} node(s) and "
                f"{len(left)} instance(s): removing them first"
            )
            stuck = self._leave(list(existing), left, say)
            if stuck:
                raise JoinRefused(
                    f"node(s) {', '.join(stuck[:3])} of an earlier run are still registered "
                    "and the first host did not remove them: `kubectl delete node` them, "
                    "then start again"
                )

    def _running_instances(self) -> list[str]:
        """This host's node names' instances still running in fake EC2 (by Name tag)."""
        resp = self.ec2().describe_instances(
            Filters=[
                {"Name": "tag:ekswin/node", "Values": self.names},
                {"Name": "vpc-id", "Values": [self.join.ec2.vpc_id]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        return [i["InstanceId"] for r in resp.get("Reservations") or [] for i in r["Instances"]]

    def _wait_schedulable(self, say: Say, timeout_s: float) -> None:
        from harness.nodes.progress import wait_schedulable

        wait_schedulable(
            lambda: self._nodes_now().values(),
            set(self.names),
            self.spec.ipam_enabled() and self.spec.controller.replicas > 0,
            timeout_s,
            "every node of this host Ready",
            say,
            ip_from="the first host's controller",
        )

    def _supervise(self, plan: NodeLaunch) -> Any:
        """fake_hns and the shards, restarted with back-off as `up` does."""
        from harness.spec.scale import agent_ready_deadline_s
        from harness.supervision import Supervision

        assert self.sup is not None and self.hns is not None
        sv = Supervision(self.sup, self.run_dir)
        timing = self.spec.timing
        add = partial(
            sv.add,
            backoff_initial_s=timing.restart_backoff_initial_s,
            backoff_max_s=timing.restart_backoff_max_s,
        )
        add(
            "fake_hns",
            self.hns,
            self._restart_hns,
            enabled=self.spec.supervision.restarts("fake_hns"),
        )
        deadline = agent_ready_deadline_s(len(self.records) // max(1, len(self.shards)) + 1)
        for shard in self.shards:
            add(
                "node-agent",
                shard,
                partial(shard.restart, deadline),
                enabled=self.spec.supervision.restarts("node-agent"),
            )
        return sv.start()

    def _restart_hns(self) -> None:
        """fake_hns again on the same port, so every shard's channel reconnects."""
        assert self.hns is not None
        argv = list(self.hns.argv)
        argv[argv.index("--port") + 1] = self.hns.url.rsplit(":", 1)[1]
        self.hns.restart(START_TIMEOUT_S, argv)

    # -- stop: a node group scale-in ----------------------------------------------------
    def stop(self, say: Say) -> list[str]:
        """Scale in (see the module doc); return the nodes that did not leave."""
        if self._lock is None:  # the run directory is not ours: nothing here was started
            return []
        if not self.started:
            self.close()
            return []
        if self.supervision is not None:
            self.supervision.stop()  # nothing restarts what is being stopped
        names = [r.name for r in self.records]
        left: list[str] = []
        try:
            if names and self.shards:
                self._drain(names, say)
            for shard in self.shards:
                shard.stop()
            instances = [r.instance_id for r in self.records]
            with contextlib.suppress(Exception):
                instances = sorted(set(instances) | set(self._running_instances()))
            left = self._leave(names, instances, say) if (names or instances) else []
        finally:
            if self.sup is not None:
                self.sup.stop_all()
            if self.supervision is not None:
                self.supervision.close()
            self.close()
        if not left:
            (self.run_dir / NODES_FILE).unlink(missing_ok=True)
        return left

    def close(self) -> None:
        """Release the credentials, sockets and the run directory."""
        from harness.env import remove_sockets

        if self.creds is not None:
            self.creds.close()
        if self._kp_api is not None:
            self._kp_api.close()
            self._kp_api = None
        remove_sockets(self.run_dir)
        (self.run_dir / "ready").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _node_client(self, name: str) -> Any:
        from harness.kube.rest import RestClient

        path = self.run_dir / "components" / "nodes" / f"{name}.kubeconfig"
        return RestClient(str(path), 2) if path.exists() else None

    def _drain(self, names: list[str], say: Say) -> None:
        """Cordon the nodes and delete their pods (not DaemonSets'); wait until the
        kubelet emulation has torn them down, at most DRAIN_TIMEOUT_S."""
        from harness.waiting import WaitTimeout, wait_until

        clients = {n: c for n in names if (c := self._node_client(n)) is not None}

        def pods_left(delete: bool) -> int:
            count = 0
            for name, client in clients.items():
                with contextlib.suppress(Exception):
                    pods = client.get(
                        "/api/v1/pods", query={"fieldSelector": f"spec.nodeName={name}"}
                    )
                    for pod in pods.get("items") or []:
                        meta = pod["metadata"]
                        owners = meta.get("ownerReferences") or []
                        if any(o.get("kind") == "DaemonSet" for o in owners):
                            continue
                        count += 1
                        if delete and not meta.get("deletionTimestamp"):
                            with contextlib.suppress(Exception):
                                client.delete(
                                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                                )
            return count

        for name, client in clients.items():
            with contextlib.suppress(Exception):
                client.patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}})
        n = pods_left(delete=True)
        if n:
            say(f"    draining: {n} pod(s) on this host's nodes deleted")
        try:
            wait_until(lambda: pods_left(delete=False) == 0, DRAIN_TIMEOUT_S, "the pods gone")
        except WaitTimeout:
            say(f"    {pods_left(delete=False)} pod(s) still terminating; going on")

    def _leave(self, names: list[str], instances: list[str], say: Say) -> list[str]:
        """Report `names` NotReady, terminate `instances`, wait until the first host has
        deleted the Nodes; return those still there after LEAVE_TIMEOUT_S."""
        from harness.kube.api import ApiError
        from harness.nodes.kubelet import now_rfc3339
        from harness.waiting import WaitTimeout, wait_until

        now = now_rfc3339()
        conditions = [
            c
            if c["type"] != "Ready"
            else {
                **c,
                "status": "False",
                "reason": "KubeletNotReady",
                "message": "node is shutting down",
            }
            for c in node_conditions(now)
        ]
        for name in names:
            client = self._node_client(name)
            if client is None:
                continue
            with contextlib.suppress(ApiError, OSError):
                client.patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": conditions}})
        if instances:
            self.ec2().terminate_instances(InstanceIds=instances)
            say(f"    {len(instances)} EC2 instance(s) terminated")
        if self.hns is not None:
            self.hns.stop()
        if not names:
            return []
        try:
            wait_until(
                lambda: not self._nodes_now(),
                LEAVE_TIMEOUT_S,
                "the first host deleting this host's Nodes (instances terminated)",
            )
        except WaitTimeout:
            gone = sorted(self._nodes_now())
            say(
                f"    {len(gone)} node(s) still registered (is the first host's `ekswin up` "
                f"running?): {', '.join(gone[:5])}"
            )
            return gone
        say(f"    {len(names)} node(s) left the cluster")
        return []


def _reason(e: BaseException) -> str:
    """The innermost reason of a connection error, one line."""
    reason = getattr(e, "reason", None) or e
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    return f"{type(reason).__name__}: {text}" if type(reason).__name__ not in text else text
