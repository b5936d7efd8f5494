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


class EnvFactory:
    """Starts whole ekswin environments (control plane + EC2 + HNS + controller + nodes)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.started: list[Any] = []

    def __call__(self, name: str = "e2e", **options: Any) -> Any:
        """Start an environment; keyword options are EnvOptions fields (extra=... too)."""
        from harness.env import Environment, EnvOptions

        run_dir = self.base / f"{name}-{len(self.started)}"
        env = Environment(EnvOptions(name=name, run_dir=run_dir, **options))
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
