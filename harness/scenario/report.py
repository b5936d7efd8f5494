"""The scenario report's JSON Schema (package data) and its validation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def report_schema() -> dict[str, Any]:
    """The report v1 JSON Schema."""
    text = resources.files("harness.scenario").joinpath("report.schema.json").read_text()
    return dict(json.loads(text))


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `report` is not a valid report v1."""
    jsonschema.Draft202012Validator(report_schema()).validate(report)
