"""Install ``ekswin-cni`` into a node's CNI bin dir, as a node image puts the plugin
in ``/opt/cni/bin``.

The console script pip writes starts the venv's interpreter with ``site``: venv
site-packages, every ``.pth`` file (the editable install's among them), ~15-20 ms per
exec before the plugin reads stdin. The installed launcher starts the same interpreter
with ``-S`` and puts the directory holding the ``harness`` package on ``sys.path``
itself (computed here, at install time), so the exec'd fast path (VERSION, the agent
socket) costs a bare interpreter start. When the plugin has to run in the process
(no agent), ``harness.cni.plugin`` runs ``site.main()`` first, which brings back
site-packages (grpc) and the editable install's ``.pth`` exactly as a normal start.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

BIN_NAME = "ekswin-cni"
_SHEBANG_MAX = 255  # Linux reads the first 256 bytes of a script (BINPRM_BUF_SIZE)


def harness_root() -> str:
    """The directory that holds the ``harness`` package (what ``import harness`` needs)."""
    import harness

    return str(Path(harness.__file__).resolve().parent.parent)


def _interpreter_line(python: str) -> str:
    """The launcher's first line(s): a plain ``-S`` shebang when the kernel can take it,
    else a /bin/sh line that execs the interpreter (spaces or a very long path)."""
    line = f"#!{python} -S"
    if len(line) <= _SHEBANG_MAX and not any(c.isspace() for c in python):
        return line + "\n"
    quoted = "'" + python.replace("'", "'\"'\"'") + "'"
    # Valid as sh (exec's the interpreter) and as Python (a string literal).
    return f"#!/bin/sh\n'''exec' {quoted} -S \"$0\" \"$@\"\n' '''\n"


def launcher_text(python: str, root: str) -> str:
    """The launcher's text for interpreter `python` and package root `root`."""
    return (
        _interpreter_line(python)
        + "# ekswin-cni, installed by the node agent (harness.cni.install). Started with -S:\n"
        + "# no site-packages until the plugin needs them (harness.cni.plugin.ensure_site).\n"
        + "import sys\n"
        + f"sys.path.insert(0, {root!r})\n"
        + "from harness.cni.plugin import main\n"
        + "main()\n"
    )


def install_plugin(bin_dir: str | Path, python: str = "") -> str:
    """Write the executable launcher ``<bin_dir>/ekswin-cni`` (mode 0755), atomically so
    a concurrent exec sees the old file or the new one; returns its path."""
    directory = Path(bin_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / BIN_NAME
    text = launcher_text(python or sys.executable, harness_root())
    fd, tmp = tempfile.mkstemp(prefix=f".{BIN_NAME}-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return str(target)
