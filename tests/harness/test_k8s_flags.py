"""Control-plane flags per Kubernetes version, checked against the flags each version's
`--help` lists: 1.20's lists are checked in (data/k8s-help, from Debian's 1.20.2 build);
the binaries this machine resolves are asked directly (a current release in the
`local-current` CI job)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from harness.backends.local import LocalCluster
from harness.backends.versions import (
    REMOVED,
    binary_help_flags,
    help_flags,
    parse_version,
    supported,
)
from harness.binaries import MissingBinaries, Resolved, resolve_all

DATA = Path(__file__).parent / "data" / "k8s-help"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
PORTS = {"etcd": 1, "etcd_peer": 2, "apiserver": 3, "kcm": 4, "sched": 5}


def _fake_binary(tmp_path: Path, name: str, version: str) -> Resolved:
    """An executable that answers --version like the real one (argv is only built)."""
    path = tmp_path / version / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'Kubernetes {version}'\n")
    path.chmod(0o755)
    return Resolved(name, path, "EKSWIN_K8S_BIN")


def argv_for(cluster: LocalCluster, component: str, binary: Resolved) -> list[str]:
    ctx = ssl.create_default_context()
    if component == "kube-apiserver":
        return cluster._apiserver(binary, PORTS, ctx).argv
    if component == "kube-controller-manager":
        return cluster._kcm(binary, PORTS, ctx).argv
    return cluster._scheduler(binary, PORTS, ctx).argv


def names(argv: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in argv[1:]}


def test_parse_version() -> None:
    assert parse_version("Kubernetes v1.20.2") == (1, 20)
    assert parse_version("Kubernetes v1.31.0-rc.1") == (1, 31)
    with pytest.raises(ValueError, match="no Kubernetes version"):
        parse_version("etcd Version: 3.4.23")


def test_help_flags_parse_the_real_help_format() -> None:
    flags = help_flags((DATA / "kube-scheduler-1.20.txt").read_text())
    assert {"--port", "--secure-port", "--kubeconfig", "--leader-elect"} <= flags
    assert "--insecure-port" not in help_flags((DATA / "kube-apiserver-1.20.txt").read_text())


@pytest.mark.parametrize("component", COMPONENTS)
def test_flags_for_1_20_are_all_in_its_help(component: str, tmp_path: Path) -> None:
    listed = help_flags((DATA / f"{component}-1.20.txt").read_text())
    cluster = LocalCluster(tmp_path / "run")
    argv = argv_for(cluster, component, _fake_binary(tmp_path, component, "v1.20.2"))
    assert names(argv) <= listed, names(argv) - listed
    if component != "kube-apiserver":
        assert "--port" in names(argv)  # 1.20 still serves insecure HTTP unless told not to


@pytest.mark.parametrize("component", COMPONENTS)
def test_flags_removed_by_1_24_are_not_passed_to_current_releases(
    component: str, tmp_path: Path
) -> None:
    cluster = LocalCluster(tmp_path / "run")
    argv = argv_for(cluster, component, _fake_binary(tmp_path, component, "v1.31.0"))
    assert not names(argv) & set(REMOVED[component]), argv
    assert "--secure-port" in names(argv)


def test_supported_keeps_flags_until_their_removal() -> None:
    flags = ["--port=0", "--secure-port=1"]
    assert supported("kube-scheduler", flags, (1, 23)) == flags
    assert supported("kube-scheduler", flags, (1, 24)) == ["--secure-port=1"]
    assert supported("etcd", flags, (3, 5)) == flags


def test_flags_for_the_resolved_binaries_are_in_their_help(tmp_path: Path) -> None:
    try:
        bins = resolve_all()
    except MissingBinaries as e:
        pytest.skip(str(e))
    cluster = LocalCluster(tmp_path / "run")
    for component in COMPONENTS:
        listed = binary_help_flags(bins[component].path)
        argv = argv_for(cluster, component, bins[component])
        assert names(argv) <= listed, f"{component}: {sorted(names(argv) - listed)}"
