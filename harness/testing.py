"""Builders the tests and the benchmarks share: Pod manifests and boto3 clients for fake_ec2.

Plain data and thin wrappers, no fixtures (pytest fixtures live in
``harness.pytest_plugin`` and the test packages' conftest files).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REGION = "us-west-2"  # the region fake_ec2 runs the pipeline's VPC in
WINDOWS_IMAGE = "mcr.microsoft.com/windows/nanoserver"
WINDOWS_SELECTOR = {"kubernetes.io/os": "windows"}


def pod_manifest(
    name: str,
    *,
    node: str = "",
    image: str = WINDOWS_IMAGE,
    container: str = "c",
    namespace: str = "",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    resources: Mapping[str, str] | None = None,
    ports: Sequence[int] = (),
    grace_s: int | None = None,
) -> dict[str, Any]:
    """A one-container Pod: bound to `node` (``spec.nodeName``, the scheduler skipped),
    else selecting Windows nodes. `resources` go into both requests and limits (as the
    VPC resource controller's webhook injects them); `ports` are container ports;
    `grace_s` is ``terminationGracePeriodSeconds``."""
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = dict(labels)
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    c: dict[str, Any] = {"name": container, "image": image}
    if ports:
        c["ports"] = [{"containerPort": p} for p in ports]
    if resources is not None:
        c["resources"] = {"limits": dict(resources), "requests": dict(resources)}
    spec: dict[str, Any] = {"nodeName": node} if node else {"nodeSelector": dict(WINDOWS_SELECTOR)}
    if grace_s is not None:
        spec["terminationGracePeriodSeconds"] = grace_s
    spec["containers"] = [c]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def ec2_client(url: str, *, region: str = REGION, single_attempt: bool = False) -> Any:
    """A boto3 EC2 client for fake_ec2 at `url` (``harness.nodes.ec2.ec2_client``);
    `single_attempt` turns botocore's retries off, so a test sees every error."""
    from harness.nodes.ec2 import ec2_client as build

    return build(url, region, max_attempts=1 if single_attempt else None)


def run_ekswin(tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`ekswin ARGS` as a user runs it: a subprocess whose state dir and kubeconfig live
    under `tmp` (so tests never touch the user's), the backend from the arguments."""
    env = {**os.environ, "EKSWIN_STATE_DIR": str(tmp / "state"), "KUBECONFIG": str(tmp / "kc")}
    env.pop("EKSWIN_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@contextlib.contextmanager
def detached_environment(tmp: Path, name: str, spec_yaml: str) -> Iterator[Path]:
    """`ekswin up --detach -f` of `spec_yaml` under `tmp` for the block, then `down`."""
    (tmp / "spec.yaml").write_text(spec_yaml)
    r = run_ekswin(
        tmp, "up", "--detach", "--name", name, "--no-merge", "-f", str(tmp / "spec.yaml")
    )
    assert r.returncode == 0, r.stderr
    try:
        yield tmp
    finally:
        run_ekswin(tmp, "down", "--name", name)
