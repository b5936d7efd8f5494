"""kube-apiserver auditing for the local backend: what the user changed through the API.

The policy (audit.k8s.io/v1, the API server's v1.20 schema) logs, at RequestResponse
level, the write requests of the admin kubeconfig's user on pods, Deployments (and their
scale subresource), Services and ConfigMaps; nothing else (controllers, the scheduler,
the kubelet and the harness's own component identities are other users). The log is
JSON lines, one audit.k8s.io/v1 Event each, at `<run dir>/logs/audit.log`.
`scenario export` turns its events back into steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ADMIN_USER = "kubernetes-admin"
POLICY_FILE = "audit-policy.yaml"
LOG_FILE = "logs/audit.log"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
#: The harness's own API clients say so in their User-Agent: their requests are steps
#: (journalled by the step session), not the user's.
HARNESS_USER_AGENT = "ekswin-harness"


def policy(user: str = ADMIN_USER) -> dict[str, Any]:
    """The audit policy document."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {
                "level": "RequestResponse",
                "users": [user],
                "verbs": list(WRITE_VERBS),
                "resources": [
                    {"group": "", "resources": ["pods", "services", "configmaps"]},
                    {"group": "apps", "resources": ["deployments", "deployments/scale"]},
                ],
            },
            {"level": "None"},
        ],
    }


def write_policy(run_dir: Path) -> Path:
    """Write the policy file into `run_dir` (before the API server starts)."""
    path = run_dir / POLICY_FILE
    path.write_text(json.dumps(policy(), indent=1) + "\n")  # JSON is YAML
    (run_dir / LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
    return path


def apiserver_flags(run_dir: Path) -> list[str]:
    """The kube-apiserver flags that enable auditing (policy from write_policy)."""
    path = run_dir / POLICY_FILE
    return [
        f"--audit-policy-file={path}",
        f"--audit-log-path={run_dir / LOG_FILE}",
        "--audit-log-format=json",
        "--audit-log-maxbackup=1",
    ]


def events(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The audit log's events, oldest first (an unreadable line is skipped)."""
    try:
        text = (run_dir / LOG_FILE).read_text()
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("kind") == "Event":
            yield ev


def by_user(ev: dict[str, Any], user: str = ADMIN_USER) -> bool:
    """True for a completed, successful request of the user's own (not the harness's)."""
    who = (ev.get("user") or {}).get("username")
    agent = str(ev.get("userAgent") or "")
    code = int((ev.get("responseStatus") or {}).get("code") or 0)
    return (
        who == user
        and not agent.startswith(HARNESS_USER_AGENT)
        and ev.get("stage") == "ResponseComplete"
        and 200 <= code < 300
    )
