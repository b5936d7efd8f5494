"""Owner-only files and directories: keys, tokens, kubeconfigs and the dirs holding them.

A secret is created with mode 0600 by the ``open`` call itself (never written first
and narrowed with chmod afterwards, which leaves a window where others can read it),
into a temporary name in the same directory and renamed over the target, so a reader
sees the old file or the new one, never half of one. The umask can only narrow a mode,
so the result is 0600 (or narrower) whatever the caller's umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) owner-only (0700); narrow an existing one.

    Missing parents get the usual mode; `path` itself ends up 0700 even when it existed
    with a wider mode (a directory holds no secret bytes, so narrowing it is safe).
    """
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Atomically write `data` to `path`, created 0600 from its first byte."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # left by a killed writer with our (reused) pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path
