"""ListeningServer / ServerGroup against small real processes, and wait_until."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from harness.process import ComponentFailed, _group_alive
from harness.servers import ListeningServer, ServerGroup
from harness.waiting import WaitTimeout, wait_until

# Logs to stderr first (the first *stdout* line is what counts), announces itself, starts
# a child in the same process group, then sleeps until signalled.
SERVER = textwrap.dedent(
    """
    import subprocess, sys, time
    sys.stderr.write("starting\\n"); sys.stderr.flush()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print("listening on grpc://127.0.0.1:4321", flush=True)
    time.sleep(300)
    """
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_url_address_and_the_whole_group_stopped(tmp_path: Path) -> None:
    with ListeningServer(python(SERVER), tmp_path, "srv") as server:
        assert server.url == "grpc://127.0.0.1:4321"
        assert server.address == "127.0.0.1:4321"
        pgid = server.popen.pid
        assert _group_alive(pgid)
        assert "starting" in server.log_path.read_text()
    assert server.popen.returncode is not None
    assert not _group_alive(pgid)  # the child went too


def test_wrong_first_line_fails_and_stops_the_process(tmp_path: Path) -> None:
    code = "import time; print('hello', flush=True); time.sleep(300)"
    server = ListeningServer(python(code), tmp_path, "bad")
    with pytest.raises(ComponentFailed, match="printed 'hello' instead of 'listening on URL'"):
        server.start()
    assert server.popen.returncode is not None


def test_exit_before_the_line_reports_the_log(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('no port for you\\n'); sys.exit(3)"
    with pytest.raises(ComponentFailed, match="exited with code 3") as info:
        ListeningServer(python(code), tmp_path, "dies").start()
    assert "no port for you" in info.value.log_tail


def test_group_stops_every_server(tmp_path: Path) -> None:
    with ServerGroup(tmp_path) as group:
        hns = group.start("fake_hns", ["--port", "0"])
        other = group.enter_context(ListeningServer(python(SERVER), tmp_path, "other"))
        assert hns.url.startswith("grpc://127.0.0.1:") and hns.popen.poll() is None
        assert (tmp_path / "fake_hns-0.log").exists() and other.popen.poll() is None
    assert hns.popen.returncode == 0  # stopped by SIGTERM, cleanly
    assert other.popen.returncode is not None


def test_wait_until_returns_the_value_or_names_what_it_waited_for() -> None:
    calls = iter([0, None, "ready"])
    assert wait_until(lambda: next(calls), 5, "the third call") == "ready"
    with pytest.raises(WaitTimeout, match=r"waiting for nothing \(last: False\)"):
        wait_until(lambda: False, 0.2, "nothing")
