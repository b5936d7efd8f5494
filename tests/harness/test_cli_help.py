"""CLI parsing without a cluster: --version, defaults in every --help, `ekswin kubeconfig`,
`--no-select`, `ekswin why` usage, the status problem lines."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import kubeconfig as kc
from harness.cli import _supervisor_argv, build_parser, main
from harness.clihelp import all_parsers, defaults_of
from harness.status import problem_lines

EKSWIN = [sys.executable, "-m", "harness.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["EKSWIN_STATE_DIR"] = str(tmp_path / "state")
    e["KUBECONFIG"] = str(tmp_path / "kube" / "config")
    e.pop("EKSWIN_NAME", None)
    return e


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=60)


def test_version(env: dict[str, str]) -> None:
    from importlib import metadata

    r = run(["--version"], env)
    assert r.returncode == 0
    assert r.stdout.strip() == f"ekswin {metadata.version('ekswin-harness')}"


def test_every_help_shows_every_default() -> None:
    parsers = all_parsers(build_parser())
    progs = {prog for prog, _ in parsers}
    assert {"ekswin up", "ekswin why", "ekswin kubeconfig", "ekswin scenario run"} <= progs
    for prog, p in parsers:
        text = " ".join(p.format_help().split())
        for option, default in defaults_of(p).items():
            assert f"(default: {default}" in text or "default:" in _help_of(p, option), (
                f"{prog} {option}: default {default!r} not shown"
            )


def _help_of(p: argparse.ArgumentParser, option: str) -> str:
    return next(a.help or "" for a in p._actions if option in a.option_strings)


def test_up_help_names_instance_type_subnet_and_max_pods_defaults() -> None:
    up = dict(all_parsers(build_parser()))["ekswin up"]
    text = " ".join(up.format_help().split())
    for expected in ("(default: m5.large)", "(default: 192.168.0.0/19, larger when",
                     "(default: 110)", "(default: real", "(default: 0)"):  # fmt: skip
        assert expected in text
    restart = dict(all_parsers(build_parser()))["ekswin restart"]
    assert "(default: 120.0)" in " ".join(restart.format_help().split())


def test_kubeconfig_prints_the_path_of_any_name(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["kubeconfig", "--name", "other"], env)
    assert r.returncode == 1 and "has no kubeconfig" in r.stderr and "Traceback" not in r.stderr
    run_dir = tmp_path / "state" / "other"
    run_dir.mkdir(parents=True)
    (run_dir / "kubeconfig").write_text("apiVersion: v1\n")
    r = run(["kubeconfig", "--name", "other"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(run_dir.resolve() / "kubeconfig")
    elsewhere = tmp_path / "rd"
    elsewhere.mkdir()
    (elsewhere / "kubeconfig").write_text("apiVersion: v1\n")
    r = run(["kubeconfig", "--run-dir", str(elsewhere)], env)
    assert r.stdout.strip() == str(elsewhere.resolve() / "kubeconfig")


def _config(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": name, "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def test_merge_without_select_keeps_the_current_context(tmp_path: Path) -> None:
    target = tmp_path / "config"
    kc.merge(_config("mine"), target)
    kc.merge(_config("ekswin-x"), target, select=False)
    data = yaml.safe_load(target.read_text())
    assert data["current-context"] == "mine"
    assert {c["name"] for c in data["contexts"]} == {"mine", "ekswin-x"}
    kc.merge(_config("ekswin-y"), target)
    assert yaml.safe_load(target.read_text())["current-context"] == "ekswin-y"


def test_no_select_reaches_the_detached_supervisor(tmp_path: Path) -> None:
    args = build_parser().parse_args(["up", "--detach", "--no-select"])
    assert args.no_select
    assert "--no-select" in _supervisor_argv(args, tmp_path, tmp_path / "spec.json")
    plain = build_parser().parse_args(["up", "--detach"])
    assert "--no-select" not in _supervisor_argv(plain, tmp_path, tmp_path / "spec.json")


def test_why_usage_and_not_running(env: dict[str, str], capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:  # fmt: skip
    os.environ["EKSWIN_STATE_DIR"] = str(tmp_path / "state")
    try:
        assert main(["why"]) == 2
        assert "give a POD or --stuck" in capsys.readouterr().err
        assert main(["why", "app-0", "--stuck"]) == 2
        assert main(["why", "app-0"]) == 1
        assert "is not running" in capsys.readouterr().err
    finally:
        del os.environ["EKSWIN_STATE_DIR"]


def test_status_problem_lines_name_lb_failures_mismatch_and_stuck_pods() -> None:
    status = {
        "nodes": [
            {"name": "win-0", "lb_failures": 2, "lb_failures_total": 9,
             "lb_failures_recent": [{"service": "default/s-1:p0", "kind": "NodePort",
                                     "message": "Policy creation failed: ... (0x803b0013)"}],
             "mode_mismatch": None},
            {"name": "win-1", "lb_failures": 0,
             "mode_mismatch": "mode is prefix but the ENI still holds 9 secondary IP(s)"},
        ],
        "stuck": {"count": 3, "wait_s": 10.0, "hint": "ekswin why --stuck"},
    }  # fmt: skip
    text = "\n".join(problem_lines(status))
    assert "win-0: 2 load balancer(s) failed" in text and "0x803b0013" in text
    assert "win-1: mode mismatch: mode is prefix" in text
    assert "3 Windows pod(s) stuck (not Running after 10 s): run `ekswin why --stuck`" in text
    assert problem_lines({"nodes": [{"name": "a", "lb_failures": 0}], "stuck": {"count": 0}}) == []
    json.dumps(status)  # plain data
