"""`ekswin scenario run` end to end: every step kind against a real environment, the
report's keys and schema, exit codes, and `--json -` printing nothing but the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario.report import validate_report

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

EVERY_KIND = """\
version: 1
name: every-kind
seed: 5
timing: fast
configmap: {enable-windows-ipam: "true", enable-windows-prefix-delegation: "true"}
nodes:
  - {name: win, instance_type: t3.2xlarge}
kube_proxy: {sync_period_s: 2, min_sync_period_s: 0.5}
steps:
  - create_pods: {count: 3, name: app}
  - expect: {pods_running: 3, timeout: 60}
  - delete_pods: {name: app, count: 1}
  - expect: {pods_running: 2, node: null}
  - create_services: {count: 2, name: web, type: NodePort, selector: app}
  - expect: {node: win, load_balancers: 4, lb_failures: 0, timeout: 60}
  - delete_services: {name: web, count: 1}
  - expect: {node: win, load_balancers: 2, timeout: 60}
  - set_configmap: {warm-prefix-target: "2"}
  - expect: {node: win, prefixes: 3, timeout: 60}
  - replace_configmap: {enable-windows-ipam: "true", enable-windows-prefix-delegation: "true"}
  - faults: {ec2: {errors: {AssignPrivateIpAddresses: {code: InsufficientCidrBlocks, count: 1}}}}
  - set_configmap: {warm-prefix-target: "1"}
  - expect: {event: InsufficientCidrBlocks, timeout: 30}
  - faults: {ec2: {}}
  - restart: controller
  - create_pods: {count: 1, name: late}
  - expect: {pods_running: 3, timeout: 60}
  - apply:
      manifest: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              nodeSelector: {kubernetes.io/os: windows}
              containers: [{name: iis, image: mcr.microsoft.com/windows/servercore/iis}]
  - scale: {name: web, replicas: 2}
  - expect: {pods_running: 5, timeout: 60}
  - delete_deployments: {object: web}
  - expect: {pods_running: 3, timeout: 60}
  - add_subnet: {name: b, cidr: 192.168.64.0/24, az: us-west-2b}
  - add_nodes: {name: extra, instance_type: m5.large, subnet: b}
  - expect: {node: extra, mode: prefix, capacity: 144, timeout: 60}
  - reserve_cidr: {subnet: b, cidr: 192.168.64.128/26}
  - fragment: {subnet: b, every: 16, offset: 2, cidr: 192.168.64.0/26}
  - fragment: {subnet: b, undo: true}
  - hns_ports: {node: win, dynamic_port_range: [50000, 50255]}
  - set_dsr: true
  - stop: node-agent
  - start: node-agent
  - restart: fake_hns
  # fake_hns restarts empty: the node agent registers the host and network again,
  # kube-proxy re-creates its load balancers, the kubelet re-creates the sandboxes.
  - expect: {event: SandboxChanged, timeout: 30}
  - expect: {node: win, load_balancers: 2, lb_failures: 0, timeout: 30}
  - expect: {pods_running: 3, timeout: 30}
  - wait: {seconds: 0.5}
  - {expect: {event: Started}, settle: false}
  - expect: {pods_running: 99, timeout: 2}
"""


def test_every_step_kind_runs_and_a_failed_expect_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "every.yaml"
    path.write_text(EVERY_KIND.replace("  - expect: {pods_running: 2, node: null}\n",
                                       "  - expect: {pods_running: 2}\n"))  # fmt: skip
    env = {**os.environ, "EKSWIN_STATE_DIR": str(tmp_path / "state")}
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "scenario", "run", str(path), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert r.returncode == 1, r.stderr[-3000:]
    report = json.loads(r.stdout)  # stdout is the report and nothing else
    validate_report(report)
    steps = report["steps"]
    assert [s["index"] for s in steps] == list(range(len(steps)))
    failed = [s for s in steps if not s["ok"]]
    assert [s["index"] for s in failed] == [len(steps) - 1], failed
    assert report["failure"] == {
        "kind": "expectation",
        "step": len(steps) - 1,
        "key": "pods_running",
        "node": None,
        "detail": "pods_running: 3, expected 99",
    }
    assert not report["ok"] and report["invariants"]["ok"], report["invariants"]
    assert report["invariants"]["violations"] == []  # every endpoint came back
    assert set(report["nodes"]) == {"win", "extra"}
    assert report["nodes"]["extra"]["instance_type"] == "m5.large"
    reasons = {(e["source"], e["reason"]) for e in report["events"]}
    assert ("ec2", "InsufficientCidrBlocks") in reasons
    assert ("supervisor", "Started") in reasons and ("supervisor", "Stopped") in reasons
    assert report["timeline"] and "AssignPrivateIpAddresses" in report["timeline"][-1]["ec2_calls"]
    assert "scenario every-kind" in r.stderr and "FAILED" in r.stderr  # progress, summary
    # a failed run keeps its run directory and logs
    assert (tmp_path / "state" / "_scenarios" / "every-kind" / "logs" / "controller.log").exists()
