"""Four EKS-Windows problems reproduced with `ekswin step` commands alone on a running
environment, exported with `ekswin scenario export`, and the export re-run with
`ekswin scenario run`: it passes, so every expect of the hand-made session holds again.

1. a fragmented subnet (no aligned /28 free) fixed by a subnet CIDR reservation;
2. a secondary -> prefix-delegation switch with pods running (capacity trap);
3. port exhaustion with 130 NodePort Services without DSR, and none once DSR is on;
4. the controller killed mid-deploy, the pods Running once it is back."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from harness.testing import run_ekswin

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.slow, pytest.mark.long]

PD = {"enable-windows-ipam": "true", "enable-windows-prefix-delegation": "true"}
IPAM = {"enable-windows-ipam": "true"}
NODE = {"name": "win", "instance_type": "m5.large"}

SEQUENCES: dict[str, tuple[dict[str, object], list[str]]] = {
    "fragmented-subnet-cidr-reservation": (
        {"configmap": PD, "nodes": [{"name": "win", "instance_type": "t3.2xlarge"}]},
        [
            "add_subnet name=b cidr=192.168.64.0/24 fragment.every=16 fragment.offset=7",
            "add_nodes name=frag instance_type=t3.2xlarge subnet=b",
            "create_pods count=3 name=app node=frag",
            "expect pods_container_creating=3 pods_running=0",
            "expect event=InsufficientCidrBlocks",
            "expect node=frag prefixes=0",
            "fragment subnet=b cidr=192.168.64.192/26 undo=true",
            "reserve_cidr subnet=b cidr=192.168.64.192/26 type=prefix",
            "expect pods_running=3 timeout=90",
            "expect node=frag prefixes=1 assigned_ips=3",
        ],
    ),
    "secondary-to-pd-switch-with-pods": (
        {"configmap": IPAM, "nodes": [NODE]},
        [
            "create_pods count=5 name=old",
            "expect pods_running=5",
            "expect node=win mode=secondary capacity=9 prefixes=0",
            "set_configmap enable-windows-prefix-delegation=true",
            "create_pods count=2 name=new",
            "expect node=win mode=prefix timeout=30",
            "expect invariant_broken=capacity-matches-mode node=win timeout=30",
        ],
    ),
    "port-exhaustion-without-dsr-none-with-dsr": (
        {
            "configmap": IPAM,
            "nodes": [{**NODE, "windows_build": "10.0.20348"}],
            "kube_proxy": {"dsr": False, "sync_period_s": 5, "min_sync_period_s": 1},
        },
        [
            "create_pods count=1 name=backend",
            "expect pods_running=1",
            "create_services count=130 name=web type=NodePort selector=backend",
            "expect node=win load_balancers=256 lb_failures=2 timeout=120",
            "set_dsr true",
            "expect node=win load_balancers=260 lb_failures=0 timeout=120",
        ],
    ),
    "controller-killed-mid-deploy": (
        {"configmap": IPAM, "nodes": [NODE]},
        [
            "--no-settle create_pods count=8 name=app",
            "stop controller",
            "expect pods_pending=0 timeout=30",
            "wait seconds=3",
            "start controller",
            "expect pods_running=8 timeout=120",
        ],
    ),
}


@pytest.mark.timeout(2400)  # an environment, the steps, and the export's own run
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_step_sequence_exports_to_a_scenario_that_reproduces_it(name: str, tmp_path: Path) -> None:
    spec, lines = SEQUENCES[name]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"version": 1, "timing": "fast", **spec}))
    env = name[:30].rstrip("-")
    up = run_ekswin(
        tmp_path, "up", "--detach", "--no-merge", "--name", env, "-f", str(tmp_path / "spec.yaml")
    )
    assert up.returncode == 0, up.stderr
    out = tmp_path / f"{name}.yaml"
    try:
        for line in lines:
            r = run_ekswin(tmp_path, "step", "--name", env, *shlex.split(line))
            assert r.returncode == 0, f"ekswin step {line}:\n{r.stdout}\n{r.stderr[-2000:]}"
        ex = run_ekswin(tmp_path, "scenario", "export", str(out), "--name", env)
        assert ex.returncode == 0, ex.stderr
    finally:
        run_ekswin(tmp_path, "down", "--name", env)
    steps = yaml.safe_load(out.read_text())["steps"]
    kinds = [next(k for k in s if k != "settle") for s in steps]
    typed = [next(w for w in shlex.split(x) if not w.startswith("--")) for x in lines]
    assert [k for k in kinds if k != "wait"] == [k for k in typed if k != "wait"]
    rerun = run_ekswin(
        tmp_path, "scenario", "run", str(out), "--json", str(tmp_path / "r.json"), timeout=900
    )
    assert rerun.returncode == 0, rerun.stderr[-4000:]
