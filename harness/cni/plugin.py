"""``ekswin-cni``: the exec'd CNI 1.0.0 plugin (console script ``harness.cni.plugin:main``).

What the kubelet emulation (and any CNI runtime) execs per call: ``CNI_*`` environment,
netconf on stdin, result or error JSON on stdout, exit code. When the netconf carries
``agentSocket`` and the node agent listens there, the call is forwarded to the agent
(``harness.cni.shim``), which runs the same plugin with pooled connections; otherwise
the plugin runs right here (``harness.cni.vpcbridge``), so the binary also works
standalone.

The node agent installs a launcher for this entry point that starts the interpreter
with ``-S`` (``harness.cni.install``): the fast path needs only the standard library,
and ``ensure_site`` loads site-packages (grpc) just before the plugin runs locally.

This module is imported on every exec: it imports only ``os`` and ``sys`` (the shim
adds ``_json`` through ``wirejson``, and ``_socket``); the plugin itself (ipaddress,
dataclasses, urllib, ssl, grpc) is imported only when the call runs locally.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing or collections.abc costs ms per exec
if TYPE_CHECKING:
    from collections.abc import Mapping


def ensure_site() -> None:
    """Load ``site`` when the interpreter started without it (``-S``, the installed
    launcher): venv site-packages and ``.pth`` files (either editable-install mode),
    which the locally run plugin needs for grpc."""
    if "site" in sys.modules:
        return  # a normal start imported it already
    import site

    site.main()


def run(env: Mapping[str, str], stdin: bytes | str) -> tuple[int, str]:
    """Run one CNI call locally with fresh connections; (exit code, stdout text)."""
    ensure_site()
    from harness.cni.vpcbridge import run as run_plugin

    return run_plugin(env, stdin)


def _version(stdin: bytes) -> str | None:
    """The VERSION answer, or None to let the full plugin report a bad stdin (code 6)."""
    from harness.cni import wirejson as json
    from harness.cni.version import version_result

    try:
        data = json.loads(stdin) if stdin.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return None
    return version_result(data) if isinstance(data, dict) else None


def main() -> None:
    """Console script entry point: env + stdin in, result/error JSON out, exit code."""
    stdin = sys.stdin.buffer.read()
    if os.environ.get("CNI_COMMAND") == "VERSION":
        answer = _version(stdin)
        if answer is not None:
            sys.stdout.write(answer)
            sys.stdout.flush()
            sys.exit(0)
    from harness.cni.shim import try_forward

    code = try_forward(os.environ, stdin)
    if code is None:
        code, out = run(os.environ, stdin)
        if out:
            sys.stdout.write(out)
            sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
