"""CniRunner pieces that need no server: modes, socket placement, the annotation board."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest


def _pod(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": name, "annotations": annotations or {}}}


def _wait_in_thread(board: Any, name: str, timeout_s: float) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(board.wait("default", name, "k", timeout_s))
        except Exception as e:  # the test inspects it
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, box


def _until_waiting(board: Any, name: str) -> None:
    done = threading.Event()
    for _ in range(500):  # the waiter registers within milliseconds
        if ("default", name) in board._waiters:
            return
        done.wait(0.01)
    raise AssertionError(f"no waiter registered for {name}")


def test_annotation_board_wakes_the_waiter_with_the_value() -> None:
    from harness.nodes.cnirunner import AnnotationBoard

    board = AnnotationBoard()
    t, box = _wait_in_thread(board, "p1", 30)
    _until_waiting(board, "p1")
    board.on_pod("MODIFIED", _pod("p2", {"k": "10.0.0.9/19"}))  # someone else's pod
    board.on_pod("MODIFIED", _pod("p1", {"other": "x"}))  # not the annotation yet
    assert t.is_alive()
    board.on_pod("MODIFIED", _pod("p1", {"k": "10.0.0.5/19"}))
    t.join(10)
    assert box == ["10.0.0.5/19"]
    assert board._waiters == {}  # nothing left behind


def test_annotation_board_reads_the_cache_first_and_times_out() -> None:
    from harness.nodes.cnirunner import AnnotationBoard

    cache = {("default", "cached"): _pod("cached", {"k": "10.0.0.7/19"})}
    board = AnnotationBoard(lambda ns, name: cache.get((ns, name)))
    assert board.wait("default", "cached", "k", 0) == "10.0.0.7/19"
    assert board.wait("default", "absent", "k", 0.05) is None


def test_annotation_board_reports_a_deleted_pod_as_404() -> None:
    from harness.kube.api import ApiError
    from harness.nodes.cnirunner import AnnotationBoard

    board = AnnotationBoard()
    t, box = _wait_in_thread(board, "gone", 30)
    _until_waiting(board, "gone")
    board.on_pod("DELETED", _pod("gone"))
    t.join(10)
    assert isinstance(box[0], ApiError) and box[0].status == 404


def test_modes_and_netconf_socket_key() -> None:
    from harness.nodes.cnirunner import build_netconf
    from harness.nodes.config import AgentConfigError, CniSettings
    from harness.nodes.spec import InstanceInfo, NodeSpec

    for mode in ("exec", "exec-direct", "inprocess"):
        assert CniSettings(mode=mode).mode == mode
    with pytest.raises(AgentConfigError, match="'exec', 'exec-direct', 'inprocess'"):
        CniSettings(mode="socket")
    spec = NodeSpec(name="w", instance_type="m5.large", subnet_id="subnet-1")
    inst = InstanceInfo(
        instance_id="i-1",
        private_ip="192.168.0.10",
        eni_id="eni-1",
        mac="0a:00:00:00:00:01",
        subnet_cidr="192.168.0.0/19",
        availability_zone="us-west-2a",
        vpc_cidrs=("192.168.0.0/16",),
    )
    plain = build_netconf(CniSettings(), spec, inst, "/k", "127.0.0.1:1")
    assert "agentSocket" not in plain
    fast = build_netconf(CniSettings(), spec, inst, "/k", "127.0.0.1:1", "/run/cni.sock")
    assert fast == plain | {"agentSocket": "/run/cni.sock"}


def test_socket_path_choice(tmp_path: Path) -> None:
    from harness.nodes.cnirunner import choose_socket_path
    from harness.nodes.config import CniSettings

    status = tmp_path / "components" / "agent-status.json"
    assert choose_socket_path(CniSettings(), str(status)) == str(status.with_name("cni.sock"))
    assert choose_socket_path(CniSettings(socket_path="/run/a.sock")) == "/run/a.sock"
    deep = "/" + "d" * 120 + "/agent-status.json"
    fallback = choose_socket_path(CniSettings(), deep)  # too long for sun_path
    assert fallback.endswith("/cni.sock") and len(fallback) < 108
    Path(fallback).parent.rmdir()
    with pytest.raises(ValueError, match="unix socket limit"):
        choose_socket_path(CniSettings(socket_path="/" + "s" * 120))


def test_exec_mode_installs_the_plugin_unless_overridden(tmp_path: Path) -> None:
    import asyncio

    from harness.nodes.cnirunner import CniRunner, default_binary
    from harness.nodes.config import CniSettings

    async def start(settings: CniSettings, sock: Path) -> tuple[str, str, bool]:
        runner = CniRunner(settings)
        await runner.start_server(str(sock))
        binary, installed = runner.binary, runner.installed
        await runner.close()
        return binary, installed, Path(binary).exists()

    # Default: ekswin-cni in cni-bin next to the socket, removed again by close().
    binary, installed, _ = asyncio.run(start(CniSettings(), tmp_path / "a" / "cni.sock"))
    assert binary == installed == str(tmp_path / "a" / "cni-bin" / "ekswin-cni")
    assert not Path(binary).exists() and not Path(binary).parent.exists()
    # cni.bin_dir places it; cni.binary overrides it and nothing is installed.
    settings = CniSettings(bin_dir=str(tmp_path / "opt-cni-bin"))
    binary, _, _ = asyncio.run(start(settings, tmp_path / "b.sock"))
    assert binary == str(tmp_path / "opt-cni-bin" / "ekswin-cni")
    settings = CniSettings(binary="/usr/local/bin/my-cni")
    binary, installed, _ = asyncio.run(start(settings, tmp_path / "c.sock"))
    assert (binary, installed) == ("/usr/local/bin/my-cni", "")
    assert not (tmp_path / "cni-bin").exists()
    # exec-direct never starts the server: the venv's console script.
    direct = CniRunner(CniSettings(mode="exec-direct"))
    assert direct.binary == default_binary()
    asyncio.run(direct.close())
    assert CniSettings.from_dict({"bin_dir": "/opt/cni/bin"}).bin_dir == "/opt/cni/bin"
