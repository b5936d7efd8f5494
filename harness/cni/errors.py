"""CNI error results (CNI spec 1.0.0, "Error" section).

Well-known codes 1-99 are reserved by the spec; libcni's ``skel`` wraps any other plugin
error as code 999 ("internal"), which is what the real vpc-bridge plugin returns for
its own failures (missing annotation, HNS errors, bad netconf values).
"""

from __future__ import annotations

import json
from typing import Any

INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
INTERNAL = 999


class CniError(Exception):
    """A failure reported to the runtime as the CNI error JSON on stdout."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, cni_version: str) -> dict[str, Any]:
        """The error object the spec defines: cniVersion, code, msg, details."""
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def dumps(self, cni_version: str) -> str:
        """Serialised error object (one line)."""
        return json.dumps(self.to_json(cni_version))
