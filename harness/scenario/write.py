"""Write a scenario file from an environment spec and steps, validated as it is written.

Tools that find a failing sequence (the property-based test of the controller) hand it
to a real environment this way: the file is checked with the same loader `ekswin
scenario run` uses, so a file written is a file that runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.load import parse_scenario
from harness.scenario.model import Scenario


def scenario_document(
    env: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], *, name: str
) -> dict[str, Any]:
    """The scenario mapping: `env` (an environment spec document) with `name` and `steps`."""
    doc: dict[str, Any] = {"version": 1, "name": name}
    doc.update({k: v for k, v in env.items() if k not in ("version", "name", "steps")})
    doc["steps"] = [dict(s) for s in steps]
    return doc


def dump_scenario(doc: Mapping[str, Any], comment: str = "") -> str:
    """YAML text of `doc`, `comment` first as `#` lines; SpecError when it is not valid."""
    parse_scenario(dict(doc), f"<scenario {doc.get('name', '')}>")
    head = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    return head + yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=None, width=100)


def write_scenario(path: Path, doc: Mapping[str, Any], comment: str = "") -> Scenario:
    """Validate `doc`, write it to `path` (with `comment`) and return it loaded back."""
    from harness.scenario.load import load_scenario

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_scenario(doc, comment))
    return load_scenario(path)
