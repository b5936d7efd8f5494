"""The exec'd plugin's fast path: hand the CNI call to the node agent over a unix socket.

The real Windows plugin hands its annotation lookup to a connector executable over a
named pipe; here the whole call goes to the agent that already holds pooled API and
HNS connections (FACTS.md, "Cost of exec"). The kubelet still execs ``ekswin-cni``
with the ``CNI_*`` environment and the netconf on stdin; when the netconf names an
``agentSocket``, the binary forwards ``{CNI_* env, stdin}`` there and prints the
agent's stdout, stderr and exit code, which are exactly what the plugin would have
produced itself.

Standard library only (os, sys, _socket, and _json through ``wirejson``): this module
is on the exec'd path of every pod sandbox, so every import here is paid per call.

Wire format (one call per connection), request then response:
  ``<header JSON>\\n<stdin bytes>`` with the header ``{"v": 1, "env": {CNI_*...}}``,
  the client then shuts its write side; ``{"code": N, "stdout": "...", "stderr": "..."}``.
"""

from __future__ import annotations

import _socket  # the C module: `socket` adds ~3 ms of imports (selectors, enums) per exec
import os
import sys

from harness.cni import wirejson as json  # `json` adds ~10 ms of imports (re, enum)

NETCONF_KEY = "agentSocket"
PROTOCOL = 1
_MAX_RESPONSE = 16 << 20


class AgentUnavailable(Exception):
    """No agent listens on the socket: the caller runs the plugin itself."""


def socket_path(stdin: bytes) -> str:
    """The netconf's ``agentSocket`` (empty when absent or the netconf is not JSON)."""
    if not stdin or NETCONF_KEY.encode() not in stdin:
        return ""  # cheap check first: most standalone calls never carry the key
    try:
        data = json.loads(stdin)
    except (ValueError, UnicodeDecodeError):
        return ""  # the plugin itself reports undecodable netconf (code 6)
    value = data.get(NETCONF_KEY) if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def cni_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The part of the environment the plugin reads: every ``CNI_*`` variable."""
    return {k: v for k, v in environ.items() if k.startswith("CNI_")}


def encode_request(env: dict[str, str], stdin: bytes) -> bytes:
    """The request bytes for one call."""
    return json.dumps({"v": PROTOCOL, "env": env}).encode() + b"\n" + stdin


def decode_request(data: bytes) -> tuple[dict[str, str], bytes]:
    """(env, stdin) from request bytes; ValueError when malformed."""
    header, sep, stdin = data.partition(b"\n")
    if not sep:
        raise ValueError("request has no header line")
    head = json.loads(header)
    if not isinstance(head, dict) or head.get("v") != PROTOCOL:
        raise ValueError(f"unsupported request header {header[:100]!r}")
    env = head.get("env")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError("request env must map names to strings")
    return env, stdin


def encode_response(code: int, stdout: str, stderr: str) -> bytes:
    """The response bytes for one call."""
    return json.dumps({"code": code, "stdout": stdout, "stderr": stderr}).encode()


def forward(path: str, env: dict[str, str], stdin: bytes) -> tuple[int, str, str]:
    """Run the call in the agent: (exit code, stdout, stderr).

    Raises AgentUnavailable when nothing accepts on `path` (the caller falls back to
    running the plugin locally); once the agent has the request, its answer is final.
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except OSError as e:  # missing, stale (refused), not a socket, no permission
            raise AgentUnavailable(f"{path}: {e}") from e
        sock.sendall(encode_request(env, stdin))
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        size = 0
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_RESPONSE:
                raise OSError("response too large")
    finally:
        sock.close()
    resp = json.loads(b"".join(chunks))
    return int(resp["code"]), str(resp["stdout"]), str(resp["stderr"])


def try_forward(environ: dict[str, str] | os._Environ[str], stdin: bytes) -> int | None:
    """The exec'd fast path: forward and write the agent's answer; None to run locally."""
    path = socket_path(stdin)
    if not path:
        return None
    try:
        code, out, err = forward(path, cni_env(environ), stdin)
    except AgentUnavailable:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        # The agent took the call and then failed to answer: say so in CNI form
        # (code 11, "try again later"), as the runtime retries the sandbox anyway.
        msg = {"cniVersion": "1.0.0", "code": 11, "msg": f"node agent call failed: {e}"}
        sys.stdout.write(json.dumps(msg))
        sys.stdout.flush()
        return 11
    if err:
        sys.stderr.write(err)
        sys.stderr.flush()
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return code
