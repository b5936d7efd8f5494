"""What happens in EKS when a Windows node's EC2 instance is terminated, as plain steps
over the real protocols (the pipeline runs them in order; docs/nodes.md#removal):

1. the host goes away with its kubelet, kube-proxy and HNS (the node agent stops
   driving it; :func:`forget_hns_hosts` drops its HNS state from fake_hns);
2. EC2 terminates the instance and deletes its primary ENI, whose primary, secondary
   IPs and /28 prefixes go back to the subnet (:func:`terminate_instances`);
3. the cloud node lifecycle controller deletes the Node of an instance that no longer
   exists (:func:`delete_node_objects`; the harness plays it: there is no cloud
   controller here); the Node's Lease goes with it (garbage collector, owner reference);
   the VPC resource controller drops the node's pools on the Node's delete event;
4. kube-controller-manager's pod garbage collector force-deletes the pods bound to a
   Node that no longer exists, after a 40 s quarantine (pkg/controller/podgc,
   ``quarantineTime``; it runs every 20 s). Where it does not run
   (:func:`pod_gc_runs`), :func:`delete_orphaned_pods` does what it would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

from harness.nodes.ec2 import ec2_client
from harness.waiting import wait_until

#: The ServiceAccount kube-controller-manager's pod GC controller runs as when it uses
#: service-account credentials (``--use-service-account-credentials``, as the local
#: backend, kind and EKS run it): it exists once the controller has started.
POD_GC_SERVICE_ACCOUNT = ("kube-system", "pod-garbage-collector")
POD_GC_QUARANTINE_S = 40.0
POD_GC_PERIOD_S = 20.0
TERMINATE_TIMEOUT_S = 60.0
NODE_DELETE_TIMEOUT_S = 60.0


def terminate_instances(
    endpoint_url: str,
    region: str,
    instance_ids: Sequence[str],
    timeout_s: float = TERMINATE_TIMEOUT_S,
) -> None:
    """TerminateInstances, then wait until EC2 describes every one as terminated."""
    if not instance_ids:
        return
    ec2 = ec2_client(endpoint_url, region)
    ec2.terminate_instances(InstanceIds=list(instance_ids))

    def terminated() -> bool:
        pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=list(instance_ids))
        states = [
            i["State"]["Name"] for p in pages for r in p["Reservations"] for i in r["Instances"]
        ]
        return len(states) == len(instance_ids) and all(s == "terminated" for s in states)

    wait_until(terminated, timeout_s, f"instances {', '.join(instance_ids)} terminated")


def forget_hns_hosts(hns_target: str, names: Iterable[str]) -> list[str]:
    """Drop the HNS state of each host (its networks, endpoints, load balancers) from
    fake_hns; returns the hosts HNS could not be asked about (it is down: a restarted
    fake_hns starts empty, so their state is gone then too)."""
    from fake_hns.client import HnsClient, HnsRpcError

    unreachable = []
    with HnsClient(hns_target, host="", timeout=5.0) as hns:
        for name in names:
            try:
                hns.for_host(name).delete_host()
            except HnsRpcError:
                unreachable.append(name)
    return unreachable


def delete_node_objects(
    api: Any, names: Iterable[str], timeout_s: float = NODE_DELETE_TIMEOUT_S
) -> None:
    """Delete the Nodes (absent is no error) and wait until they are gone."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    names = list(names)
    for name in names:
        try:
            core.delete_node(name)
        except ApiException as e:
            if e.status != 404:
                raise

    def gone() -> bool:
        left = {n.metadata.name for n in core.list_node().items}
        return not left.intersection(names)

    wait_until(gone, timeout_s, f"Nodes {', '.join(names)} deleted")


def pods_on(api: Any, names: Iterable[str]) -> list[tuple[str, str]]:
    """(namespace, name) of every pod bound to one of the nodes `names`."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    out = []
    for node in names:
        pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        out += [(p.metadata.namespace, p.metadata.name) for p in pods]
    return sorted(out)


def pod_gc_runs(api: Any) -> bool:
    """Whether kube-controller-manager's pod garbage collector runs in this cluster (its
    own ServiceAccount exists)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ns, name = POD_GC_SERVICE_ACCOUNT
    try:
        client.CoreV1Api(api).read_namespaced_service_account(name, ns)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def delete_orphaned_pods(api: Any, pods: Iterable[tuple[str, str]]) -> int:
    """Force-delete (grace 0) the pods, as the pod GC deletes a gone node's pods;
    returns how many were deleted (already gone is no error)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    done = 0
    for ns, name in pods:
        with contextlib.suppress(ApiException):
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
            done += 1
    return done
