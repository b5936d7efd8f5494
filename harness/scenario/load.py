"""Read and validate scenario files: the environment spec's checks plus the steps'.

Errors name the file, the YAML line, the field path (``steps[3].expect.node``), the
value and what was expected, like the spec's."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.scenario.model import (
    CLUSTER_KEYS,
    NODE_KEYS,
    STEP_KINDS,
    Scenario,
    Step,
)
from harness.spec import SpecError
from harness.spec.load import (
    PathT,
    Problem,
    build,
    read_document,
    schema,
    schema_problems,
    semantic_problems,
)
from harness.spec.model import NodeGroup

SCHEMA_FILE = "scenario.schema.json"


@cache
def scenario_schema() -> dict[str, Any]:
    """The scenario schema: the environment spec's plus `steps` (from steps.schema.json)."""
    steps = json.loads(
        resources.files("harness.scenario").joinpath("steps.schema.json").read_text()
    )
    out = copy.deepcopy(schema())
    out["$id"] = "https://ekswin.dev/schemas/scenario-v1.json"
    out["title"] = "ekswin scenario, version 1"
    out["description"] = "An environment spec plus steps run in order (SCENARIOS.md)."
    out["properties"]["steps"] = {"type": "array", "items": {"$ref": "#/$defs/step"}}
    out["$defs"].update(steps["$defs"])
    return out


def shipped_schema() -> dict[str, Any]:
    """The scenario schema as shipped for editors (kept equal to scenario_schema())."""
    text = resources.files("harness.scenario").joinpath(SCHEMA_FILE).read_text()
    return dict(json.loads(text))


def _step_problems(data: Mapping[str, Any], lines: Mapping[PathT, int]) -> list[Problem]:
    out: list[Problem] = []

    def bad(path: PathT, msg: str) -> None:
        out.append(Problem(path, msg, lines.get(path)))

    spec_groups = build(data).nodes
    nodes = {n for g in spec_groups for n in g.node_names()}
    node_groups = {g.name: g.node_names() for g in spec_groups}  # as launched
    subnets = {s["name"] for s in (data.get("vpc") or {}).get("subnets") or []} or {"a"}
    groups: set[str] = set()
    for i, raw in enumerate(data.get("steps") or []):
        at: PathT = ("steps", i)
        kinds = [k for k in raw if k != "settle"]
        if len(kinds) != 1:
            bad(at, f"got {', '.join(kinds) or 'no step kind'}; expected exactly one of: "
                f"{', '.join(STEP_KINDS)}")  # fmt: skip
            continue
        kind = kinds[0]
        args = raw[kind]
        here: PathT = (*at, kind)

        def node_ref(path: PathT, name: str) -> None:
            if name not in nodes:
                bad(path, f"got {name!r}; expected a node of the environment "
                    f"({', '.join(sorted(nodes)) or 'none'})")  # fmt: skip

        if kind == "create_pods":
            groups.add(args.get("name", "app"))
            if "node" in args:
                node_ref((*here, "node"), args["node"])
        elif kind in ("delete_pods", "delete_services"):
            if ("name" in args) == ("object" in args):
                bad(here, "expected exactly one of name: (a group) or object: (an object's name)")
            elif "object" in args and "count" in args:
                bad((*here, "count"), "count goes with name:, not with object:")
            elif "name" in args and "namespace" in args:
                bad((*here, "namespace"), "namespace goes with object:, not with name:")
            elif kind == "delete_pods" and "name" in args and args["name"] not in groups:
                bad(
                    (*here, "name"), f"got {args['name']!r}; no earlier create_pods made that group"
                )
        elif kind == "create_services" and "selector" in args and args["selector"] not in groups:
            bad(
                (*here, "selector"),
                f"got {args['selector']!r}; expected the name of an earlier create_pods group",
            )
        elif kind == "add_nodes":
            group = NodeGroup(name=args["name"], count=int(args.get("count", 1)))
            for n in group.node_names():
                if n in nodes:
                    bad((*here, "name"), f"node {n!r} already exists")
                nodes.add(n)
            node_groups[group.name] = group.node_names()
            if "subnet" in args and args["subnet"] not in subnets:
                bad((*here, "subnet"), f"got {args['subnet']!r}; expected a known subnet "
                    f"({', '.join(sorted(subnets))})")  # fmt: skip
        elif kind == "remove_nodes":
            # A node's name, or a node group's: every node of the group still running.
            name = args["name"]
            members = (
                [name] if name in nodes else [n for n in node_groups.get(name, ()) if n in nodes]
            )
            if not members:
                groups_left = {g for g, ms in node_groups.items() if set(ms) & nodes} - nodes
                known = sorted(nodes) + [f"group {g}" for g in sorted(groups_left)]
                bad((*here, "name"), f"got {name!r}; expected a node or node group of the "
                    f"environment ({', '.join(known) or 'none left'})")  # fmt: skip
            nodes.difference_update(members)
        elif kind == "add_subnet":
            if args["name"] in subnets:
                bad((*here, "name"), f"subnet {args['name']!r} already exists")
            subnets.add(args["name"])
        elif kind in ("reserve_cidr", "fragment") and args["subnet"] not in subnets:
            bad((*here, "subnet"), f"got {args['subnet']!r}; expected a known subnet "
                f"({', '.join(sorted(subnets))})")  # fmt: skip
        elif kind == "faults":
            frag = (args.get("ec2") or {}).get("fragment")
            if frag and frag["subnet"] not in subnets:
                bad((*here, "ec2", "fragment", "subnet"), f"got {frag['subnet']!r}; "
                    f"expected a known subnet ({', '.join(sorted(subnets))})")  # fmt: skip
            hns = args.get("hns") or {}
            if "node" in hns:
                node_ref((*here, "hns", "node"), hns["node"])
        elif kind == "kill" and isinstance(args, dict) and args.get("leader"):
            if args["component"] != "controller":
                bad((*here, "leader"), f"leader: true needs component: controller, "
                    f"got {args['component']!r}")  # fmt: skip
        elif kind == "hns_ports" and "node" in args:
            node_ref((*here, "node"), args["node"])
        elif kind == "expect":
            checks = [k for k in args if k not in ("timeout", "node", "message", "source")]
            if not checks:
                bad(here, "expected at least one expect key")
            per_node = [k for k in checks if k in NODE_KEYS]
            if per_node and "node" not in args:
                bad(here, f"{', '.join(per_node)} need node: (which node)")
            if "node" in args:
                node_ref((*here, "node"), args["node"])
                cluster = [k for k in checks if k in CLUSTER_KEYS]
                if cluster:
                    bad(here, f"{', '.join(cluster)} are cluster-wide: drop node: or move them")
            for qual in ("message", "source"):
                if qual in args and "event" not in args and "no_event" not in args:
                    bad((*here, qual), f"{qual} goes with event: or no_event:")
    return out


def parse_scenario(
    data: Any, source: str = "<scenario>", lines: Mapping[PathT, int] | None = None
) -> Scenario:
    """Validate a scenario document and build it (SpecError lists every problem)."""
    lines = lines or {}
    problems = schema_problems(data, lines, scenario_schema())
    if not problems:
        problems = semantic_problems(data, lines) or _step_problems(data, lines)
    if problems:
        raise SpecError(source, problems)
    spec = build(data)
    steps = []
    for i, raw in enumerate(data.get("steps") or []):
        (kind,) = [k for k in raw if k != "settle"]
        steps.append(
            Step(i, kind, raw[kind], bool(raw.get("settle", True)), lines.get(("steps", i)))
        )
    name = spec.name or Path(source).stem
    return Scenario(name, spec, tuple(steps), source, data)


def load_scenario(path: Path) -> Scenario:
    """Read, validate and build a scenario file."""
    data, lines = read_document(path)
    return parse_scenario(data, str(path), lines)


__all__ = ["SpecError", "load_scenario", "parse_scenario", "scenario_schema"]
