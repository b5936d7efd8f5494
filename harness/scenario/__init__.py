"""Scenarios: an environment spec plus steps, run to a verdict and a report (SCENARIOS.md).

Public surface: :func:`load_scenario`, :func:`parse_scenario`, :func:`run_scenario`,
:class:`Scenario`, :class:`Step`.
"""

from harness.scenario.load import load_scenario, parse_scenario, scenario_schema
from harness.scenario.model import Scenario, Step
from harness.scenario.runner import run_scenario

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "run_scenario", "scenario_schema"]
