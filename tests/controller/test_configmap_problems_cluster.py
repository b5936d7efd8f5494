"""ConfigMap values the controller rejects or overrides, end to end: the controller process
(its own ServiceAccount and RBAC) against the real API server and fake_ec2 records a
Warning Event on the ConfigMap — found the way `kubectl describe configmap` finds it, by
the ConfigMap's uid — logs each problem once, and behaves as the real controller does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.waiting import wait_until

from .conftest import capacity, windows_node  # type: ignore[import-not-found]

pytestmark = pytest.mark.cluster


def configmap_events(core: Any, reason: str) -> list[Any]:
    cm = core.read_namespaced_config_map("amazon-vpc-cni", "kube-system")
    sel = (
        "involvedObject.kind=ConfigMap,involvedObject.name=amazon-vpc-cni,"
        f"involvedObject.uid={cm.metadata.uid},reason={reason}"
    )
    return list(core.list_namespaced_event("kube-system", field_selector=sel).items)


def test_bad_targets_are_reported_on_the_configmap(
    ekswin_cluster: Any, fake_ec2: str, controller_kubeconfig: Any, start_controller: Any
) -> None:
    cm = {"enable-windows-ipam": "true", "warm-ip-target": "99999", "minimum-ip-target": "abc"}
    win = windows_node(ekswin_cluster, fake_ec2, cm)
    core = win.core
    ctl = start_controller(controller_kubeconfig, fake_ec2)
    wait_until(lambda: capacity(core, win.name) == "9", what="capacity 9")

    (invalid,) = wait_until(
        lambda: configmap_events(core, "InvalidConfiguration"), what="InvalidConfiguration"
    )
    assert invalid.type == "Warning"
    assert invalid.message.startswith(
        'ConfigMap kube-system/amazon-vpc-cni: minimum-ip-target="abc" is not valid: '
        "expected a decimal integer"
    )
    (beyond,) = wait_until(
        lambda: configmap_events(core, "TargetExceedsCapacity"), what="TargetExceedsCapacity"
    )
    assert 'warm-ip-target="99999" cannot be met: expected at most 9 IPs' in beyond.message
    assert f"on node {win.name} (m5.large, secondary mode)" in beyond.message

    # As the real pool: the ENI is filled to its capacity, no further.
    def secondaries() -> int:
        d = win.ec2.describe_network_interfaces(NetworkInterfaceIds=[win.eni])
        return sum(not a["Primary"] for a in d["NetworkInterfaces"][0]["PrivateIpAddresses"])

    wait_until(lambda: secondaries() == 9, what="9 secondary IPs")
    log = Path(ctl.log_path).read_text(errors="replace")
    assert log.count('minimum-ip-target="abc" is not valid') == 1
    assert log.count('warm-ip-target="99999" cannot be met') == 1
    win.remove([])
