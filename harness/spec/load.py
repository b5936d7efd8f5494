"""Read and validate environment specs: JSON Schema first, then the rules a schema
cannot say (CIDRs inside the VPC, subnet names that exist, unique node names, known
instance types). Every error names the file, the YAML line, the field path, the value
and what was expected."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness.spec.model import (
    DEFAULT_VPC_CIDR,
    Controller,
    EnvSpec,
    Fragment,
    Hns,
    KubeProxy,
    NodeAgent,
    NodeGroup,
    Reservation,
    Subnet,
    Supervision,
    Vpc,
)
from harness.spec.timing import TimingError, resolve

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec."""

    path: PathT
    message: str
    line: int | None = None

    def render(self, source: str) -> str:
        """`file:line: field.path: message`."""
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {format_path(self.path) or '(top level)'}: {self.message}"


class SpecError(ValueError):
    """A spec is invalid; ``problems`` lists every error found, each fully located."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


def format_path(path: PathT) -> str:
    """('nodes', 0, 'count') -> 'nodes[0].count'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@cache
def schema() -> dict[str, Any]:
    """The environment spec's JSON Schema (package data)."""
    text = resources.files("harness.spec").joinpath("environment.schema.json").read_text()
    return dict(json.loads(text))


# -- YAML with line numbers -----------------------------------------------------------
def _lines(node: yaml.Node, path: PathT, out: dict[PathT, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def read_document(path: Path) -> tuple[Any, dict[PathT, int]]:
    """Parse a YAML (or JSON) file; return the data and a field path -> line map."""
    source = str(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(source, [Problem((), f"cannot read the file: {e.strerror or e}")]) from e
    return parse_text(text, source)


def parse_text(text: str, source: str) -> tuple[Any, dict[PathT, int]]:
    """Parse YAML text; syntax errors become a SpecError with the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError(source, [Problem((), f"not valid YAML: {problem}", line)]) from None
    lines: dict[PathT, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


# -- schema errors as plain sentences ------------------------------------------------
def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _expected(err: jsonschema.ValidationError) -> str:
    v, s = err.validator, err.schema if isinstance(err.schema, dict) else {}
    arg: Any = err.validator_value
    desc = s.get("description", "")
    if v == "type":
        names = [arg] if isinstance(arg, str) else list(arg)
        return " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    if v == "enum":
        return "one of " + ", ".join(_show(x) for x in arg)
    if v == "const":
        return _show(arg)
    if v == "pattern":
        return desc or f"a string matching {arg}"
    if v == "minimum":
        return f">= {arg}"
    if v == "exclusiveMinimum":
        return f"> {arg}"
    if v == "maximum":
        return f"<= {arg}"
    if v in ("minItems", "maxItems"):
        return f"{'at least' if v == 'minItems' else 'at most'} {arg} item(s)"
    return desc or f"{v} {arg}"


def _leaf_errors(err: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    if err.context and err.validator in ("oneOf", "anyOf"):
        # Explain with the branch whose kind of value matched (no type/enum mismatch at
        # its root), else the one that got furthest.
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)

        def score(errs: list[jsonschema.ValidationError]) -> tuple[int, int]:
            root_mismatch = any(
                not e.relative_path and e.validator in ("type", "enum", "const") for e in errs
            )
            return (0 if root_mismatch else 1, max(len(e.relative_path) for e in errs))

        for sub in max(branches.values(), key=score):
            yield from _leaf_errors(sub)
        return
    yield err


def _problem(err: jsonschema.ValidationError, lines: Mapping[PathT, int]) -> Problem:
    path: PathT = tuple(err.absolute_path)
    v = err.validator
    if v == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(k for k in err.instance if k not in allowed)
        key = extra[0] if extra else "?"
        return Problem(
            (*path, key),
            f"unknown key {key!r}; expected one of: {', '.join(allowed)}",
            lines.get((*path, key)) or lines.get(path),
        )
    if v == "required":
        missing = [k for k in err.validator_value if k not in (err.instance or {})]
        return Problem(path, f"missing required key {missing[0]!r}", lines.get(path))
    if v == "additionalProperties":  # additionalProperties with a schema (map values)
        return Problem(path, err.message, lines.get(path))
    return Problem(path, f"got {_show(err.instance)}; expected {_expected(err)}", lines.get(path))


def schema_problems(
    data: Any, lines: Mapping[PathT, int], against: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Every JSON Schema violation (of the spec schema, or `against`), located and worded."""
    validator = jsonschema.Draft202012Validator(against if against is not None else schema())
    out = [
        _problem(leaf, lines) for err in validator.iter_errors(data) for leaf in _leaf_errors(err)
    ]
    return sorted(out, key=lambda p: (p.line or 0, format_path(p.path)))


# -- semantic rules --------------------------------------------------------------------
def semantic_problems(data: Mapping[str, Any], lines: Mapping[PathT, int]) -> list[Problem]:
    """The rules a schema cannot say, over a schema-valid spec document."""
    return _semantic_problems(data, lines)


def _semantic_problems(data: Mapping[str, Any], lines: Mapping[PathT, int]) -> list[Problem]:
    out: list[Problem] = []

    def bad(path: PathT, msg: str) -> None:
        out.append(Problem(path, msg, lines.get(path)))

    def net(path: PathT, text: str) -> ipaddress.IPv4Network | None:
        try:
            return ipaddress.IPv4Network(text, strict=True)
        except ValueError as e:
            bad(path, f"got {text!r}; expected an IPv4 network without host bits ({e})")
            return None

    if data.get("ip_family") == "ipv6":
        bad(
            ("ip_family",),
            "got 'ipv6'; expected 'ipv4': EKS runs Windows nodes only in IPv4 clusters "
            "(an IPv6 cluster's pod addresses come from the VPC CNI on Linux nodes; Windows "
            "pods get no IPv6 address), so eksctl and EKS refuse Windows node groups there",
        )
    vpc = data.get("vpc") or {}
    vpc_net = (
        net(("vpc", "cidr"), vpc["cidr"])
        if "cidr" in vpc
        else ipaddress.IPv4Network("192.168.0.0/16")
    )
    seen: dict[str, int] = {}
    nets: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, s in enumerate(vpc.get("subnets") or []):
        if s["name"] in seen:
            bad(("vpc", "subnets", i, "name"), f"duplicate subnet name {s['name']!r}")
        seen[s["name"]] = i
        sn = net(("vpc", "subnets", i, "cidr"), s["cidr"])
        if sn is None:
            continue
        if vpc_net is not None and not sn.subnet_of(vpc_net):
            bad(("vpc", "subnets", i, "cidr"), f"{s['cidr']} is not inside the VPC {vpc_net}")
        if not 16 <= sn.prefixlen <= 28:
            bad(("vpc", "subnets", i, "cidr"), f"got /{sn.prefixlen}; EC2 subnets are /16 to /28")
        for j, other in nets:
            if sn.overlaps(other):
                bad(("vpc", "subnets", i, "cidr"), f"overlaps subnet [{j}] {other}")
        nets.append((i, sn))
        for k, r in enumerate(s.get("reservations") or []):
            rn = net(("vpc", "subnets", i, "reservations", k, "cidr"), r["cidr"])
            if rn is not None and not rn.subnet_of(sn):
                bad(
                    ("vpc", "subnets", i, "reservations", k, "cidr"),
                    f"{r['cidr']} is not inside the subnet {sn}",
                )
        frag = s.get("fragment")
        if frag and frag.get("offset", 0) >= frag["every"]:
            bad(("vpc", "subnets", i, "fragment", "offset"), "expected offset < every")
    subnet_names = list(seen) or ["a"]
    names: dict[str, PathT] = {}
    from fake_ec2.limits import known_instance_type
    from harness.upstream.plan import upstream_instance_types

    ctl = data.get("controller") or {}
    upstream = ctl.get("implementation") == "upstream"
    upstream_types = upstream_instance_types() if upstream else {}
    if upstream and int(ctl.get("replicas", 1)) > 1:
        bad(
            ("controller", "replicas"),
            f"got {ctl['replicas']}; the upstream controller runs one replica "
            "(its ports are fixed)",
        )

    for i, g in enumerate(data.get("nodes") or []):
        if "subnet" in g and g["subnet"] not in subnet_names:
            bad(
                ("nodes", i, "subnet"),
                f"got {g['subnet']!r}; expected the name of a vpc.subnets entry "
                f"({', '.join(subnet_names)})",
            )
        itype = g.get("instance_type", "m5.large")
        if not known_instance_type(itype):
            bad(("nodes", i, "instance_type"), f"got {itype!r}; EC2 knows no such instance type")
        elif upstream and itype not in upstream_types:
            bad(
                ("nodes", i, "instance_type"),
                f"got {itype!r}; the upstream controller's instance table does not list it "
                "(controller.implementation: upstream offers the types both tables know)",
            )
        group = NodeGroup(name=g["name"], count=int(g.get("count", 1)))
        for n in group.node_names():
            if n in names:
                bad(
                    ("nodes", i, "name"), f"node name {n!r} is also made by {format_path(names[n])}"
                )
            names[n] = ("nodes", i, "name")
    timing = data.get("timing")
    if isinstance(timing, dict):
        lease = timing.get("leader_lease_duration_s")
        renew = timing.get("leader_renew_deadline_s")
        if lease is not None and renew is not None and renew >= lease:
            bad(("timing", "leader_renew_deadline_s"), "expected less than leader_lease_duration_s")
    hns = data.get("hns") or {}
    rng = hns.get("dynamic_port_range")
    if rng and rng[0] > rng[1]:
        bad(("hns", "dynamic_port_range"), f"got {rng}; expected [first, last] with first <= last")
    return out


# -- public entry points -----------------------------------------------------------------
def parse_spec(
    data: Any, source: str = "<spec>", lines: Mapping[PathT, int] | None = None
) -> EnvSpec:
    """Validate a spec document and build the EnvSpec (SpecError lists every problem).

    A scenario's `steps` key is ignored here (the scenario loader validates it).
    """
    lines = lines or {}
    if isinstance(data, dict) and "steps" in data:
        data = {k: v for k, v in data.items() if k != "steps"}
    problems = schema_problems(data, lines)
    if not problems:
        problems = _semantic_problems(data, lines)
    if problems:
        raise SpecError(source, problems)
    try:
        return build(data)
    except TimingError as e:  # pragma: no cover - the schema covers these
        raise SpecError(source, [Problem(("timing",), str(e), lines.get(("timing",)))]) from e


def load_spec(path: Path) -> EnvSpec:
    """Read, validate and build the spec in a YAML/JSON file."""
    data, lines = read_document(path)
    return parse_spec(data, str(path), lines)


def build(d: Mapping[str, Any]) -> EnvSpec:
    """EnvSpec from an already validated document."""
    vpc = d.get("vpc") or {}
    subnets = tuple(
        Subnet(
            name=s["name"],
            cidr=s["cidr"],
            az=s.get("az", "us-west-2a"),
            reservations=tuple(
                Reservation(r["cidr"], r.get("type", "prefix")) for r in s.get("reservations") or []
            ),
            fragment=Fragment(s["fragment"]["every"], s["fragment"].get("offset", 0))
            if s.get("fragment")
            else None,
        )
        for s in vpc.get("subnets") or []
    )
    kp = d.get("kube_proxy") or {}
    hns = d.get("hns") or {}
    ctl = d.get("controller") or {}
    agent = d.get("node_agent") or {}
    return EnvSpec(
        version=1,
        name=str(d.get("name", "")),
        seed=int(d.get("seed", 0)),
        backend=str(d.get("backend", "auto")),
        timing=resolve(d.get("timing")),
        vpc=Vpc(cidr=vpc.get("cidr", DEFAULT_VPC_CIDR), subnets=subnets or Vpc().subnets),
        configmap=dict(d["configmap"]) if d.get("configmap") is not None else None,
        nodes=tuple(NodeGroup.from_dict(g) for g in d.get("nodes") or []),
        kube_proxy=KubeProxy(
            dsr=bool(kp.get("dsr", False)),
            sync_period_s=float(kp.get("sync_period_s", 30.0)),
            min_sync_period_s=float(kp.get("min_sync_period_s", 1.0)),
        ),
        hns=Hns(
            dynamic_port_range=tuple(hns["dynamic_port_range"])  # type: ignore[arg-type]
            if "dynamic_port_range" in hns
            else None,
            port_block_size=hns.get("port_block_size"),
            excluded_port_ranges=tuple(tuple(r) for r in hns.get("excluded_port_ranges") or []),  # type: ignore[misc]
            host_held_ports=tuple(hns.get("host_held_ports") or []),
            max_non_dsr_backends=hns.get("max_non_dsr_backends"),
        ),
        controller=Controller(
            replicas=int(ctl.get("replicas", 1)),
            implementation=str(ctl.get("implementation", "python")),
            log_level=str(ctl.get("log_level", "INFO")),
            flags=dict(ctl.get("flags") or {}),
            cidr_exhaustion=str(ctl.get("cidr_exhaustion", "real")),
        ),
        node_agent=NodeAgent(
            cni_mode=agent.get("cni_mode", "exec"),
            service_cidr=agent.get("service_cidr", "10.96.0.0/16"),
            cni_concurrency=int(agent.get("cni_concurrency", 64)),
            kube_proxy=bool(agent.get("kube_proxy", True)),
        ),
        supervision=Supervision(
            restart={
                k: bool(v) for k, v in ((d.get("supervision") or {}).get("restart") or {}).items()
            }
        ),
    )
