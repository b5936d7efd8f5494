"""Per-node summaries for `ekswin status` (and, later, reports).

Filled in by the Windows node pipeline; without nodes there is nothing to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def node_summaries(run_dir: Path) -> list[dict[str, Any]]:
    """One summary per fake Windows node of the run (empty without a node pipeline)."""
    if not (run_dir / "nodes.json").exists():
        return []
    from harness.pipeline import summarize_nodes

    return summarize_nodes(run_dir)
