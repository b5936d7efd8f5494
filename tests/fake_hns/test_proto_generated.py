"""The committed generated code matches a fresh grpc_tools.protoc run of hns.proto."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fake_hns.proto import generate


def test_generated_files_are_current() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate.generate_into(Path(tmp))
    assert set(fresh) == {"hns_pb2.py", "hns_pb2.pyi", "hns_pb2_grpc.py"}
    stale = [
        name
        for name, content in fresh.items()
        if (generate.PROTO_DIR / name).read_bytes() != content
    ]
    assert stale == [], (
        f"stale generated files {stale}: run `python -m fake_hns.proto.generate` and commit"
    )


def test_stale_check_detects_a_difference(tmp_path: Path, monkeypatch: object) -> None:
    # point the checker at a copy with one file altered: it must report that file
    for name in generate.GENERATED:
        (tmp_path / name).write_bytes((generate.PROTO_DIR / name).read_bytes())
    (tmp_path / "hns_pb2_grpc.py").write_text("# edited by hand\n")
    monkeypatch.setattr(generate, "PROTO_DIR", tmp_path)  # type: ignore[attr-defined]
    assert generate.stale_files() == ["hns_pb2_grpc.py"]


def test_generated_import_path_is_the_package() -> None:
    text = (generate.PROTO_DIR / "hns_pb2_grpc.py").read_text()
    assert "from fake_hns.proto import hns_pb2" in text
    assert "\nimport hns_pb2" not in text
    from fake_hns.proto import hns_pb2

    assert hns_pb2.DESCRIPTOR.package == "ekswin.hns.v1"
    assert "HostNetworkService" in hns_pb2.DESCRIPTOR.services_by_name
