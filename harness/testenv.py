"""The environment object of the pytest plugin's `ekswin_env_factory`: an Environment
that can also run scenario steps, diagnose a pod and report, in process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.env import Environment


class TestEnvironment(Environment):
    """An Environment plus `step`, `why` and `report` (the `ekswin step`, `ekswin why`
    and scenario report of the CLI, without a second process)."""

    __test__ = False  # not a test class, whatever pytest's name pattern says
    _session: Any = None

    @property
    def session(self) -> Any:
        """The step session (harness.scenario.session.Session), made on first use."""
        if self._session is None:
            from harness.scenario.session import Session

            self._session = Session(self)
        return self._session

    def step(
        self,
        kind: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        value: Any = None,
        *,
        settle: bool = True,
        **args: Any,
    ) -> list[Any]:
        """Run steps as a scenario's: `env.step("create_pods", count=3)`,
        `env.step("set_dsr", True)`, `env.step({"expect": {"pods_running": 3}})` or a
        list of step documents. Validated (SpecError for a bad key), then carried out
        and settled (unless `settle=False`); returns the StepRecords. A failed step or
        expect raises AssertionError with its detail."""
        from harness.scenario.model import Step
        from harness.scenario.session import journal_steps, spec_document
        from harness.scenario.steparg import validate

        if isinstance(kind, str):
            docs: list[Mapping[str, Any]] = [{kind: value if value is not None else args}]
        elif isinstance(kind, Mapping):
            docs = [kind]
        else:
            docs = list(kind)
        steps = validate(spec_document(self.run_dir), journal_steps(self.run_dir), docs, "env.step")
        if not settle:
            steps = [Step(s.index, s.kind, s.args, False, s.line) for s in steps]
        records = self.session.run(steps)
        bad = [r for r in records if not r.ok]
        if bad:
            raise AssertionError(f"step {bad[0].step.describe()}: {bad[0].error or bad[0].detail}")
        return records

    def why(self, pod: str, namespace: str = "default") -> Any:
        """The diagnosis of one pod (harness.why.diagnose: the first broken link of its
        pipeline with its evidence)."""
        from harness import why

        return why.diagnose(Path(self.run_dir), pod, namespace)

    def report(self) -> dict[str, Any]:
        """The report v1 document of the environment now (steps so far, nodes, pods,
        invariants, events)."""
        import contextlib

        from harness.scenario.livebundle import session_report
        from harness.scenario.snapshot import take

        final = None
        with contextlib.suppress(Exception):  # a component a step stopped
            final = take(self.session.live)
        return session_report(self.session, final)

    def stop(self) -> None:
        """Close the step session, then stop everything."""
        if self._session is not None:
            self._session.close()
            self._session = None
        super().stop()
