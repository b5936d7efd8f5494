"""The exec'd ``ekswin-cni`` fast path: the binary hands the call to the agent's socket.

A CniRunner server (the agent's side) runs on its own loop thread against a real
fake_hns; the binary is exec'd as containerd does. No API server is needed: the
netconf carries static ``ipAddresses``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.nodes.cnirunner import ThreadedCniServer
from harness.nodes.config import CniSettings

CNI_BIN = Path(sys.executable).with_name("ekswin-cni")
# All the project modules the exec'd fast path (VERSION, agent socket) may import.
FAST_PATH_MODULES = {
    "harness",
    "harness.cni",
    "harness.cni.plugin",
    "harness.cni.shim",
    "harness.cni.wirejson",
}
HOST = "shim-node"


class AgentSide(ThreadedCniServer):
    """A CniRunner in exec mode listening on a unix socket (as the agent runs it)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, CniSettings(mode="exec", concurrency=4))


@pytest.fixture(scope="module")
def hns(node_hns: Callable[[str], Any]) -> Any:
    return node_hns(HOST)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentSide]:
    side = AgentSide(str(tmp_path / "cni.sock"))
    try:
        yield side
    finally:
        side.close()


def _netconf(target: str, ip: str, **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "vpc",
        "type": "ekswin-cni",
        "eniMACAddress": "0a:1b:2c:3d:4e:60",
        "eniIPAddresses": ["10.20.0.10/16"],
        "vpcCIDRs": ["10.20.0.0/16"],
        "serviceCIDR": "10.96.0.0/16",
        "gatewayIPAddress": "10.20.0.1",
        "dns": {"nameservers": ["10.96.0.10"], "search": ["{%namespace%}.svc.cluster.local"]},
        "hnsEndpoint": target,
        "hnsHost": HOST,
        "ipAddresses": [ip],
        **extra,
    }


def _exec(
    command: str,
    sandbox: str,
    netns: str,
    stdin: bytes,
    binary: Path = CNI_BIN,
    **extra_env: str,
) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": sandbox,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(binary.parent),
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web",
        **extra_env,
    }
    return subprocess.run(
        [str(binary)], input=stdin, env=env, capture_output=True, timeout=60, check=False
    )


def _imported(stderr: bytes) -> list[str]:
    """Module names from ``PYTHONPROFILEIMPORTTIME`` output, in import order."""
    lines = [line for line in stderr.decode().splitlines() if line.startswith("import time:")]
    return [line.rsplit("|", 1)[-1].strip() for line in lines[1:]]  # [0] is the header


def _normalise(result: dict[str, Any]) -> dict[str, Any]:
    """The parts that differ between two sandboxes (MAC, namespace id) blanked."""
    out = json.loads(json.dumps(result))
    for iface in out.get("interfaces", []):
        iface["mac"], iface["sandbox"] = "mac", "netns"
    return out


def test_shim_round_trip_matches_the_direct_path(
    hns: Any, agent: AgentSide, fake_hns_target: str, tmp_path: Path
) -> None:
    sock = agent.runner.socket_path
    results = {}
    for label, ip, extra in (
        ("direct", "10.20.1.5/16", {}),
        ("shim", "10.20.1.5/16", {"agentSocket": sock}),
    ):
        sandbox = f"{label}".ljust(64, "0")
        netns = hns.create_namespace()
        stdin = json.dumps(_netconf(fake_hns_target, ip, **extra)).encode()
        add = _exec("ADD", sandbox, netns, stdin)
        assert add.returncode == 0, add.stdout + add.stderr
        results[label] = json.loads(add.stdout)
        ep = hns.get_endpoint(f"cid-{sandbox}")
        assert ep is not None and ep.ip == "10.20.1.5" and ep.namespace == netns
        assert results[label]["interfaces"][0]["mac"] == ep.mac
        assert results[label]["interfaces"][0]["sandbox"] == netns
        assert _exec("CHECK", sandbox, netns, stdin).returncode == 0
        dele = _exec("DEL", sandbox, netns, stdin)
        assert dele.returncode == 0 and dele.stdout == b""
        assert hns.get_endpoint(f"cid-{sandbox}") is None
    # The agent ran the shim's three calls, none of the direct ones.
    assert agent.runner.served == 3
    assert _normalise(results["shim"]) == _normalise(results["direct"])
    assert results["shim"]["dns"]["search"] == ["team-a.svc.cluster.local"]


def test_missing_socket_falls_back_to_running_locally(
    hns: Any, fake_hns_target: str, tmp_path: Path
) -> None:
    sandbox = "f" * 64
    netns = hns.create_namespace()
    gone = str(tmp_path / "no-agent.sock")
    stdin = json.dumps(_netconf(fake_hns_target, "10.20.1.6/16", agentSocket=gone)).encode()
    add = _exec("ADD", sandbox, netns, stdin)
    assert add.returncode == 0, add.stdout + add.stderr
    assert json.loads(add.stdout)["ips"][0]["address"] == "10.20.1.6/16"
    assert hns.get_endpoint(f"cid-{sandbox}") is not None
    # A stale socket file (agent gone, connection refused) falls back the same way.
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(gone)
    stale.close()
    stdin = json.dumps(_netconf(fake_hns_target, "10.20.1.6/16", agentSocket=gone)).encode()
    assert _exec("DEL", sandbox, netns, stdin).returncode == 0
    assert hns.get_endpoint(f"cid-{sandbox}") is None


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"cniVersion": "9.9.9"}, 1, "incompatible CNI versions"),
        ({"eniMACAddress": "zz"}, 999, "invalid ENIMACAddress zz"),
        ({"ipAddresses": ["10.20.1.7/16", "10.20.1.8/16"]}, 999, "Only a single IPv4"),
    ],
)
def test_errors_pass_through_the_shim_unchanged(
    agent: AgentSide,
    fake_hns_target: str,
    change: dict[str, Any],
    code: int,
    fragment: str,
) -> None:
    netns = "ns-does-not-matter"
    conf = _netconf(fake_hns_target, "10.20.1.7/16") | change
    direct = _exec("ADD", "e" * 64, netns, json.dumps(conf).encode())
    before = agent.runner.served
    shim = _exec(
        "ADD",
        "e" * 64,
        netns,
        json.dumps(conf | {"agentSocket": agent.runner.socket_path}).encode(),
    )
    assert agent.runner.served == before + 1
    assert shim.returncode == direct.returncode == 1
    err = json.loads(shim.stdout)
    assert err == json.loads(direct.stdout)
    assert err["code"] == code and fragment in err["msg"]
    # The plugin's log line reaches the binary's stderr too.
    assert b"ekswin-cni: error:" in shim.stderr


def test_missing_environment_is_code_4_through_the_shim(
    agent: AgentSide, fake_hns_target: str
) -> None:
    conf = _netconf(fake_hns_target, "10.20.1.9/16", agentSocket=agent.runner.socket_path)
    env = {"PATH": os.environ.get("PATH", ""), "CNI_COMMAND": "ADD"}
    proc = subprocess.run(
        [str(CNI_BIN)],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["code"] == 4 and "CNI_CONTAINERID" in err["msg"]


def test_version_is_answered_without_the_plugin() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "CNI_COMMAND": "VERSION"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(CNI_BIN)],
        input=b'{"cniVersion": "0.4.0"}',
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"],
    }
    names = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()]
    imported = set(names[names.index("site") + 1 :])  # after interpreter start-up
    assert "harness.cni.version" in imported
    heavy = {"grpc", "ssl", "urllib.request", "ipaddress", "harness.cni.vpcbridge", "kubernetes"}
    assert not heavy & imported, heavy & imported


def test_shim_import_chain_is_standard_library_only() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import harness.cni.plugin, harness.cni.shim"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = proc.stderr.decode().splitlines()
    names = [line.rsplit("|", 1)[-1].strip() for line in lines]
    # importtime lists a package after its submodules: everything after site is ours.
    ours = set(names[names.index("site") + 1 :])
    project = {m for m in ours if m.split(".")[0] not in sys.stdlib_module_names}
    assert project <= FAST_PATH_MODULES, project
    # The expensive parts of the plugin stay out of the exec'd path (json: re, enum).
    heavy = {"grpc", "ssl", "urllib", "http", "ipaddress", "asyncio", "socket", "dataclasses"}
    heavy |= {"json", "re", "enum", "typing"}
    assert not {m for m in ours if m.split(".")[0] in heavy}, sorted(ours)


def test_request_and_response_framing() -> None:
    from harness.cni import shim

    env = {"CNI_COMMAND": "ADD", "CNI_ARGS": "K8S_POD_NAME=a;b=c"}
    stdin = b'{"not": "even json"\xff'
    assert shim.decode_request(shim.encode_request(env, stdin)) == (env, stdin)
    with pytest.raises(ValueError, match="header"):
        shim.decode_request(b"no newline")
    with pytest.raises(ValueError, match="unsupported"):
        shim.decode_request(b'{"v": 2, "env": {}}\n{}')
    with pytest.raises(ValueError, match="strings"):
        shim.decode_request(b'{"v": 1, "env": {"CNI_COMMAND": 1}}\n')
    assert shim.socket_path(b'{"agentSocket": "/run/x.sock"}') == "/run/x.sock"
    assert shim.socket_path(b'{"agentSocket": 5}') == ""
    assert shim.socket_path(b"agentSocket but not json") == ""
    assert shim.cni_env({"CNI_COMMAND": "DEL", "HOME": "/root"}) == {"CNI_COMMAND": "DEL"}


# -- the launcher the agent installs into its CNI bin dir (python -S) -------------------


def test_agent_installs_a_site_free_launcher(agent: AgentSide, tmp_path: Path) -> None:
    from harness.cni.install import harness_root

    installed = Path(agent.runner.binary)
    assert installed == tmp_path / "cni-bin" / "ekswin-cni"  # next to the socket
    assert agent.runner.installed == str(installed)
    assert agent.runner.status()["binary"] == str(installed)
    assert installed.is_file() and os.access(installed, os.X_OK)
    assert installed.stat().st_mode & 0o777 == 0o755
    lines = installed.read_text().splitlines()
    assert lines[0] == f"#!{sys.executable} -S"
    assert f"sys.path.insert(0, {harness_root()!r})" in lines
    assert "from harness.cni.plugin import main" in lines
    assert not list(installed.parent.glob(".ekswin-cni-*"))  # no temp file left


def test_installed_launcher_answers_version_without_site(agent: AgentSide) -> None:
    proc = _exec(
        "VERSION",
        "",
        "",
        b'{"cniVersion": "0.3.1"}',
        Path(agent.runner.binary),
        PYTHONPROFILEIMPORTTIME="1",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cniVersion"] == "0.3.1"
    names = _imported(proc.stderr)
    assert "harness.cni.version" in names
    assert "site" not in names and "sitecustomize" not in names
    # JSON through the C accelerator: json's pure-Python modules (re, enum) stay out.
    assert not {"json", "re", "enum", "typing"} & set(names), names


def test_installed_launcher_forwards_like_the_console_script(
    hns: Any, agent: AgentSide, fake_hns_target: str
) -> None:
    installed = Path(agent.runner.binary)
    conf = _netconf(fake_hns_target, "10.20.1.11/16", agentSocket=agent.runner.socket_path)
    stdin = json.dumps(conf).encode()
    results = {}
    for label, binary in (("script", CNI_BIN), ("installed", installed)):
        sandbox = label.ljust(64, "1")
        netns = hns.create_namespace()
        before = agent.runner.served
        add = _exec("ADD", sandbox, netns, stdin, binary, PYTHONPROFILEIMPORTTIME="1")
        assert add.returncode == 0, add.stdout + add.stderr
        assert agent.runner.served == before + 1  # the agent ran it
        results[label] = json.loads(add.stdout)
        assert results[label]["interfaces"][0]["sandbox"] == netns
        names = _imported(add.stderr)
        if binary == installed:
            # The socket path needs the standard library and two harness modules only.
            assert "site" not in names, names
            outside = {n for n in names if n.split(".")[0] not in sys.stdlib_module_names}
            assert outside <= FAST_PATH_MODULES, outside
        dele = _exec("DEL", sandbox, netns, stdin, binary)
        assert dele.returncode == 0 and hns.get_endpoint(f"cid-{sandbox}") is None
    assert _normalise(results["installed"]) == _normalise(results["script"])


def test_installed_launcher_runs_the_plugin_without_an_agent(
    hns: Any, fake_hns_target: str, tmp_path: Path
) -> None:
    from harness.cni.install import install_plugin

    installed = Path(install_plugin(tmp_path / "bin"))
    sandbox = "9" * 64
    netns = hns.create_namespace()
    gone = str(tmp_path / "no-agent.sock")
    stdin = json.dumps(_netconf(fake_hns_target, "10.20.1.12/16", agentSocket=gone)).encode()
    add = _exec("ADD", sandbox, netns, stdin, installed, PYTHONPROFILEIMPORTTIME="1")
    assert add.returncode == 0, add.stdout + add.stderr
    assert json.loads(add.stdout)["ips"][0]["address"] == "10.20.1.12/16"
    ep = hns.get_endpoint(f"cid-{sandbox}")
    assert ep is not None and ep.namespace == netns
    # site (venv site-packages and the editable install's .pth) loads only for the plugin,
    # and grpc comes from there.
    names = _imported(add.stderr)
    assert "site" in names and "grpc" in names
    assert names.index("harness.cni.shim") < names.index("site") < names.index("grpc")
    assert _exec("DEL", sandbox, netns, stdin, installed).returncode == 0
    assert hns.get_endpoint(f"cid-{sandbox}") is None


def test_launcher_for_an_interpreter_path_with_spaces(tmp_path: Path) -> None:
    from harness.cni.install import install_plugin

    spaced = tmp_path / "my python" / "python"
    spaced.parent.mkdir()
    spaced.symlink_to(sys.executable)
    installed = Path(install_plugin(tmp_path / "bin", python=str(spaced)))
    assert installed.read_text().startswith("#!/bin/sh\n")
    proc = _exec("VERSION", "", "", b"{}", installed)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, -2.5e3, "x\\u00e9\\n", null, true, false, {"b": {}}], "c": []}',
        '  \n{"agentSocket": "/run/x.sock"}\n ',
        "[NaN, Infinity, -Infinity, 1E400]",
        '"just a string"',
    ],
)
def test_wirejson_matches_json_on_well_formed_input(text: str) -> None:
    from harness.cni import wirejson

    expected = json.loads(text)
    got = wirejson.loads(text.encode())
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN: compare encodings
    assert wirejson.dumps(expected) == json.dumps(expected)
    assert wirejson.loads(text) == got or text.startswith("[NaN")


@pytest.mark.parametrize(
    "data",
    [b'{"a" 1}', b'{"a": "\\q"}', b'{"a": 1} extra', b"[1,", b'"open', b"\xff{}", b""],
)
def test_wirejson_errors_are_jsons_errors(data: bytes) -> None:
    from harness.cni import wirejson

    with pytest.raises(ValueError) as want:
        json.loads(data)
    with pytest.raises(ValueError) as got:
        wirejson.loads(data)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
    with pytest.raises(TypeError, match="not JSON serializable"):
        wirejson.dumps({"a": object()})
    assert wirejson.loads('{"x": 1}'.encode("utf-16")) == {"x": 1}  # json detects UTF-16
