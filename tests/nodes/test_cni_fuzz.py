"""Fuzz the exec'd ``ekswin-cni`` and the node agent's CNI socket with hypothesis.

Against a real fake_hns; no API server is needed (netconfs carry static ``ipAddresses``,
or fail before any lookup). Every call must end in a CNI answer — exit 0 with a result,
or a non-zero exit with the spec's error object (``cniVersion``, ``code``, ``msg``) on
stdout — never a Python traceback, and the agent must keep serving.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cni.shim import encode_request
from harness.nodes.cnirunner import ThreadedCniServer
from harness.nodes.config import CniSettings

CNI_BIN = Path(sys.executable).with_name("ekswin-cni")
HOST = "fuzz-node"
COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS", "", "add"]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def hns(node_hns: Callable[[str], Any]) -> Any:
    return node_hns(HOST)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, hns: Any) -> Iterator[ThreadedCniServer]:
    side = ThreadedCniServer(
        str(tmp_path_factory.mktemp("cni-fuzz") / "cni.sock"),
        CniSettings(mode="exec", concurrency=4),
    )
    try:
        yield side
    finally:
        side.close()


def netconf(target: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "vpc",
        "type": "ekswin-cni",
        "eniMACAddress": "0a:1b:2c:3d:4e:61",
        "eniIPAddresses": ["10.30.0.10/16"],
        "vpcCIDRs": ["10.30.0.0/16"],
        "serviceCIDR": "10.96.0.0/16",
        "gatewayIPAddress": "10.30.0.1",
        "dns": {"nameservers": ["10.96.0.10"], "search": ["{%namespace%}.svc.cluster.local"]},
        "hnsEndpoint": target,
        "hnsHost": HOST,
        "ipAddresses": ["10.30.1.5/16"],
        "annotationTimeoutSeconds": 1,
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "cniVersion",
        "name",
        "type",
        "eniMACAddress",
        "eniIPAddresses",
        "vpcCIDRs",
        "serviceCIDR",
        "gatewayIPAddress",
        "dns",
        "ipAddresses",
        "runtimeConfig",
        "prevResult",
        "annotationTimeoutSeconds",
        "kubeconfig",
        "hnsHost",
    ]
)
VALUES = st.one_of(
    JSON,
    st.sampled_from(["", "0.4.0", "1.0.0", "9.9.9", "zz", "10.30.0.0/33", "10.30.1.6/16"]),
    st.just(["10.30.1.7/16", "10.30.1.8/16"]),
    st.just({"portMappings": [{"hostPort": "x", "containerPort": -1}]}),
)
ENV = st.fixed_dictionaries(
    {
        "CNI_COMMAND": st.one_of(st.sampled_from(COMMANDS), st.text(max_size=8)),
        "CNI_CONTAINERID": st.one_of(st.just("a" * 64), st.text(max_size=70)),
        "CNI_NETNS": st.one_of(st.just("ns-1"), st.text(max_size=20)),
        "CNI_IFNAME": st.sampled_from(["eth0", ""]),
        "CNI_ARGS": st.one_of(
            st.just("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"),
            st.text(max_size=60),
        ),
    }
)


def stdin_strategy(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Netconfs with some keys replaced, dropped or added; or JSON; or arbitrary bytes."""
    changes = st.dictionaries(KEYS, VALUES, max_size=3)
    drops = st.sets(KEYS, max_size=2)

    def bend(change: dict[str, Any], drop: set[str]) -> bytes:
        conf = {k: v for k, v in {**base, **change}.items() if k not in drop}
        return json.dumps(conf).encode()

    return st.one_of(
        st.builds(bend, changes, drops),
        JSON.map(lambda j: json.dumps(j).encode()),
        st.binary(max_size=100),
    )


def clean_env(env: dict[str, str]) -> dict[str, str]:
    # Environment strings cannot hold NUL; the runtime never passes one.
    return {k: v.replace("\x00", "") for k, v in env.items()}


def check_answer(code: int, stdout: str, stderr: str) -> None:
    """A CNI answer: success JSON (or nothing, for DEL), or the error object on stdout."""
    assert "Traceback" not in stdout + stderr, stdout + stderr
    if code == 0:
        if stdout.strip():
            json.loads(stdout)
        return
    err = json.loads(stdout)
    assert isinstance(err, dict) and isinstance(err.get("code"), int), stdout
    assert isinstance(err.get("msg"), str) and err["msg"], stdout
    assert "cniVersion" in err, stdout


@FUZZ
@given(data=st.data())
def test_fuzzed_plugin_calls_get_cni_answers(
    hns: Any, fake_hns_target: str, data: st.DataObject
) -> None:
    env = clean_env(data.draw(ENV))
    stdin = data.draw(stdin_strategy(netconf(fake_hns_target)))
    proc = subprocess.run(
        [str(CNI_BIN)],
        input=stdin,
        env={"PATH": os.environ.get("PATH", ""), "CNI_PATH": str(CNI_BIN.parent), **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    check_answer(proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace"))


def ask_agent(path: str, request: bytes) -> dict[str, Any]:
    """One raw call on the agent's socket (as the shim makes it); the decoded answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(path)
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = json.loads(b"".join(chunks))
    assert isinstance(answer, dict) and set(answer) == {"code", "stdout", "stderr"}, answer
    return answer


REQUESTS = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda head, body: json.dumps(head).encode() + b"\n" + body,
        st.one_of(
            JSON,
            st.fixed_dictionaries({"v": st.one_of(st.just(1), JSON), "env": st.one_of(ENV, JSON)}),
        ),
        st.binary(max_size=100),
    ),
)


@FUZZ
@given(data=st.data())
def test_fuzzed_agent_socket_requests_are_answered(
    agent: ThreadedCniServer, fake_hns_target: str, data: st.DataObject
) -> None:
    path = agent.runner.socket_path
    if data.draw(st.booleans()):
        request = data.draw(REQUESTS)  # anything at all
    else:  # a well-formed request around a bent CNI call
        env = clean_env(data.draw(ENV))
        request = encode_request(env, data.draw(stdin_strategy(netconf(fake_hns_target))))
    answer = ask_agent(path, request)
    assert isinstance(answer["code"], int)
    assert isinstance(answer["stdout"], str) and isinstance(answer["stderr"], str)
    if answer["stderr"].startswith("ekswin-cni: bad agent request:"):
        assert answer["code"] != 0
        return
    check_answer(answer["code"], answer["stdout"], answer["stderr"])


def test_agent_still_serves_after_fuzzing(agent: ThreadedCniServer) -> None:
    env = {"CNI_COMMAND": "VERSION"}
    answer = ask_agent(agent.runner.socket_path, encode_request(env, b'{"cniVersion":"1.0.0"}'))
    assert answer["code"] == 0
    assert "1.0.0" in json.loads(answer["stdout"])["supportedVersions"]
