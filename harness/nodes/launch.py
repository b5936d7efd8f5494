"""Start the Windows nodes for a pipeline: EC2 instances, node identities, the agent.

``start_nodes(pipeline, say)`` is what ``harness.pipeline.Pipeline.start_nodes`` calls.
It reads from the pipeline: ``opts`` (windows_nodes, instance_type, max_pods, dsr,
``extra``), ``ec2_url``, ``hns_target``, ``subnet_id``, ``run_dir``, ``sup`` (the
Supervisor) and ``env.cluster`` (for ``issue_client_kubeconfig``).
Extra options honoured (``opts.extra``): ``windows_build``, ``timing_profile``,
``kube_proxy`` (mapping, see docs/nodes.md), ``cni_mode``, ``annotation_timeout_s``,
``node_prefix`` (default ``win``), ``service_cidr``, ``agent_start_timeout_s``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.nodes.config import AgentConfig, CniSettings, NodeEntry
from harness.nodes.ec2 import register_instances
from harness.nodes.spec import NodeSpec

READY_LINE = r"(?m)^ready (\d+) nodes"


def node_specs(opts: Any, subnet_id: str, region: str) -> list[NodeSpec]:
    """NodeSpecs for `ekswin up --windows-nodes N` options."""
    extra = dict(getattr(opts, "extra", {}) or {})
    prefix = str(extra.get("node_prefix", "win"))
    return [
        NodeSpec(
            name=f"{prefix}-{i}",
            instance_type=opts.instance_type,
            subnet_id=subnet_id,
            region=region,
            max_pods=int(getattr(opts, "max_pods", 110)),
            windows_build=str(extra.get("windows_build", "10.0.17763")),
        )
        for i in range(int(opts.windows_nodes))
    ]


def kube_proxy_settings(opts: Any) -> dict[str, Any]:
    """The agent's kube_proxy block: ``--dsr`` means ``--enable-dsr`` plus ``WinDSR=true``."""
    extra = dict(getattr(opts, "extra", {}) or {})
    kp = dict(extra.get("kube_proxy") or {})
    if getattr(opts, "dsr", False):
        kp.setdefault("enable_dsr", True)
        kp.setdefault("feature_gates", {"WinDSR": True})
    return kp


def start_nodes(pipeline: Any, say: Any) -> list[dict[str, Any]]:
    """Launch instances, issue node credentials, start the agent and wait for it."""
    from harness.pipeline import REGION, python_module

    opts = pipeline.opts
    extra = dict(getattr(opts, "extra", {}) or {})
    comp: Path = pipeline.run_dir / "components" / "nodes"
    comp.mkdir(parents=True, exist_ok=True)
    specs = node_specs(opts, pipeline.subnet_id, REGION)
    launched = register_instances(specs, pipeline.ec2_url, REGION)
    entries = []
    for spec, inst in launched:
        kubeconfig = pipeline.env.cluster.issue_client_kubeconfig(
            f"system:node:{spec.name}", ["system:nodes"], comp / f"{spec.name}.kubeconfig"
        )
        entries.append(NodeEntry(spec, str(kubeconfig), inst))
    cni = CniSettings(
        mode=str(extra.get("cni_mode", "exec")),
        service_cidr=str(extra.get("service_cidr", "10.96.0.0/16")),
        annotation_timeout_s=float(extra.get("annotation_timeout_s", 60.0)),
    )
    from harness.kubeproxy.identity import kube_proxy_kubeconfig

    kp_kubeconfig = kube_proxy_kubeconfig(pipeline.env.cluster, comp / "kube-proxy.kubeconfig")
    config = AgentConfig(
        kube_proxy_kubeconfig=str(kp_kubeconfig),
        nodes=tuple(entries),
        hns_target=pipeline.hns_target.removeprefix("grpc://"),
        timing_profile=extra.get("timing_profile", "fast"),
        kube_proxy=kube_proxy_settings(opts),
        cni=cni,
        ec2_endpoint=pipeline.ec2_url,
        region=REGION,
        seed=int(extra.get("seed", 0)),
        status_file=str(comp / "agent-status.json"),
    )
    path = config.write(comp / "agent.json")
    proc = pipeline.sup.start(
        "node-agent", python_module("harness.nodes", "--config", str(path)), stop_grace_s=3.0
    )
    proc.wait_for_line(READY_LINE, float(extra.get("agent_start_timeout_s", 120.0)))
    say(f"{len(entries)} Windows node(s) registered")
    return [
        {
            "name": s.name,
            "instance_id": i.instance_id,
            "instance_type": s.instance_type,
            "private_ip": i.private_ip,
            "eni_id": i.eni_id,
            "kubeconfig": str(e.kubeconfig),
        }
        for (s, i), e in zip(launched, entries, strict=True)
    ]


if __name__ == "__main__":  # pragma: no cover - debugging aid
    print(__doc__, file=sys.stderr)
