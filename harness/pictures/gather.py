"""The node map of a running environment, read through the components' interfaces:
the Kubernetes API, EC2 and fake_ec2's admin state (`harness.observe`) and the
controller's introspection (`/resources/all`: the addresses cooling down per node)."""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.pictures.model import NodeMap, build_node_map

#: The upstream introspection path listing every pool's used / warm / cooling resources.
RESOURCES_ALL_PATH = "/resources/all"


class InspectError(RuntimeError):
    """The environment could not be read (says what and why)."""


def cooling_from_resources(resources: Mapping[str, Any]) -> dict[str, set[str]]:
    """Node -> addresses cooling down, from a `/resources/all` document
    (``{resource name: {node: {"CoolingResources": [{"Resource": {"ResourceID"}}]}}}``;
    a resource id is the address, ``IP/32`` in a prefix pool)."""
    out: dict[str, set[str]] = {}
    for pools in resources.values():
        for node, pool in (pools or {}).items():
            for entry in (pool or {}).get("CoolingResources") or []:
                rid = (entry.get("Resource") or {}).get("ResourceID")
                try:  # a prefix pool's ids are "IP/32", a secondary pool's the bare IP
                    address = str(ipaddress.IPv4Interface(str(rid)).ip)
                except ValueError:
                    continue
                out.setdefault(node, set()).add(address)
    return out


def _get_json(url: str, timeout_s: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read())


def cooling_ips(controller_urls: Iterable[str]) -> dict[str, set[str]]:
    """Node -> addresses cooling down, merged over the controller replicas (only the
    leader has pools; a replica that does not answer adds nothing)."""
    out: dict[str, set[str]] = {}
    for url in controller_urls:
        try:
            doc = _get_json(url.rstrip("/") + RESOURCES_ALL_PATH)
        except (OSError, ValueError):
            continue
        if isinstance(doc, Mapping):
            for node, ips in cooling_from_resources(doc).items():
                out.setdefault(node, set()).update(ips)
    return out


def controller_urls(run_dir: Path) -> list[str]:
    """The controller replicas' health/introspection URLs from the run directory's
    env.json (``endpoints.controller``, ``endpoints.controller-1``, ...)."""
    try:
        env = json.loads((run_dir / "env.json").read_text())
    except (OSError, ValueError):
        return []
    endpoints = env.get("endpoints") or {}
    return [
        url
        for name, url in sorted(endpoints.items())
        if name == "controller" or name.startswith("controller-")
    ]


def node_map_from_run_dir(run_dir: Path, node: str | None = None) -> NodeMap:
    """The node map of the environment in `run_dir` (every node, or only `node`:
    ValueError when it is not one). InspectError when the environment has no Windows
    nodes or does not answer."""
    from harness.observe import ObserveError, observe_run_dir

    if not (run_dir / "nodes.json").exists():
        raise InspectError(f"no Windows nodes recorded in {run_dir} (nodes.json is missing)")
    try:
        state = observe_run_dir(run_dir)
    except (ObserveError, OSError, urllib.error.URLError) as err:
        raise InspectError(f"cannot read the environment in {run_dir}: {err}") from err
    except Exception as err:  # the API server or EC2 answering errors: say which
        raise InspectError(
            f"cannot read the environment in {run_dir}: {type(err).__name__}: {err}"
        ) from err
    return build_node_map(state, cooling_ips(controller_urls(run_dir)), node=node)
