"""Windows node emulation: node registration, kubelet emulation, the node agent process.

Public surface (for the harness to compose):
- ``NodeSpec``, ``InstanceInfo``, ``build_node`` (harness.nodes.spec)
- ``register_instances`` (harness.nodes.ec2): RunInstances in fake_ec2 for node specs
- ``AgentConfig``, ``NodeEntry``, ``CniSettings`` (harness.nodes.config): the agent JSON
- ``python -m harness.nodes --config agent.json``: the agent process (first stdout
  line ``ready N nodes``; SIGHUP drops the nodes its config no longer lists)
- harness.nodes.removal: what a node's removal does (instance terminated, HNS host and
  Node deleted, pods left to the pod garbage collector)
Imports stay lazy so ``import harness.nodes`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.nodes.config import AgentConfig, CniSettings, NodeEntry
    from harness.nodes.ec2 import register_instances
    from harness.nodes.spec import InstanceInfo, NodeSpec, build_node

_EXPORTS = {
    "NodeSpec": "harness.nodes.spec",
    "InstanceInfo": "harness.nodes.spec",
    "build_node": "harness.nodes.spec",
    "register_instances": "harness.nodes.ec2",
    "AgentConfig": "harness.nodes.config",
    "NodeEntry": "harness.nodes.config",
    "CniSettings": "harness.nodes.config",
}

__all__ = [
    "AgentConfig",
    "CniSettings",
    "InstanceInfo",
    "NodeEntry",
    "NodeSpec",
    "build_node",
    "register_instances",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
