"""Node-agent shards: each drives its own slice of the nodes, supervised on its own, so
the death of one shard leaves the other shard's nodes Ready (whole stack)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# The local backend's node-monitor grace period is 40 s: a node whose Lease is not
# renewed goes Unknown after it; give it that and the controller-manager's next pass.
NOT_READY_DEADLINE_S = 40 + 60


@pytest.fixture(scope="module")
def env(ekswin_env_factory: Any) -> Any:
    return ekswin_env_factory(
        "shards",
        spec={
            "version": 1,
            "timing": "fast",
            "configmap": {"enable-windows-ipam": "true"},
            "nodes": [{"name": "win", "count": 4}],
            "node_agent": {"agents": 2},
            # A killed shard stays dead: what its death does is what is observed.
            "supervision": {"restart": {"node-agent": False}},
        },
    )


def _ready(env: Any) -> dict[str, str]:
    from kubernetes import client

    out = {}
    for node in client.CoreV1Api(env.cluster.api).list_node().items:
        conds = {c.type: c.status for c in node.status.conditions or []}
        out[node.metadata.name] = conds.get("Ready", "")
    return out


def _lease_age_s(env: Any, node: str) -> float:
    from kubernetes import client

    lease = client.CoordinationV1Api(env.cluster.api).read_namespaced_lease(node, "kube-node-lease")
    renewed = lease.spec.renew_time
    return (dt.datetime.now(dt.UTC) - renewed).total_seconds()


def _config_nodes(agent: Any) -> list[str]:
    path = Path(agent.argv[agent.argv.index("--config") + 1])
    return [n["spec"]["name"] for n in json.loads(path.read_text())["nodes"]]


def test_two_shards_split_the_nodes_and_a_dead_shard_takes_only_its_own(env: Any) -> None:
    units = env.supervision.of("node-agent")
    assert [u.name for u in units] == ["node-agent", "node-agent-1"]
    slices = [_config_nodes(u.target) for u in units]
    assert slices == [["win-0", "win-1"], ["win-2", "win-3"]]
    assert env.pipeline.agent_nodes == {"node-agent": slices[0], "node-agent-1": slices[1]}
    assert all(_ready(env)[n] == "True" for s in slices for n in s)

    victim = units[1]
    os.kill(victim.target.process.pid, signal.SIGKILL)
    wait_until(lambda: victim.state == "down", 30, "the supervisor saw node-agent-1 die")

    def dead_shard_unknown() -> bool:
        ready = _ready(env)
        return all(ready[n] == "Unknown" for n in slices[1])

    wait_until(dead_shard_unknown, NOT_READY_DEADLINE_S, "node-agent-1's nodes NotReady")
    ready = _ready(env)
    assert [ready[n] for n in slices[0]] == ["True", "True"], ready
    assert units[0].state == "running" and units[0].target.alive()
    # The live shard keeps renewing: its Leases are younger than one renew period plus
    # the slot spread (10 s each), the dead one's older than the grace period.
    assert all(_lease_age_s(env, n) < 30 for n in slices[0])
    assert all(_lease_age_s(env, n) > 30 for n in slices[1])
