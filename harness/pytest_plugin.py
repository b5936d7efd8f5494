"""pytest plugin (registered through the ``pytest11`` entry point ``ekswin``).

Fixtures:
- ``ekswin_cluster`` (session): a running local control plane, started once per test
  session and torn down at its end. It exposes ``kubeconfig`` (admin, Path),
  ``run_dir``, ``server``, ``ca_file``, ``webhook_host``, ``api`` (admin
  kubernetes ApiClient), ``issue_client_kubeconfig(user, groups, path)`` and
  ``service_account_kubeconfig(namespace, name, path)``.
- ``listening_servers``: a ``harness.servers.ServerGroup`` logging to the test's tmp dir;
  ``.start(module, args)`` runs a ``python -m <module> --port 0`` style server; all are
  stopped (SIGTERM, then SIGKILL) at teardown.

Kept light at import: pytest loads it in every session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.backends.local import LocalCluster
    from harness.servers import ServerGroup


def pytest_addoption(parser: pytest.Parser) -> None:
    """--ekswin-run-dir: where the session cluster keeps its run directory."""
    group = parser.getgroup("ekswin")
    group.addoption(
        "--ekswin-run-dir",
        default=os.environ.get("EKSWIN_TEST_RUN_DIR"),
        help="run directory for the session's ekswin cluster (default: a pytest tmp dir)",
    )


def _require_local_backend(fixture: str) -> None:
    """Fail (not skip) the test when the local backend's binaries are missing."""
    from harness.backends import BackendUnavailable, choose

    try:
        choose("local")
    except BackendUnavailable as e:
        pytest.fail(f"{fixture}: {e}", pytrace=False)


@pytest.fixture(scope="session")
def ekswin_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """A local Kubernetes control plane shared by the whole test session."""
    from harness.backends.local import LocalCluster, NodeMonitor

    _require_local_backend("ekswin_cluster")
    opt = request.config.getoption("--ekswin-run-dir")
    run_dir = Path(opt) if opt else tmp_path_factory.mktemp("ekswin-cluster")
    # Short node-monitor timings so NotReady tests take seconds, not a minute.
    cluster = LocalCluster(run_dir, name="pytest", node_monitor=NodeMonitor(8, 2))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def listening_servers(tmp_path: Path) -> Iterator[ServerGroup]:
    """Standalone servers for one test, each in its own process group; stopped at teardown."""
    from harness.servers import ServerGroup

    with ServerGroup(tmp_path) as group:
        yield group


FLAG_SHORTCUTS = (
    "windows_nodes",
    "instance_type",
    "prefix_delegation",
    "subnet",
    "max_pods",
    "dsr",
)


def spec_for_test(spec: Any = None, **fields: Any) -> Any:
    """An EnvSpec from environment spec fields (the schema's top-level keys), optionally
    starting from the `ekswin up` flag shortcuts; timing defaults to ``fast`` in tests."""
    from harness.spec import EnvSpec, parse_spec, spec_document

    if isinstance(spec, EnvSpec):
        if fields:
            raise TypeError("pass either an EnvSpec or spec fields, not both")
        return spec
    flags = {k: fields.pop(k) for k in FLAG_SHORTCUTS if k in fields}
    doc: dict[str, Any] = spec_document(**flags) if flags else {"version": 1}
    doc["timing"] = "fast"
    for key, value in {**(spec or {}), **fields}.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict) and key != "configmap":
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return parse_spec(doc, "ekswin_env_factory")


class EnvFactory:
    """Starts whole ekswin environments (control plane + EC2 + HNS + controller + nodes)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Any] = []

    def __call__(self, name: str = "e2e", spec: Any = None, **fields: Any) -> Any:
        """Start an environment from an EnvSpec, a spec mapping, or spec fields as keywords
        (``nodes=[...]``, ``configmap={...}``, ``timing=...``; see spec_for_test)."""
        from harness.testenv import TestEnvironment

        run_dir = self.base / f"{name}-{len(self.started)}"
        env = TestEnvironment(spec_for_test(spec, **fields), run_dir, name=name)
        env.start()
        self.started.append(env)
        return env

    def stop_all(self) -> None:
        """Stop every environment this factory started."""
        while self.started:
            self.started.pop().stop()


@pytest.fixture(scope="module")
def ekswin_env_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvFactory]:
    """A factory for full environments, stopped when the test module ends."""

    _require_local_backend("ekswin_env_factory")
    factory = EnvFactory(tmp_path_factory.mktemp("ekswin-env"))
    try:
        yield factory
    finally:
        factory.stop_all()


#: (scenario, ok, duration_s) of every scenario run in the session, for the summary table.
SCENARIO_RUNS = pytest.StashKey[list[tuple[str, bool, float]]]()
#: (scenario, ok, duration_s, HTML page) of every run that wrote a page: the index pages.
SCENARIO_PAGES = pytest.StashKey[list[tuple[str, bool, float, Path]]]()


class ScenarioRunner:
    """Runs scenario files (or documents) to their report: the `run_scenario` fixture."""

    def __init__(
        self,
        base: Path,
        progress: Any = None,
        record: list[tuple[str, bool, float]] | None = None,
        shared: Any = None,
        pages: list[tuple[str, bool, float, Path]] | None = None,
    ) -> None:
        self.base = base
        self.progress = progress
        self.count = 0
        self.record = record if record is not None else []
        self.shared = shared
        self.pages = pages if pages is not None else []

    def __call__(
        self,
        scenario: Path | str | dict[str, Any],
        *,
        seed: int | None = None,
        timing: str | None = None,
        fresh: bool = False,
        html: Path | None = None,
        bundle: Path | None = None,
    ) -> dict[str, Any]:
        """Run a scenario file path (or a scenario mapping) and return its report
        (SCENARIOS.md, report v1); `seed` / `timing` override the file's. Scenarios with
        equal environment specs share one environment, reset between them, unless
        `fresh`. `html`: write the report's HTML page there (listed in an index.html
        beside it at session end); `bundle`: write a repro bundle there when the run
        fails. A bad file raises harness.spec.SpecError naming the field."""
        from harness.scenario import load_scenario, parse_scenario, run_scenario
        from harness.scenario.runner import Outputs

        if isinstance(scenario, dict):
            parsed = parse_scenario(scenario, "run_scenario")
        else:
            parsed = load_scenario(Path(scenario))
        self.count += 1
        run_dir = self.base / f"{self.count}-{parsed.name}"[:60]
        run_dir.mkdir(parents=True)
        report = run_scenario(
            parsed,
            run_dir,
            seed=seed,
            timing=timing,
            progress=self.progress,
            shared=None if fresh else self.shared,
            outputs=Outputs(bundle=bundle, html=html),
        )
        self.record.append((report["scenario"], bool(report["ok"]), float(report["duration_s"])))
        if html is not None and html.exists():
            self.pages.append(
                (report["scenario"], bool(report["ok"]), float(report["duration_s"]), html)
            )
        return report


@pytest.fixture(scope="session")
def ekswin_shared_environments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Environments kept between scenarios with equal specs (stopped at session end)."""
    from harness.scenario.shared import SharedEnvironments

    shared = SharedEnvironments(tmp_path_factory.mktemp("ekswin-shared"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def run_scenario(
    request: pytest.FixtureRequest, tmp_path: Path, ekswin_shared_environments: Any
) -> ScenarioRunner:
    """``run_scenario(path_or_mapping, seed=None, timing=None) -> report``: run a scenario on
    its own fresh local environment (stopped afterwards) and assert on the report. Step
    progress goes to the terminal when pytest runs with ``-s``."""
    import sys

    _require_local_backend("run_scenario")
    live = request.config.getoption("capture") == "no"
    progress = (lambda m: print(m, file=sys.__stderr__, flush=True)) if live else None
    runs = request.config.stash.setdefault(SCENARIO_RUNS, [])
    pages = request.config.stash.setdefault(SCENARIO_PAGES, [])
    return ScenarioRunner(tmp_path, progress, runs, ekswin_shared_environments, pages)


def _write_indexes(pages: list[tuple[str, bool, float, Path]]) -> list[Path]:
    """index.html in every directory that got scenario pages, linking them."""
    from harness.scenario.html import write_index

    by_dir: dict[Path, list[tuple[str, bool, float, str]]] = {}
    for name, ok, duration, page in pages:
        by_dir.setdefault(page.parent, []).append((name, ok, duration, page.name))
    return [write_index(rows, d / "index.html") for d, rows in by_dir.items()]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A table of every scenario the session ran: scenario, verdict, duration; the
    index page of the HTML pages written."""
    for index in _write_indexes(config.stash.get(SCENARIO_PAGES, [])):
        terminalreporter.write_line(f"ekswin scenario pages: {index}")
    runs = config.stash.get(SCENARIO_RUNS, [])
    if not runs:
        return
    width = max(len(name) for name, _, _ in runs)
    terminalreporter.section("ekswin scenarios")
    terminalreporter.write_line(f"{'scenario':<{width}}  verdict  duration")
    for name, ok, duration in runs:
        terminalreporter.write_line(
            f"{name:<{width}}  {'passed' if ok else 'FAILED':<7}  {duration:7.1f} s",
            green=ok,
            red=not ok,
        )
    passed = sum(1 for _, ok, _ in runs if ok)
    terminalreporter.write_line(f"{passed} of {len(runs)} scenarios passed")
