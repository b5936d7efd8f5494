"""cluster.json: what `status`, `down` and other processes need to find a running cluster."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ClusterInfo:
    """What other processes need to use a running cluster (cluster.json)."""

    name: str
    backend: str
    server: str
    kubeconfig: str
    ca_file: str
    run_dir: str
    webhook_host: str
    service_cidr: str
    etcd_data: str
    started_at: float
    etcd_url: str = ""
    # Backend-specific facts `down` needs (kind: the cluster name, whether it was created).
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, run_dir: Path) -> None:
        """Write cluster.json."""
        (run_dir / "cluster.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, run_dir: Path) -> ClusterInfo:
        """Read cluster.json (raises FileNotFoundError when absent)."""
        data = json.loads((run_dir / "cluster.json").read_text())
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
