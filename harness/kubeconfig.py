"""Write kubeconfig files and merge/unmerge a context into the user's kubeconfig.

Like kind, ``ekswin up`` writes a kubeconfig into the run directory and merges an
``ekswin-<name>`` cluster/user/context into the user's kubeconfig (the first file of
``KUBECONFIG``, else ``~/.kube/config``), selecting it; ``ekswin down`` removes it.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from harness.privfiles import write_private


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
    token_file: Path | None = None,
) -> dict[str, Any]:
    """A kubeconfig dict with one cluster, user and context, all called `name`.

    With `token_file` the user is an ``exec`` credential plugin that hands the file's
    current token (and its expiry) to the client, so a token the harness rewrites is
    picked up without a restart (see harness.identity)."""
    user: dict[str, Any] = {}
    if cert_pem is not None and key_pem is not None:
        user["client-certificate-data"] = _b64(cert_pem)
        user["client-key-data"] = _b64(key_pem)
    if token is not None:
        user["token"] = token
    if token_file is not None:
        user["exec"] = token_exec(token_file)
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


def token_exec(token_file: Path) -> dict[str, Any]:
    """The kubeconfig ``exec`` stanza that reads a token file (harness/kube/tokenexec.py).

    Run isolated and without site (``-I -S``): the plugin needs the standard library
    only, and a client runs it each time its token nears expiry."""
    from harness.kube import tokenexec

    return {
        "apiVersion": tokenexec.API_VERSION,
        "command": sys.executable,
        "args": ["-I", "-S", str(Path(tokenexec.__file__).resolve()), str(token_file.resolve())],
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    """Write a kubeconfig, created owner-only (0600) from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_private(path, yaml.safe_dump(config, sort_keys=False))


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


def merge(config: dict[str, Any], target: Path, *, select: bool = True) -> None:
    """Merge the single-context `config` into `target` and (`select`) make it current."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        data = _load(target)
        for key in ("clusters", "users", "contexts"):
            items = data.get(key) or []
            for entry in config[key]:
                items = _upsert(items, entry)
            data[key] = items
        if select:
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


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used: names the file, the context and what is wrong."""


_FILE_KEYS = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


def _inline(entry: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    out = dict(entry)
    for key, data_key in _FILE_KEYS.items():
        if key in out:
            file = Path(out.pop(key)).expanduser()
            file = file if file.is_absolute() else base / file
            try:
                out.setdefault(data_key, _b64(file.read_bytes()))
            except OSError as e:
                raise KubeconfigError(f"{where}: {key} {str(file)!r}: {e.strerror}") from None
    return out


def flatten(path: Path, context: str | None = None) -> dict[str, Any]:
    """One context of a kubeconfig (`context`, else its current one) as a self-contained
    single-context kubeconfig: file references inlined, exec and token users kept."""
    try:
        data = _load(path) if path.exists() else None
    except yaml.YAMLError as e:
        raise KubeconfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        raise KubeconfigError(f"{path}: no such kubeconfig file")
    contexts = {c.get("name"): c.get("context") or {} for c in data.get("contexts") or []}
    name = context or data.get("current-context") or ""
    if not name:
        raise KubeconfigError(
            f"{path}: no current-context; pass --context (one of {sorted(contexts)})"
        )
    if name not in contexts:
        raise KubeconfigError(
            f"{path}: context {name!r} not found; expected one of {sorted(contexts) or 'none'}"
        )
    ctx = contexts[name]
    clusters = {c.get("name"): c.get("cluster") or {} for c in data.get("clusters") or []}
    users = {u.get("name"): u.get("user") or {} for u in data.get("users") or []}
    if ctx.get("cluster") not in clusters:
        raise KubeconfigError(f"{path}: context {name!r}: cluster {ctx.get('cluster')!r} not found")
    cluster = _inline(clusters[ctx["cluster"]], path.parent, f"{path}: cluster {ctx['cluster']!r}")
    if not cluster.get("server"):
        raise KubeconfigError(f"{path}: cluster {ctx['cluster']!r} has no server")
    user = _inline(users.get(ctx.get("user"), {}), path.parent, f"{path}: user {ctx.get('user')!r}")
    context_body = {"cluster": name, "user": name}
    if ctx.get("namespace"):
        context_body["namespace"] = ctx["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context_body}],
        "current-context": name,
        "preferences": {},
    }


def server_and_ca(config: dict[str, Any]) -> tuple[str, bytes | None]:
    """The API server URL and CA certificate (PEM, None when not given) of a flattened
    single-context kubeconfig."""
    cluster = config["clusters"][0]["cluster"]
    ca = cluster.get("certificate-authority-data")
    return str(cluster["server"]), base64.b64decode(ca) if ca else None


def renamed(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A single-context kubeconfig with its cluster, user and context all called `name`."""
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = {**config["contexts"][0]["context"], "cluster": name, "user": name}
    return {
        **config,
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
