"""Binary lookup order: EKSWIN_K8S_BIN, KUBEBUILDER_ASSETS, PATH, cache — each binary alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.binaries import CONTROL_PLANE, MissingBinaries, resolve, resolve_all


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {k: tmp_path / k for k in ("own", "envtest", "path", "home")}


def _env(d: dict[str, Path]) -> dict[str, str]:
    return {
        "EKSWIN_K8S_BIN": str(d["own"]),
        "KUBEBUILDER_ASSETS": str(d["envtest"]),
        "PATH": str(d["path"]),
        "HOME": str(d["home"]),
    }


def test_each_binary_resolved_on_its_own_in_order(dirs: dict[str, Path]) -> None:
    cache = dirs["home"] / ".cache" / "ekswin" / "bin"
    _exe(dirs["own"] / "kube-scheduler")
    _exe(dirs["envtest"] / "kube-apiserver")
    _exe(dirs["envtest"] / "etcd")
    _exe(dirs["path"] / "etcd")  # shadowed by envtest
    _exe(dirs["path"] / "kube-controller-manager")
    _exe(cache / "kube-controller-manager")  # shadowed by PATH
    _exe(cache / "kube-scheduler")  # shadowed by EKSWIN_K8S_BIN
    found = resolve_all(env=_env(dirs))
    assert {n: r.source for n, r in found.items()} == {
        "etcd": "KUBEBUILDER_ASSETS",
        "kube-apiserver": "KUBEBUILDER_ASSETS",
        "kube-controller-manager": "PATH",
        "kube-scheduler": "EKSWIN_K8S_BIN",
    }
    assert found["etcd"].path == dirs["envtest"] / "etcd"


def test_cache_is_last_resort_and_respects_xdg(dirs: dict[str, Path], tmp_path: Path) -> None:
    env = _env(dirs)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    _exe(tmp_path / "xdg" / "ekswin" / "bin" / "etcd")
    r = resolve("etcd", env)
    assert r is not None and r.source == "cache"


def test_non_executable_is_skipped(dirs: dict[str, Path]) -> None:
    (dirs["own"]).mkdir(parents=True)
    (dirs["own"] / "etcd").write_text("not executable")
    _exe(dirs["path"] / "etcd")
    r = resolve("etcd", _env(dirs))
    assert r is not None and r.source == "PATH"


def test_missing_names_every_absent_binary(dirs: dict[str, Path]) -> None:
    _exe(dirs["path"] / "etcd")
    with pytest.raises(MissingBinaries) as err:
        resolve_all(env=_env(dirs))
    assert err.value.missing == [b for b in CONTROL_PLANE if b != "etcd"]
    assert "kube-apiserver" in str(err.value) and "KUBEBUILDER_ASSETS" in str(err.value)
