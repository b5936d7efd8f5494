"""Write kubeconfig files and merge/unmerge a context into the user's kubeconfig.

Like kind, ``ekswin up`` writes a kubeconfig into the run directory and merges an
``ekswin-<name>`` cluster/user/context into the user's kubeconfig (the first file of
``KUBECONFIG``, else ``~/.kube/config``), selecting it; ``ekswin down`` removes it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build(
    name: str,
    server: str,
    ca_pem: bytes,
    *,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig dict with one cluster, user and context, all called `name`."""
    user: dict[str, str] = {}
    if cert_pem is not None and key_pem is not None:
        user["client-certificate-data"] = _b64(cert_pem)
        user["client-key-data"] = _b64(key_pem)
    if token is not None:
        user["token"] = token
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    """Write a kubeconfig readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def user_kubeconfig_path(env: dict[str, str] | None = None) -> Path:
    """The file kubectl writes to: the first entry of KUBECONFIG, else ~/.kube/config."""
    env = dict(os.environ) if env is None else env
    value = env.get("KUBECONFIG", "")
    first = next((p for p in value.split(os.pathsep) if p), None)
    return Path(first) if first else Path(env.get("HOME", str(Path.home()))) / ".kube" / "config"


def _load(path: Path) -> dict[str, Any]:
    if not path.exists() or not path.read_text().strip():
        return {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a kubeconfig (expected a mapping at the top level)")
    return data


def _upsert(items: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("name") != entry["name"]] + [entry]


def merge(config: dict[str, Any], target: Path) -> None:
    """Merge the single-context `config` into `target` and make it current."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        data = _load(target)
        for key in ("clusters", "users", "contexts"):
            items = data.get(key) or []
            for entry in config[key]:
                items = _upsert(items, entry)
            data[key] = items
        data["current-context"] = config["current-context"]
        write(target, data)


def unmerge(name: str, target: Path) -> bool:
    """Remove cluster/user/context `name` from `target`; True when something was removed."""
    if not target.exists():
        return False
    with FileLock(str(target) + ".lock"):
        data = _load(target)
        removed = False
        for key in ("clusters", "users", "contexts"):
            before = data.get(key) or []
            after = [i for i in before if i.get("name") != name]
            removed = removed or len(after) != len(before)
            data[key] = after
        if data.get("current-context") == name:
            data["current-context"] = ""
        if removed:
            write(target, data)
        return removed
