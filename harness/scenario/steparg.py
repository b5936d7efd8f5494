"""Steps from the command line (`ekswin step KIND key=value ...`) and from step files,
validated as scenario steps are, against a running environment's spec.

A value is a YAML scalar (or flow collection: `dynamic_port_range=[10000,10100]`)
coerced by the schema: where the schema wants a string (ConfigMap values, names) the
text is kept as written, so `ENABLE_WINDOWS_IPAM=true` stays the string "true". A
dotted key nests: `faults ec2.throttle_rate=0.3` is `{faults: {ec2: {throttle_rate: 0.3}}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.load import parse_scenario, scenario_schema
from harness.scenario.model import Step
from harness.spec import SpecError
from harness.spec.load import PathT, Problem, parse_text, schema_problems


class StepArgError(ValueError):
    """Command-line step words that cannot be read (the message names the word)."""


def _resolve(node: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Follow `$ref`s into the scenario schema's $defs."""
    defs = scenario_schema()["$defs"]
    while node is not None and "$ref" in node:
        node = defs.get(str(node["$ref"]).rsplit("/", 1)[-1])
    return node


def _child(node: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """The schema of `key` inside an object schema (None when it allows no such key)."""
    node = _resolve(node)
    if node is None:
        return None
    for alt in node.get("oneOf") or []:  # the first alternative that knows the key
        found = _child(alt, key)
        if found is not None:
            return found
    props = node.get("properties") or {}
    if key in props:
        return _resolve(props[key])
    extra = node.get("additionalProperties")
    return _resolve(extra) if isinstance(extra, Mapping) else None


def _wants_string(node: Mapping[str, Any] | None) -> bool:
    node = _resolve(node)
    if node is None:
        return False
    kinds = node.get("type")
    if kinds == "string":
        return True
    enum = node.get("enum") or []
    return bool(enum) and all(isinstance(v, str) for v in enum)


def coerce(node: Mapping[str, Any] | None, text: str) -> Any:
    """`text` as the schema node wants it: kept as text for a string, else read as YAML."""
    if _wants_string(node):
        return text
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text  # the schema check names it with what was expected


def step_from_words(kind: str, words: Sequence[str]) -> dict[str, Any]:
    """One step document from `KIND key=value ...` (or `KIND VALUE` for the kinds whose
    argument is a single value: `set_dsr true`, `restart controller`)."""
    step_schema = scenario_schema()["$defs"]["step"]["properties"]
    kind_schema = _resolve(step_schema.get(kind))
    if kind_schema is None:
        from harness.scenario.model import STEP_KINDS

        raise StepArgError(f"unknown step kind {kind!r}; expected one of: {', '.join(STEP_KINDS)}")
    pairs = [w for w in words if "=" in w]
    plain = [w for w in words if "=" not in w]
    if plain:
        if pairs or len(plain) > 1:
            raise StepArgError(
                f"{kind}: got {' '.join(words)!r}; expected key=value words or one value"
            )
        return {kind: coerce(kind_schema, plain[0])}
    args: dict[str, Any] = {}
    for word in pairs:
        key, _, text = word.partition("=")
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise StepArgError(f"{kind}: {word!r}: expected key=value (dotted keys nest)")
        node: Mapping[str, Any] | None = kind_schema
        here = args
        for part in parts[:-1]:
            node = _child(node, part)
            inner = here.setdefault(part, {})
            if not isinstance(inner, dict):
                raise StepArgError(f"{kind}: {word!r}: {part} is already given a value")
            here = inner
        node = _child(node, parts[-1])
        if parts[-1] in here:
            raise StepArgError(f"{kind}: {key} is given twice")
        here[parts[-1]] = coerce(node, text)
    types = kind_schema.get("type") or []
    if not args and isinstance(types, list) and "null" in types:  # delete_configmap
        return {kind: None}
    return {kind: args}


def read_step_file(path: Path) -> tuple[list[dict[str, Any]], dict[PathT, int]]:
    """A steps file: a YAML list of steps, or a mapping with `steps:` (a scenario's
    steps can be pasted). Lines are keyed by ("steps", i, ...)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(str(path), [Problem((), f"cannot read the file: {e.strerror or e}")]) from e
    data, lines = parse_text(text, str(path))
    if isinstance(data, list):
        return data, {("steps", *k): v for k, v in lines.items()}
    if isinstance(data, dict) and set(data) == {"steps"} and isinstance(data["steps"], list):
        return data["steps"], lines
    raise SpecError(str(path), [Problem((), "expected a list of steps (or a mapping steps:)")])


def schema_check(steps: list[Any], source: str, lines: Mapping[PathT, int] | None = None) -> None:
    """The schema's checks alone (no environment needed): SpecError naming each bad key."""
    problems = schema_problems({"steps": steps}, lines or {}, _steps_only_schema())
    if problems:
        raise SpecError(source, problems)


def _steps_only_schema() -> dict[str, Any]:
    full = scenario_schema()
    return {
        "$schema": full.get("$schema"),
        "type": "object",
        "properties": {"steps": full["properties"]["steps"]},
        "$defs": full["$defs"],
    }


def validate(
    spec_doc: Mapping[str, Any],
    earlier: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    source: str,
    lines: Mapping[PathT, int] | None = None,
) -> list[Step]:
    """Validate `steps` as they would be in a scenario of the environment's spec after
    the `earlier` steps (so node, subnet and group references resolve); return them
    numbered from 0. Problems name steps[i] of `steps` itself."""
    base = {k: v for k, v in spec_doc.items() if v is not None}
    doc = {**base, "steps": [*earlier, *steps]}
    offset = len(earlier)
    shifted = {("steps", int(k[1]) + offset, *k[2:]): n for k, n in _step_lines(lines)}
    try:
        scenario = parse_scenario(doc, source, shifted)
    except SpecError as e:
        problems = []
        for p in e.problems:
            path = p.path
            if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
                if path[1] < offset:
                    continue  # an earlier step (valid when it ran)
                path = ("steps", path[1] - offset, *path[2:])
            problems.append(Problem(path, p.message, p.line))
        if not problems:
            raise
        raise SpecError(source, problems) from None
    return [
        Step(i, s.kind, s.args, s.settle, s.line) for i, s in enumerate(scenario.steps[offset:])
    ]


def _step_lines(lines: Mapping[PathT, int] | None) -> list[tuple[PathT, int]]:
    return [
        (k, v)
        for k, v in (lines or {}).items()
        if len(k) >= 2 and k[0] == "steps" and isinstance(k[1], int)
    ]


def describe_problems(err: SpecError, words: bool) -> str:
    """The problems of `err` for the terminal: for command-line words the step's own
    keys (`create_pods: bogus: ...`), for a file the file's lines."""
    if not words:
        return str(err)
    out = []
    for p in err.problems:
        path = p.path[2:] if len(p.path) >= 2 and p.path[0] == "steps" else p.path
        where = ".".join(str(x) for x in path) or "(the step)"
        out.append(f"{where}: {p.message}")
    return "\n".join(out)
