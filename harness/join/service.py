"""The first host's side of joining: the join file, the approvals, the nodes that leave.

:class:`JoinService` runs inside `ekswin up` (existing and kind backends) once the
pipeline is up. It installs the join identity (harness.join.access), writes
``<run dir>/join.json`` (0600) with a token of it, and then, in one thread, every
second:

- approves the join identity's certificate requests by :func:`access.decide`, and
  records each node identity it grants (the Node and its Lease) as this environment's,
  so `down` deletes joined nodes too;
- plays the cloud controller manager's node lifecycle controller for joined nodes: a
  joined Node that is not Ready and whose EC2 instance is terminated (or gone) is
  deleted with its Lease — what happens to a node of a node group scaled in;
- rewrites the join file with a fresh token once 80 % of the token's life has passed
  (the token lasts 24 h, a kubeadm join token's default), so a copy taken later works.

fake_ec2 listens on loopback; when the join address is another one, a TCP relay on
that address carries the shards' EC2 calls to it (harness.backends.reach.TcpRelay).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.backends.existing import NODE_LEASE_NAMESPACE, ExistingCluster
from harness.backends.owned import ObjectRef
from harness.join import access
from harness.join.joinfile import (
    FILE_NAME,
    JOIN_LABEL,
    Ec2Access,
    JoinFile,
    JoinSubnet,
    KubernetesAccess,
    NodeGroupTemplate,
)
from harness.netutil import LOOPBACK
from harness.spec import EnvSpec

log = logging.getLogger("ekswin.join")

TOKEN_TTL_S = 24 * 3600
REFRESH_FRACTION = 0.8
POLL_S = 1.0
EC2_ACCESS_KEY = "ekswin-join"  # fake_ec2's request log names the joining hosts' calls
DEFAULT_PREFIX = "win"


def node_refs(name: str) -> tuple[ObjectRef, ObjectRef]:
    """A node's Node and Lease, as the ledger records them."""
    return (
        ObjectRef("v1", "Node", name),
        ObjectRef("coordination.k8s.io/v1", "Lease", name, NODE_LEASE_NAMESPACE),
    )


def _rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instance_id(node: dict[str, Any]) -> str:
    """The EC2 instance id of a Node's providerID (aws:///<az>/<id>), '' without one."""
    provider = str((node.get("spec") or {}).get("providerID") or "")
    return provider.rsplit("/", 1)[-1] if provider.startswith("aws://") else ""


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


class JoinService:
    """Lets node-agent shards on other hosts join this environment (see module doc)."""

    def __init__(
        self,
        cluster: ExistingCluster,
        spec: EnvSpec,
        run_dir: Path,
        *,
        ec2_url: str,
        vpc_id: str,
        subnets: list[JoinSubnet],
        reserved: Callable[[], Collection[str]],
    ) -> None:
        self.cluster = cluster
        self.spec = spec
        self.run_dir = run_dir
        self.ec2_url = ec2_url
        self.vpc_id = vpc_id
        self.subnets = subnets
        self.reserved = reserved  # the environment's own node names (never granted)
        self.path = run_dir / FILE_NAME
        self.joined: set[str] = set()
        self.endpoint = ""
        self._relay: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_at = 0.0
        self._ec2: Any = None

    # -- start / stop -------------------------------------------------------------------
    def start(self) -> Path:
        """Install the join identity, write the join file, start approving."""
        self.cluster.install(access.manifests())
        self.endpoint = self._ec2_endpoint()
        self.write_file()
        self._thread = threading.Thread(target=self._run, name="join-service", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop approving; close the relay; delete join requests still in the cluster."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        with contextlib.suppress(Exception):
            certs = self._certs()
            for item in certs.list_certificate_signing_request(
                label_selector=f"{JOIN_LABEL}={self.cluster.name}"
            ).items:
                certs.delete_certificate_signing_request(item.metadata.name)

    def _ec2_endpoint(self) -> str:
        """fake_ec2's URL as the other hosts use it: itself on loopback, else a relay."""
        host = self.cluster.join_address
        if host == LOOPBACK:
            return self.ec2_url
        from harness.backends.reach import TcpRelay

        target = urlparse(self.ec2_url)
        self._relay = TcpRelay(host, (target.hostname or LOOPBACK, int(target.port or 80)))
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self._relay.port}"

    def write_file(self) -> JoinFile:
        """(Re)write the join file with a fresh token."""
        from harness.identity import request_token

        issued = request_token(
            self.cluster.api, access.NAMESPACE, access.SERVICE_ACCOUNT, TOKEN_TTL_S
        )
        self._refresh_at = issued.issued_at + REFRESH_FRACTION * (
            issued.expires_at - issued.issued_at
        )
        group = self.spec.nodes[0] if self.spec.nodes else None
        from harness.spec.model import DEFAULT_INSTANCE_TYPE, DEFAULT_MAX_PODS, NodeGroup

        template = group or NodeGroup(
            DEFAULT_PREFIX, instance_type=DEFAULT_INSTANCE_TYPE, max_pods=DEFAULT_MAX_PODS
        )
        first = self.spec.subnet_of(group).name if group else self.subnets[0].name
        subnets = sorted(self.subnets, key=lambda s: s.name != first)  # the default first
        join = JoinFile(
            environment=self.cluster.name,
            created_at=_rfc3339(time.time()),
            kubernetes=KubernetesAccess(
                server=self.cluster.server,
                certificate_authority_data=base64.b64encode(
                    self.cluster.ca_file.read_bytes()
                ).decode(),
                token=issued.token,
                token_expires=_rfc3339(issued.expires_at),
                kube_proxy_user=access.KUBE_PROXY_USER,
            ),
            ec2=Ec2Access(
                endpoint=self.endpoint,
                region=self._region(),
                vpc_id=self.vpc_id,
                access_key_id=EC2_ACCESS_KEY,
                secret_access_key="testing",
            ),
            node_group=NodeGroupTemplate(
                name_prefix=DEFAULT_PREFIX,
                instance_type=template.instance_type,
                max_pods=template.max_pods,
                windows_build=template.windows_build,
                subnets=tuple(subnets),
            ),
            spec=self.spec.to_dict(),
        )
        join.write(self.path)
        return join

    @staticmethod
    def _region() -> str:
        from harness.spec import REGION

        return REGION

    # -- the loop -----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            for step in (self._approve, self._retire, self._refresh):
                try:
                    step()
                except Exception as e:  # the API server or EC2 is busy: next round
                    log.warning("join service: %s: %s", step.__name__, e)

    def _certs(self) -> Any:
        from kubernetes import client

        return client.CertificatesV1Api(self.cluster.api)

    def _node_exists(self, name: str) -> bool:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        try:
            client.CoreV1Api(self.cluster.api).read_node(name)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    def _approve(self) -> None:
        """Decide every pending join request."""
        certs = self._certs()
        resp = certs.list_certificate_signing_request(
            label_selector=f"{JOIN_LABEL}={self.cluster.name}", _preload_content=False
        )
        reserved = set(self.reserved())
        for item in json.loads(resp.data).get("items") or []:
            conditions = (item.get("status") or {}).get("conditions") or []
            if any(c.get("type") in ("Approved", "Denied") for c in conditions):
                continue
            decision = access.decide(
                item.get("spec") or {},
                reserved=reserved,
                joined=self.joined,
                node_exists=self._node_exists,
            )
            if decision is None:
                continue
            name = item["metadata"]["name"]
            if decision.approve and decision.node:
                self.cluster.ledger.record(*node_refs(decision.node))  # before it exists
                self.joined.add(decision.node)
            self._condition(certs, name, decision)
            log.info("join request %s: %s (%s)", name, decision.approve, decision.reason)

    def _condition(self, certs: Any, name: str, decision: access.Decision) -> None:
        from kubernetes import client

        current = certs.read_certificate_signing_request(name)
        current.status.conditions = [
            *(current.status.conditions or []),
            client.V1CertificateSigningRequestCondition(
                type="Approved" if decision.approve else "Denied",
                status="True",
                reason="EkswinJoinApproved" if decision.approve else "EkswinJoinDenied",
                message=decision.reason,
            ),
        ]
        certs.replace_certificate_signing_request_approval(name, current)

    def _retire(self) -> None:
        """Delete joined Nodes that are not Ready and whose instance is terminated."""
        if not self.joined:
            return
        from kubernetes import client

        core = client.CoreV1Api(self.cluster.api)
        resp = core.list_node(_preload_content=False)
        candidates = {
            n["metadata"]["name"]: _instance_id(n)
            for n in json.loads(resp.data).get("items") or []
            if n["metadata"]["name"] in self.joined and not _ready(n)
        }
        if not candidates:
            return
        running = self._running_instances([i for i in candidates.values() if i])
        for name, instance in candidates.items():
            if instance in running:
                continue  # a crashed agent on a running instance: NotReady, stays
            self._delete_node(core, name)
            log.info("joined node %s left (instance %s terminated)", name, instance or "-")

    def _running_instances(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        if self._ec2 is None:
            from harness.nodes.ec2 import ec2_client

            self._ec2 = ec2_client(self.ec2_url, self._region())
        resp = self._ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids}])
        return {
            i["InstanceId"]
            for r in resp.get("Reservations") or []
            for i in r.get("Instances") or []
            if i.get("State", {}).get("Name") not in ("shutting-down", "terminated")
        }

    def _delete_node(self, core: Any, name: str) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        leases = client.CoordinationV1Api(self.cluster.api)
        for delete in (
            lambda: core.delete_node(name),
            lambda: leases.delete_namespaced_lease(name, NODE_LEASE_NAMESPACE),
        ):
            try:
                delete()
            except ApiException as e:
                if e.status != 404:
                    raise
        self.cluster.ledger.forget(*node_refs(name))
        self.joined.discard(name)

    def _refresh(self) -> None:
        if time.time() >= self._refresh_at:
            self.write_file()
