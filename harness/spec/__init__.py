"""The environment spec: one typed, versioned, strictly validated description of an
environment (a scenario file minus its steps). See ``environment.schema.json``.

Public surface: :class:`EnvSpec` and its parts, :func:`load_spec`, :func:`parse_spec`,
:func:`spec_from_flags`, :class:`SpecError`, :class:`Timing`, :func:`resolve_timing`.
"""

from harness.spec.flags import spec_document, spec_from_flags
from harness.spec.load import Problem, SpecError, load_spec, parse_spec, schema
from harness.spec.model import (
    REGION,
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
from harness.spec.timing import PROFILES, Timing
from harness.spec.timing import resolve as resolve_timing

__all__ = [
    "PROFILES",
    "REGION",
    "Controller",
    "EnvSpec",
    "Fragment",
    "Hns",
    "KubeProxy",
    "NodeAgent",
    "NodeGroup",
    "Problem",
    "Reservation",
    "SpecError",
    "Subnet",
    "Supervision",
    "Timing",
    "Vpc",
    "load_spec",
    "parse_spec",
    "resolve_timing",
    "schema",
    "spec_document",
    "spec_from_flags",
]
