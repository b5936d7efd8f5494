"""kubeconfig ``exec`` credential plugin: the current token of a token file.

``python -I -S tokenexec.py TOKEN_FILE`` prints an ``ExecCredential`` with the file's
token and, taken from the token's own ``exp`` claim, its ``expirationTimestamp``. The
harness rewrites the file before the token expires (harness.identity.TokenRefresher);
a client (kubectl, the kubernetes Python client, client-go, harness.kube.config) runs
the plugin again when the token it holds nears that expiry, so it reads the new one.

Standard library only and no package imports: it runs as a script, without site.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys

API_VERSION = "client.authentication.k8s.io/v1beta1"


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (unix time) of a JWT, unverified; None when it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def credential(token_file: str, api_version: str = API_VERSION) -> dict[str, object]:
    """The ExecCredential for the token in `token_file` (OSError when unreadable)."""
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"{token_file}: empty token file")
    status: dict[str, object] = {"token": token}
    exp = token_expiry(token)
    if exp is not None:
        when = dt.datetime.fromtimestamp(exp, dt.UTC)
        status["expirationTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": api_version, "kind": "ExecCredential", "status": status}


def main(argv: list[str]) -> int:
    """Print the credential; exit 1 with the reason on stderr."""
    if len(argv) != 1:
        print("usage: tokenexec.py TOKEN_FILE", file=sys.stderr)
        return 1
    api_version = API_VERSION
    try:  # answer in the version the client asked for
        info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
        api_version = str(info.get("apiVersion") or API_VERSION)
    except ValueError:
        pass
    try:
        cred = credential(argv[0], api_version)
    except (OSError, ValueError) as e:
        print(f"ekswin token plugin: {e}", file=sys.stderr)
        return 1
    print(json.dumps(cred))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
