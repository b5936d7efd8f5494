"""Why is this pod not Running: the pipeline's links, checked in order over plain data.

``first_broken_link(evidence)`` takes what :mod:`harness.why.gather` read (a plain dict,
shape below) and returns the first link that is broken, with the evidence that shows
it, each piece naming where it was read. No I/O here: every rule is tested on dicts.

Links, in pipeline order (a pod travels them from create to Running):

- ``admission``: the mutating webhook adds ``vpc.amazonaws.com/PrivateIPv4Address`` to
  a Windows pod (failurePolicy Ignore: while the webhook is down a pod is admitted
  without it and the controller never gives it an IP);
- ``scheduling``: kube-scheduler binds the pod to a node with a free IP resource;
- ``controller``: the VPC resource controller annotates the pod with an IP from the
  node's warm pool (pool empty, ENI address slots full, node not managed, mode
  mismatch, EC2 errors);
- ``cni``: the kubelet's CNI ADD reads the annotation and builds the sandbox network;
- ``hns``: the node's HNS creates the pod's endpoint;
- ``kube-proxy``: HNS load balancers for the node's Services.

Evidence (every key optional; absent = not read)::

    now: epoch seconds
    pod: {namespace, name, uid, node, phase, created, deleting, host_network,
          windows, requests_ip, annotation, pod_ip, waiting_reason,
          conditions: {type: {status, reason, message}}}
    supervisor: {outages: [{component, unit, start, end, why}], state: {component: state}}
    events: [{reason, type, message, component, count, last}]
    controller: None (not answering) | {ipam_enabled, pd_enabled,
                node: /introspect/node body | None, wait: /introspect/pods entry | None}
    node: {capacity, ready, instance_type}
    eni: {limit, secondary, prefixes}           # the node's primary ENI in EC2
    ec2_error_request: {seq, action, code, time} # fake_ec2's request log
    cni: {failure: {command, code, message, at, failures}} | None   # the agent's call log
    hns: None (not answering) | {endpoint: {...} | None, pending_faults: {method: n}}
    kube_proxy: {lb_failures_last_sync, lb_failures, recent: [{service, kind, message}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

IP_RESOURCE = "vpc.amazonaws.com/PrivateIPv4Address"
LINKS = ("admission", "scheduling", "controller", "cni", "hns", "kube-proxy")
WEBHOOK_COMPONENT = "controller"  # the first controller replica serves the webhook
HNS_SIGNATURE = " failed in Win32: "  # hcsshim's error line, as the CNI passes it on
ANNOTATION_MISSING = f"does not have label {IP_RESOURCE}"
# How close (s) a pod's creation may be to an outage's edges and still count: the
# supervisor notices a death within its poll and timestamps are whole seconds.
OUTAGE_SLACK_S = 1.5

# Evidence sources, as printed.
POD_SPEC = "pod spec"
POD_STATUS = "pod status"
SUPERVISOR_LOG = "supervisor log"
SCHEDULER_EVENTS = "scheduler events"
INTROSPECTION = "controller introspection"
NODE_STATUS = "node status"
EC2_ENI = "EC2 DescribeNetworkInterfaces"
EC2_REQUEST_LOG = "fake_ec2 request log"
KUBELET_EVENTS = "kubelet events"
CONTROLLER_EVENTS = "controller events"
AGENT_CALL_LOG = "node agent CNI call log"
HNS_DUMP = "HNS DumpState"
AGENT_STATUS = "node agent status (kube-proxy)"

Json = dict[str, Any]


def _ev(source: str, detail: str) -> Json:
    return {"source": source, "detail": detail}


def _result(
    ev: Mapping[str, Any],
    link: str | None,
    reason: str,
    message: str,
    evidence: Sequence[Json],
    checked: Sequence[Json],
) -> Json:
    pod = ev.get("pod") or {}
    created = pod.get("created")
    now = ev.get("now")
    return {
        "pod": f"{pod.get('namespace', '?')}/{pod.get('name', '?')}",
        "node": pod.get("node") or None,
        "phase": pod.get("phase"),
        "state": pod_state(pod),
        "age_s": round(now - created, 1) if isinstance(now, float | int) and created else None,
        "ok": link is None,
        "link": link,
        "reason": reason,
        "message": message,
        "evidence": list(evidence),
        "checked": list(checked),
    }


def pod_state(pod: Mapping[str, Any]) -> str:
    """pending (not bound) / container_creating / running / terminating / <phase>."""
    if pod.get("deleting"):
        return "terminating"
    phase = str(pod.get("phase") or "Pending")
    if phase == "Pending":
        return "container_creating" if pod.get("node") else "pending"
    return phase.lower()


def _events(ev: Mapping[str, Any], *components: str) -> list[Json]:
    out = [e for e in ev.get("events") or [] if e.get("component") in components]
    return sorted(out, key=lambda e: e.get("last") or 0)


def _event_line(e: Mapping[str, Any]) -> str:
    count = e.get("count") or 1
    times = f" (x{count})" if count > 1 else ""
    return f"{e.get('type', 'Normal')} {e.get('reason')}{times}: {e.get('message')}"


def _outage_at(ev: Mapping[str, Any], t: float, component: str) -> Json | None:
    """The outage of `component` (supervisor log) that covers time `t`."""
    for o in (ev.get("supervisor") or {}).get("outages") or []:
        if o.get("component") != component:
            continue
        start, end = float(o["start"]), o.get("end")
        if start - OUTAGE_SLACK_S <= t and (end is None or t <= float(end) + OUTAGE_SLACK_S):
            return dict(o)
    return None


def _fmt_time(t: float | None) -> str:
    import time as _time

    if t is None:
        return "now"
    return _time.strftime("%H:%M:%S", _time.gmtime(t)) + "Z"


def eni_slots(eni: Mapping[str, Any], mode: str | None) -> tuple[str, bool]:
    """("primary + 9 secondary = 10 of 10, no /28 fits", full) for the node's primary ENI."""
    limit = int(eni.get("limit") or 0)
    secondary = int(eni.get("secondary") or 0)
    prefixes = int(eni.get("prefixes") or 0)
    parts = ["primary"]
    if secondary:
        parts.append(f"{secondary} secondary")
    if prefixes:
        parts.append(f"{prefixes} prefix{'es' if prefixes != 1 else ''}")
    used = 1 + secondary + prefixes
    text = f"{' + '.join(parts)} = {used} of {limit}" if limit else " + ".join(parts)
    full = bool(limit) and used >= limit
    if full:
        text += ", no /28 fits" if mode == "prefix" else ", no secondary IP fits"
    return text, full


def mode_mismatch(ctl_node: Mapping[str, Any] | None, advertised: Any) -> str | None:
    """Why the controller's mode and the node's advertised capacity disagree (None: they
    agree): a mode switch on a node that runs pods leaves one pool draining."""
    if not ctl_node or not ctl_node.get("managed") or ctl_node.get("mode") is None:
        return None
    mode, capacity = ctl_node.get("mode"), ctl_node.get("capacity")
    problems = []
    if advertised is not None and capacity is not None and int(advertised) != int(capacity):
        problems.append(
            f"the node advertises {advertised} {IP_RESOURCE} but the controller's {mode} "
            f"pool holds {capacity}"
        )
    for other, view in (ctl_node.get("pools") or {}).items():
        if other != mode and view.get("state") == "draining" and int(view.get("used") or 0):
            problems.append(
                f"mode is {mode} but {view['used']} pod(s) still hold {other} IPs (draining)"
            )
    return "; ".join(problems) or None


# -- the links ------------------------------------------------------------------------
def _not_in_pipeline(ev: Mapping[str, Any]) -> Json | None:
    pod = ev.get("pod") or {}
    if pod.get("host_network"):
        return _result(ev, None, "host_network", "a host-network pod: no VPC IP needed", [], [])
    if not pod.get("windows"):
        return _result(
            ev, None, "not_windows", "the pod does not select Windows nodes: not this pipeline",
            [_ev(POD_SPEC, "no nodeSelector kubernetes.io/os: windows")], [],
        )  # fmt: skip
    return None


def _admission(ev: Mapping[str, Any], checked: list[Json]) -> Json | None:
    pod = ev.get("pod") or {}
    if pod.get("requests_ip"):
        checked.append({"link": "admission", "ok": True, "note": f"{IP_RESOURCE}: 1 requested"})
        return None
    created = pod.get("created")
    outage = _outage_at(ev, float(created), WEBHOOK_COMPONENT) if created else None
    ctl = ev.get("controller")
    if outage is None and ctl is not None and ctl.get("ipam_enabled") is False:
        return None  # the webhook skips pods while IPAM is off: the controller link says so
    evidence = [
        _ev(POD_SPEC, f"containers[0] has no {IP_RESOURCE} in limits or requests"),
    ]
    # What it leads to: the CNI waits for an annotation nobody writes.
    evidence += [_ev(KUBELET_EVENTS, _event_line(e)) for e in _events(ev, "kubelet")[-1:]]
    if outage is not None:
        evidence.append(
            _ev(
                SUPERVISOR_LOG,
                f"{outage.get('unit') or WEBHOOK_COMPONENT} (the webhook) down from "
                f"{_fmt_time(outage['start'])} to {_fmt_time(outage.get('end'))}: "
                f"{outage.get('why') or 'stopped'}; the pod was created at {_fmt_time(created)}",
            )
        )
        return _result(
            ev, "admission", "webhook_down",
            f"created while the admission webhook was down: failurePolicy Ignore admitted it "
            f"without {IP_RESOURCE}, so no IP will come; delete and re-create the pod",
            evidence, checked,
        )  # fmt: skip
    evidence.append(_ev(SUPERVISOR_LOG, "no webhook outage at the pod's creation"))
    return _result(
        ev, "admission", "no_ip_resource",
        f"the pod selects Windows but does not request {IP_RESOURCE}: the webhook did not "
        "mutate it; the controller ignores it",
        evidence, checked,
    )  # fmt: skip


def _scheduling(ev: Mapping[str, Any], checked: list[Json]) -> Json | None:
    pod = ev.get("pod") or {}
    if pod.get("node"):
        checked.append({"link": "scheduling", "ok": True, "note": f"bound to {pod['node']}"})
        return None
    cond = (pod.get("conditions") or {}).get("PodScheduled") or {}
    events = _events(ev, "default-scheduler")
    evidence = []
    if cond:
        evidence.append(
            _ev(POD_STATUS, f"PodScheduled={cond.get('status')} {cond.get('reason') or ''}: "
                f"{cond.get('message') or ''}".rstrip(": "))
        )  # fmt: skip
    evidence += [_ev(SCHEDULER_EVENTS, _event_line(e)) for e in events[-3:]]
    sched = ((ev.get("supervisor") or {}).get("state") or {}).get("kube-scheduler")
    if sched and sched != "running":
        evidence.append(_ev(SUPERVISOR_LOG, f"kube-scheduler is {sched}"))
        return _result(
            ev, "scheduling", "scheduler_down", f"kube-scheduler is {sched}", evidence, checked
        )
    message = cond.get("message") or (events[-1]["message"] if events else "")
    if cond.get("reason") == "Unschedulable" or events:
        text = f"unschedulable: {message}" if message else "unschedulable"
        if IP_RESOURCE in message:
            text += f" (every Windows node's {IP_RESOURCE} is taken)"
        return _result(ev, "scheduling", "unschedulable", text, evidence, checked)
    return _result(
        ev, "scheduling", "not_scheduled_yet", "not bound to a node yet (no scheduler verdict)",
        evidence, checked,
    )  # fmt: skip


def _controller_evidence(ev: Mapping[str, Any], node: Mapping[str, Any] | None) -> list[Json]:
    out = []
    if node and node.get("managed"):
        ips = node.get("ips") or {}
        out.append(
            _ev(INTROSPECTION,
                f"node {node.get('name')}: mode {node.get('mode')}, capacity "
                f"{node.get('capacity')}, IPs used {ips.get('used', 0)} / warm "
                f"{ips.get('warm', 0)} / cooling {ips.get('cooling', 0)}")
        )  # fmt: skip
        waiting = node.get("waiting")
        if waiting:
            out.append(_ev(INTROSPECTION, f"pool waiting: {waiting.get('reason')}: "
                           f"{waiting.get('message')}"))  # fmt: skip
    err = (node or {}).get("last_ec2_error")
    req = ev.get("ec2_error_request")
    if not err and req:
        out.append(
            _ev(EC2_REQUEST_LOG,
                f"last refused request on the node's ENI: #{req['seq']} {req.get('action')} "
                f"{req.get('code')}")
        )  # fmt: skip
    if err:
        seq = f" (request #{req['seq']} in the fake_ec2 request log)" if req else ""
        out.append(
            _ev(INTROSPECTION,
                f"last EC2 error: {err.get('action')} {err.get('code')}: {err.get('message')}"
                f"{seq}")
        )  # fmt: skip
    return out


def _controller(ev: Mapping[str, Any], checked: list[Json]) -> Json | None:
    pod = ev.get("pod") or {}
    if pod.get("annotation"):
        checked.append({"link": "controller", "ok": True, "note": f"annotated {pod['annotation']}"})
        return None
    ctl = ev.get("controller")
    sv = (ev.get("supervisor") or {}).get("state") or {}
    if ctl is None:
        state = sv.get("controller")
        evidence = [_ev(INTROSPECTION, "does not answer")]
        if state:
            evidence.append(_ev(SUPERVISOR_LOG, f"controller is {state}"))
        evidence += [_ev(KUBELET_EVENTS, _event_line(e)) for e in _events(ev, "kubelet")[-1:]]
        return _result(
            ev, "controller", "controller_down",
            "the controller does not answer: nobody gives the pod its IP annotation",
            evidence, checked,
        )  # fmt: skip
    node = ctl.get("node")
    node_name = pod.get("node")
    if ctl.get("ipam_enabled") is False or (node is not None and node.get("managed") is False):
        why = (node or {}).get("unmanaged_reason") or "Windows IPAM is off"
        evidence = [
            _ev(INTROSPECTION, f"node {node_name} not managed: {why}"),
            _ev(INTROSPECTION, f"ipam_enabled: {ctl.get('ipam_enabled')} "
                "(ConfigMap kube-system/amazon-vpc-cni enable-windows-ipam)"),
            _ev(POD_SPEC, f"no {IP_RESOURCE} request (the webhook skips pods while IPAM is off)"
                if not pod.get("requests_ip") else f"{IP_RESOURCE}: 1 requested"),
        ]  # fmt: skip
        return _result(
            ev, "controller", "node_not_managed",
            f"node {node_name} is not managed by the controller: {why}; set "
            'enable-windows-ipam: "true" in ConfigMap kube-system/amazon-vpc-cni',
            evidence, checked,
        )  # fmt: skip
    if node is None:
        return _result(
            ev, "controller", "node_unknown",
            f"the controller has not seen node {node_name}", [_ev(INTROSPECTION, "404")], checked,
        )  # fmt: skip
    wait = ctl.get("wait") or {}
    evidence = []
    if wait:
        evidence.append(
            _ev(INTROSPECTION,
                f"pod waits: {wait.get('reason')}: {wait.get('message')} (attempt "
                f"{wait.get('attempts')}, since {wait.get('since')})")
        )  # fmt: skip
    evidence += _controller_evidence(ev, node)
    mode = node.get("mode")
    advertised = (ev.get("node") or {}).get("capacity")
    mismatch = mode_mismatch(node, advertised)
    if mismatch:
        evidence.append(_ev(NODE_STATUS, f"{IP_RESOURCE} capacity {advertised}; {mismatch}"))
    slots, full = eni_slots(ev.get("eni") or {}, mode) if ev.get("eni") else ("", False)
    if slots:
        evidence.append(_ev(EC2_ENI, f"ENI address slots: {slots}"))
    evidence += [_ev(CONTROLLER_EVENTS, _event_line(e))
                 for e in _events(ev, "vpc-resource-controller")[-2:]]  # fmt: skip
    node_wait = node.get("waiting") or {}
    reason = wait.get("reason") or node_wait.get("reason") or "queued"
    if node_wait.get("reason") == "init_failed":
        reason = "init_failed"
    if full and reason in ("pool_empty", "no_cidr", "creating", "error", "at_capacity", "queued"):
        extra = f" after a mode switch ({mismatch})" if mismatch else ""
        return _result(
            ev, "controller", "eni_full",
            f"ENI address slots full: {slots}{extra}; pods on {node_name} wait until IPs "
            "are released",
            evidence, checked,
        )  # fmt: skip
    err = node.get("last_ec2_error") or {}
    req = ev.get("ec2_error_request") or {}
    # The real controller misses this error's text and retries as "pool empty" (FACTS.md):
    # the EC2 code is what names the cause.
    if "InsufficientCidrBlocks" in (err.get("code"), req.get("code")):
        reason = "no_cidr"
    if mismatch and reason != "no_cidr":
        return _result(ev, "controller", "mode_mismatch", f"mode mismatch on {node_name}: "
                       f"{mismatch}", evidence, checked)  # fmt: skip
    messages = {
        "no_cidr": "the subnet has no free /28 prefix (InsufficientCidrBlocks): fragmented or "
        "full; a CIDR reservation or a free range fixes it",
        "pool_empty": f"the warm pool of {node_name} is empty",
        "at_capacity": f"every IP of {node_name} is in use",
        "cooling": "every free IP is cooling down (transient)",
        "creating": "IPs are being created (transient)",
        "node_not_ready": f"the controller has not initialised {node_name} yet",
        "init_failed": f"the controller could not initialise {node_name}",
        "annotate_failed": "the controller could not write the annotation",
        "error": "the controller failed on the pod",
        "queued": "seen by the controller, not served yet",
    }
    text = messages.get(str(reason), str(reason))
    if err and reason in ("pool_empty", "error", "init_failed", "creating", "no_cidr"):
        text += f"; last EC2 error {err.get('code')}"
    return _result(ev, "controller", str(reason), text, evidence, checked)


def _hns_evidence(ev: Mapping[str, Any]) -> list[Json]:
    hns = ev.get("hns")
    if hns is None:
        return [_ev(HNS_DUMP, "HNS does not answer")] if "hns" in ev else []
    out = []
    faults = {m: n for m, n in (hns.get("pending_faults") or {}).items() if n}
    if faults:
        out.append(
            _ev(
                HNS_DUMP,
                "pending faults: " + ", ".join(f"{m} x{n}" for m, n in sorted(faults.items())),
            )
        )
    ep = hns.get("endpoint")
    pod = ev.get("pod") or {}
    ip = pod.get("pod_ip") or str(pod.get("annotation") or "").split("/")[0]
    if ip:
        out.append(
            _ev(
                HNS_DUMP,
                f"endpoint for {ip}: " + (ep.get("Name") or ep.get("Id", "?") if ep else "none"),
            )
        )
    return out


def _cni(ev: Mapping[str, Any], checked: list[Json]) -> Json | None:
    pod = ev.get("pod") or {}
    if pod.get("phase") == "Running":
        checked.append({"link": "cni", "ok": True, "note": f"sandbox up, IP {pod.get('pod_ip')}"})
        return None
    kubelet = [e for e in _events(ev, "kubelet") if e.get("reason") == "FailedCreatePodSandBox"]
    failure = (ev.get("cni") or {}).get("failure")
    evidence = [_ev(KUBELET_EVENTS, _event_line(e)) for e in kubelet[-2:]]
    if failure:
        evidence.append(
            _ev(AGENT_CALL_LOG,
                f"CNI {failure.get('command')} exit {failure.get('code')} "
                f"({failure.get('failures', 1)} failed): {failure.get('message')}")
        )  # fmt: skip
    text = " ".join(
        [str(e.get("message")) for e in kubelet[-1:]] + [str((failure or {}).get("message", ""))]
    )
    agent = ((ev.get("supervisor") or {}).get("state") or {}).get("node-agent")
    if not kubelet and not failure:
        if agent and agent != "running":
            return _result(
                ev, "cni", "kubelet_down", f"the node agent (kubelet) is {agent}",
                [_ev(SUPERVISOR_LOG, f"node-agent is {agent}")], checked,
            )  # fmt: skip
        return _result(
            ev, "cni", "starting", "the sandbox is being created (no failure so far)",
            [_ev(POD_STATUS, f"waiting: {pod.get('waiting_reason') or 'ContainerCreating'}")],
            checked,
        )  # fmt: skip
    if HNS_SIGNATURE in text or ("hns" in text.lower() and "unavailable" in text.lower()):
        evidence += _hns_evidence(ev)
        return _result(
            ev, "hns", "hns_failed",
            f"HNS refused the pod's network: {_hns_error(text)}", evidence, checked,
        )  # fmt: skip
    return _result(ev, "cni", "cni_failed", f"CNI ADD fails: {_cni_error(text)}", evidence, checked)


def _hns_error(text: str) -> str:
    """The hcsshim error line out of a CNI message (`hcnCreateEndpoint failed in Win32: ...`)."""
    i = text.find(HNS_SIGNATURE)
    if i < 0:
        return text.strip()
    start = text.rfind(" ", 0, i) + 1
    end = text.find(")", i)
    return text[start : end + 1 if end > 0 else len(text)]


def _cni_error(text: str) -> str:
    marker = "failed (add): "
    i = text.find(marker)
    return (text[i + len(marker) :] if i >= 0 else text).strip()


def _running(ev: Mapping[str, Any], checked: list[Json]) -> Json:
    pod = ev.get("pod") or {}
    hns = ev.get("hns")
    if hns is not None and "endpoint" in hns and hns.get("endpoint") is None:
        return _result(
            ev, "hns", "endpoint_missing",
            f"Running, but HNS has no endpoint for {pod.get('pod_ip')} (HNS restarted empty?)",
            _hns_evidence(ev), checked,
        )  # fmt: skip
    if hns is not None:
        checked.append({"link": "hns", "ok": True, "note": f"endpoint for {pod.get('pod_ip')}"})
    kp = ev.get("kube_proxy") or {}
    if int(kp.get("lb_failures_last_sync") or 0):
        recent = kp.get("recent") or []
        evidence = [
            _ev(AGENT_STATUS, f"{kp['lb_failures_last_sync']} load balancer(s) failed in the "
                f"last sync ({kp.get('lb_failures', 0)} since start)")
        ] + [_ev(AGENT_STATUS, f"{r.get('service')} {r.get('kind')}: {r.get('message')}")
             for r in recent[:3]]  # fmt: skip
        return _result(
            ev, "kube-proxy", "lb_failures",
            f"kube-proxy cannot create every load balancer on {pod.get('node')}: Services "
            "there do not reach all pods (port exhaustion without DSR?)",
            evidence, checked,
        )  # fmt: skip
    if kp:
        checked.append({"link": "kube-proxy", "ok": True, "note": "no load-balancer failures"})
    return _result(
        ev, None, "running", f"Running on {pod.get('node')} with IP {pod.get('pod_ip')}", [],
        checked,
    )  # fmt: skip


def first_broken_link(evidence: Mapping[str, Any]) -> Json:
    """The pipeline's first broken link for one pod, with its evidence (module doc)."""
    skip = _not_in_pipeline(evidence)
    if skip is not None:
        return skip
    checked: list[Json] = []
    for link in (_admission, _scheduling, _controller, _cni):
        found = link(evidence, checked)
        if found is not None:
            return found
    return _running(evidence, checked)


def is_stuck(pod: Mapping[str, Any], now: float, wait_s: float) -> bool:
    """Not Running (nor finished, nor terminating) for longer than `wait_s` since creation:
    `ekswin why --stuck` uses the timing profile's CNI annotation wait."""
    if pod.get("deleting") or pod.get("phase") in ("Running", "Succeeded", "Failed"):
        return False
    created = pod.get("created")
    return created is not None and now - float(created) > wait_s
