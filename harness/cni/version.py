"""CNI VERSION: the versions this plugin speaks, answered without importing the plugin.

Runtimes exec ``VERSION`` to probe a plugin; it is answered from here (the C ``_json``
through ``wirejson`` only) so the probe costs an interpreter start and nothing more.
"""

from __future__ import annotations

from harness.cni import wirejson as json

SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")


def version_result(data: dict[str, object]) -> str:
    """The VERSION result for a decoded stdin (``cniVersion`` echoed when supported)."""
    v = data.get("cniVersion") or "1.0.0"
    return json.dumps(
        {
            "cniVersion": v if v in SUPPORTED_VERSIONS else "1.0.0",
            "supportedVersions": list(SUPPORTED_VERSIONS),
        }
    )
