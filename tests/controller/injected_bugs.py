"""Deliberate bugs in the warm pool, for the property test's round trip.

`install(name)` patches `controller.pool.WarmPool` in this process and returns the undo.
A controller process gets the same bug through a `sitecustomize` that calls `install`
when `EKSWIN_INJECT_BUG` names one (`sitecustomize_text`), so a scenario found
in-process can be shown to break the same invariant on a real environment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from controller.pool import WarmPool

ENV_VAR = "EKSWIN_INJECT_BUG"


def _leaky_free() -> tuple[str, Callable[..., object]]:
    """A pod's IP is dropped on delete: not cooled, not warm, still held by EC2."""
    original = WarmPool.free

    def free(self: WarmPool, requester: str, resource_id: str) -> bool:
        original(self, requester, resource_id)
        with self._lock:
            self.cool_down.pop()
        return True

    return "free", free


def _double_assign() -> tuple[str, Callable[..., object]]:
    """A secondary IP handed out stays warm, so the next pod gets it too."""
    original = WarmPool.assign

    def assign(self: WarmPool, requester: str) -> tuple[str, bool]:
        res_id, reconcile = original(self, requester)
        with self._lock:
            if not self.is_pd:
                r = self.used[requester]
                self.warm.setdefault(r.group_id, []).insert(0, r)
        return res_id, reconcile

    return "assign", assign


BUGS: dict[str, Callable[[], tuple[str, Callable[..., object]]]] = {
    "leaky-free": _leaky_free,
    "double-assign": _double_assign,
}


def install(name: str) -> Callable[[], None]:
    """Patch bug `name` into WarmPool; the returned function undoes it."""
    attr, patched = BUGS[name]()
    original = getattr(WarmPool, attr)
    setattr(WarmPool, attr, patched)
    return lambda: setattr(WarmPool, attr, original)


def sitecustomize_text() -> str:
    """A sitecustomize.py installing the bug `$EKSWIN_INJECT_BUG` names at start-up."""
    here = str(Path(__file__).parent)
    return (
        "import os, sys\n"
        f"if os.environ.get({ENV_VAR!r}):\n"
        f"    sys.path.insert(0, {here!r})\n"
        "    import injected_bugs\n"
        f"    injected_bugs.install(os.environ[{ENV_VAR!r}])\n"
    )
