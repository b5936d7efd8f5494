"""`ekswin why`: the first broken link of the pipeline for a pod, with its evidence.

``diagnose(run_dir, pod)`` gathers the evidence (:mod:`harness.why.gather`) and judges it
(:mod:`harness.why.rules`, plain Python over plain data); ``stuck(run_dir)`` does so
for every pod not Running for longer than the timing profile's CNI annotation wait.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.why.gather import Sources, WhyError, annotation_wait_s, gather, pod_facts
from harness.why.rules import LINKS, first_broken_link, is_stuck

__all__ = ["LINKS", "WhyError", "diagnose", "first_broken_link", "render", "stuck"]


def diagnose(run_dir: Path, pod: str, namespace: str = "default") -> dict[str, Any]:
    """The first broken link for pod `namespace/pod` (or "ns/name" in `pod`) of the
    environment in `run_dir`, as plain data (rules.first_broken_link's shape).
    WhyError when the environment does not answer or the pod does not exist."""
    if "/" in pod:
        namespace, pod = pod.split("/", 1)
    with Sources(run_dir) as src:
        body = _read(src, namespace, pod)
        return first_broken_link(gather(src, body))


def _read(src: Sources, namespace: str, name: str) -> dict[str, Any]:
    try:
        body = src.pod(namespace, name)
    except Exception as e:  # the API server does not answer: not a traceback
        raise WhyError(f"cannot read pod {namespace}/{name}: {e}") from e
    if body is None:
        raise WhyError(f"pod {namespace}/{name} not found")
    return body


def stuck(run_dir: Path, wait_s: float | None = None) -> dict[str, Any]:
    """Every pod not Running for longer than `wait_s` (default: the environment's CNI
    annotation wait), each with its diagnosis."""
    with Sources(run_dir) as src:
        limit = annotation_wait_s(src.spec) if wait_s is None else wait_s
        try:
            pods = src.pods()
        except Exception as e:
            raise WhyError(f"cannot list pods: {e}") from e
        now = time.time()
        out = [
            first_broken_link(gather(src, p))
            for p in pods
            if is_stuck(pod_facts(p), now, limit) and pod_facts(p)["windows"]
        ]
    return {"wait_s": limit, "count": len(out), "pods": out}


def count_stuck(run_dir: Path) -> tuple[int, float]:
    """(Windows pods stuck, the wait used): cheap, for `ekswin status` (no diagnosis)."""
    with Sources(run_dir) as src:
        limit = annotation_wait_s(src.spec)
        now = time.time()
        facts = [pod_facts(p) for p in src.pods()]
    return sum(1 for f in facts if f["windows"] and is_stuck(f, now, limit)), limit


def render(d: dict[str, Any]) -> str:
    """A diagnosis as text: the verdict line, then each piece of evidence with its source."""
    where = f" on {d['node']}" if d.get("node") else ""
    age = f", {d['age_s']:g} s old" if d.get("age_s") is not None else ""
    head = f"pod {d['pod']}{where}: {d['state']}{age}"
    lines = [head]
    for c in d.get("checked") or []:
        lines.append(f"  ok    {c['link']:<11} {c['note']}")
    if d.get("link"):
        lines.append(f"  BROKEN {d['link']}: {d['reason']}: {d['message']}")
    else:
        lines.append(f"  no broken link: {d['message']}")
    for e in d.get("evidence") or []:
        lines.append(f"    [{e['source']}] {e['detail']}")
    return "\n".join(lines)
