"""The `ekswin` CLI as a user runs it: exit codes, messages, up/status/down, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.process import _group_alive
from harness.waiting import wait_until

EKSWIN = [sys.executable, "-m", "harness.cli"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(EKSWIN + args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["EKSWIN_STATE_DIR"] = str(tmp_path / "state")
    e["KUBECONFIG"] = str(tmp_path / "kube" / "config")
    e.pop("EKSWIN_BACKEND", None)
    return e


def test_bad_backend_is_usage_error(env: dict[str, str]) -> None:
    r = run(["up", "--backend", "minikube"], env)
    assert r.returncode == 2
    assert "invalid choice: 'minikube'" in r.stderr and "local" in r.stderr


def test_bad_name_is_usage_error(env: dict[str, str]) -> None:
    r = run(["status", "--name", "Bad_Name"], env)
    assert r.returncode == 2
    assert "invalid --name 'Bad_Name'" in r.stderr


def test_missing_binaries_exit_2_naming_them(env: dict[str, str], tmp_path: Path) -> None:
    env["PATH"] = str(tmp_path / "empty")
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CACHE_HOME"] = str(tmp_path / "nocache")
    env.pop("EKSWIN_K8S_BIN", None)
    env.pop("KUBEBUILDER_ASSETS", None)
    r = run(["up", "--backend", "local"], env)
    assert r.returncode == 2, r.stderr
    for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert b in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "ekswin" / "pids.json").exists()


def test_kind_without_docker_is_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    env["PATH"] = str(tmp_path / "empty") + os.pathsep + os.path.dirname(sys.executable)
    r = run(["up", "--backend", "kind"], env)
    assert r.returncode == 2
    assert "Docker" in r.stderr


def test_status_of_nothing_is_failure(env: dict[str, str]) -> None:
    r = run(["status", "--json"], env)
    assert r.returncode == 1
    assert json.loads(r.stdout)["running"] is False


@pytest.mark.cluster
def test_up_detach_status_down(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["up", "--detach", "--name", "cli"], env)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "state" / "cli"
    kubeconfig = run_dir / "kubeconfig"
    assert f"export KUBECONFIG={kubeconfig}" in r.stdout
    merged = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    assert merged["current-context"] == "ekswin-cli"
    # kubectl works against it, through the merged context
    k = subprocess.run(
        ["kubectl", "get", "ns", "-o", "name"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "namespace/kube-system" in k.stdout, k.stderr
    st = run(["status", "--name", "cli", "--json"], env)
    assert st.returncode == 0
    status = json.loads(st.stdout)
    assert status["running"] and set(status["components"]) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    }
    pids = [c["pid"] for c in status["components"].values()] + [status["supervisor_pid"]]
    again = run(["up", "--detach", "--name", "cli"], env)
    assert again.returncode == 1 and "already running" in again.stderr
    d = run(["down", "--name", "cli"], env)
    assert d.returncode == 0, d.stderr
    assert not [p for p in pids if _group_alive(p)]
    merged = yaml.safe_load(Path(env["KUBECONFIG"]).read_text())
    assert all(c["name"] != "ekswin-cli" for c in merged["contexts"])
    assert (run_dir / "logs" / "kube-apiserver.log").exists()


@pytest.mark.cluster
def test_down_after_crashed_up_reaps_leftovers(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["up", "--detach", "--name", "crash", "--no-merge"], env)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "state" / "crash"
    status = json.loads(run(["status", "--name", "crash", "--json"], env).stdout)
    comp_pids = [c["pid"] for c in status["components"].values()]
    # The supervisor dies without cleaning up: its children die with it (PDEATHSIG) and
    # `down` reaps whatever the pid file still names.
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    d = run(["down", "--name", "crash"], env)
    assert d.returncode == 0, d.stderr
    wait_until(
        lambda: not [p for p in comp_pids if _group_alive(p)], 10, "every component group to exit"
    )
    assert json.loads((run_dir / "pids.json").read_text()) == {}


def test_up_with_a_bad_spec_file_exits_2_naming_the_field_and_starts_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    spec = tmp_path / "env.yaml"
    spec.write_text("version: 1\nnodes:\n  - {name: win, instnce_type: m5.large}\n")
    r = run(["up", "-f", str(spec)], env)
    assert r.returncode == 2, r.stderr
    assert f"{spec}:3: nodes[0].instnce_type: unknown key 'instnce_type'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "ekswin").exists()


def test_up_file_cannot_be_combined_with_spec_flags(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "env.yaml"
    spec.write_text("version: 1\n")
    r = run(["up", "-f", str(spec), "--windows-nodes", "2", "--dsr"], env)
    assert r.returncode == 2
    assert "cannot be combined with --windows-nodes, --dsr" in r.stderr


def test_up_bad_flag_value_is_named_by_flag(env: dict[str, str]) -> None:
    r = run(["up", "--windows-nodes", "1", "--instance-type", "m5.huge"], env)
    assert r.returncode == 2
    assert "--instance-type: got 'm5.huge'; EC2 knows no such instance type" in r.stderr


def test_up_nodes_the_subnet_cannot_hold_exit_2_before_anything_starts(
    env: dict[str, str], tmp_path: Path
) -> None:
    # No cap on the count: 5,000 prefix-mode nodes parse, and the subnet's room refuses.
    args = ["up", "--windows-nodes", "5000", "--prefix-delegation", "--subnet", "192.168.0.0/20"]
    r = run(args, env)
    assert r.returncode == 2, r.stderr
    assert "--windows-nodes: subnet 'a' (192.168.0.0/20) cannot hold 5000 node(s)" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "ekswin").exists()
    r = run(["up", "--windows-nodes", "5000", "--prefix-delegation"], env)
    assert r.returncode == 2 and "(192.168.0.0/16) cannot hold 5000 node(s)" in r.stderr
    r = run(["up", "--agents", "-1"], env)
    assert r.returncode == 2 and "--agents: expected 0 or more, got -1" in r.stderr


# -- lifecycle: lock, registry, unusable directories, sockets ------------------------------
_HOLD_LOCK = """
import sys, time
from pathlib import Path
from harness.rundir import RunDirLock
lock = RunDirLock(Path(sys.argv[1]))
assert lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_second_up_on_a_locked_run_dir_names_the_holder_and_touches_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    from harness.rundir import prepare_run_dir

    run_dir = prepare_run_dir(tmp_path / "busy")
    (run_dir / "logs").mkdir()
    log = run_dir / "logs" / "etcd.log"
    log.write_text("the running environment's log\n")
    (run_dir / "ekswin-up.log").write_text("its detached progress\n")
    before = {p: (p.read_text(), p.stat().st_mtime_ns) for p in (log, run_dir / "ekswin-up.log")}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for detach in ([], ["--detach"]):
            r = run(["up", "--name", "busy", "--run-dir", str(run_dir), *detach], env)
            assert r.returncode == 1, r.stderr
            assert f"locked by `ekswin up` pid {holder.pid}" in r.stderr
            assert "Traceback" not in r.stderr
        after = {p: (p.read_text(), p.stat().st_mtime_ns) for p in before}
        assert after == before
        assert not (run_dir / "pids.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_down_of_an_unknown_name_fails_and_a_known_stopped_one_is_a_no_op(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = run(["down", "--name", "nosuch"], env)
    assert r.returncode == 1
    assert "no environment named 'nosuch' (known: none)" in r.stderr
    monkeypatch.setenv("EKSWIN_STATE_DIR", env["EKSWIN_STATE_DIR"])
    from harness import registry
    from harness.rundir import prepare_run_dir

    run_dir = prepare_run_dir(tmp_path / "elsewhere")
    registry.register("known", run_dir)
    for _ in range(2):
        d = run(["down", "--name", "known"], env)
        assert d.returncode == 0, d.stderr
        assert f"'known' is not running; nothing to stop ({run_dir})" in d.stderr
    r = run(["down", "--name", "other"], env)
    assert r.returncode == 1 and "(known: known)" in r.stderr


def test_down_removes_sockets_left_in_the_run_dir(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import stat as st

    monkeypatch.setenv("EKSWIN_STATE_DIR", env["EKSWIN_STATE_DIR"])
    from harness import registry
    from harness.rundir import prepare_run_dir

    run_dir = prepare_run_dir(tmp_path / "r")
    (run_dir / "components").mkdir()
    sock_path = run_dir / "components" / "cni.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock_path))  # a killed node agent's listener: the file outlives it
    assert st.S_ISSOCK(sock_path.lstat().st_mode)
    (run_dir / "components" / "agent.json").write_text("{}")
    registry.register("sockets", run_dir)
    assert run(["down", "--name", "sockets"], env).returncode == 0
    assert not sock_path.exists()
    assert (run_dir / "components" / "agent.json").exists()


def test_unusable_run_dir_or_state_dir_is_exit_2_with_path_and_reason(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = run(["up", "--name", "x", "--run-dir", str(blocker / "run")], env)
    assert r.returncode == 2, r.stderr
    assert f"run directory {blocker / 'run'}: Not a directory" in r.stderr
    assert "Traceback" not in r.stderr
    env["EKSWIN_STATE_DIR"] = str(blocker / "state")
    r = run(["up", "--name", "x", "--run-dir", str(tmp_path / "ok")], env)
    assert r.returncode == 2, r.stderr
    assert f"state directory {blocker / 'state'}: Not a directory" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "ok" / "logs").exists()


@pytest.mark.cluster
def test_down_by_name_finds_an_environment_started_with_run_dir(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_dir = tmp_path / "custom" / "place"
    r = run(["up", "--detach", "--name", "rd", "--run-dir", str(run_dir), "--no-merge"], env)
    assert r.returncode == 0, r.stderr
    assert os.stat(run_dir).st_mode & 0o777 == 0o700
    assert os.stat(tmp_path / "state").st_mode & 0o777 == 0o700
    st = run(["status", "--name", "rd", "--json"], env)
    status = json.loads(st.stdout)
    assert st.returncode == 0 and status["run_dir"] == str(run_dir)
    pids = [c["pid"] for c in status["components"].values()] + [status["supervisor_pid"]]
    # The same run dir under another name: refused, naming the owner.
    again = run(["up", "--detach", "--name", "other", "--run-dir", str(run_dir)], env)
    assert again.returncode == 1
    assert f"'rd' is already running in run directory {run_dir}" in again.stderr
    assert f"pid {status['supervisor_pid']}" in again.stderr
    d = run(["down", "--name", "rd"], env)
    assert d.returncode == 0, d.stderr
    assert "'rd' stopped" in d.stderr
    assert not [p for p in pids if _group_alive(p)]
    assert not [p for p in run_dir.rglob("*") if p.is_socket()]
    d = run(["down", "--name", "rd"], env)
    assert d.returncode == 0 and "not running" in d.stderr
