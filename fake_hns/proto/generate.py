"""Regenerate ``hns_pb2.py``, ``hns_pb2.pyi`` and ``hns_pb2_grpc.py`` from ``hns.proto``.

``python -m fake_hns.proto.generate`` writes them next to the proto;
``--check`` only reports (exit 1) when the committed files are stale.
The proto is compiled with the repository root as include path, so the generated
import reads ``from fake_hns.proto import hns_pb2`` and works when installed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent.parent
PROTO_REL = "fake_hns/proto/hns.proto"
GENERATED = ("hns_pb2.py", "hns_pb2.pyi", "hns_pb2_grpc.py")


def generate_into(out_dir: Path) -> dict[str, bytes]:
    """Compile the proto into ``out_dir``; return {file name: content} of the outputs."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(ROOT / PROTO_REL),
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}: {' '.join(args)}")
    target = out_dir / "fake_hns" / "proto"
    return {name: (target / name).read_bytes() for name in GENERATED}


def stale_files() -> list[str]:
    """Names of generated files that differ from a fresh compile (empty: up to date)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate_into(Path(tmp))
    stale = []
    for name, content in fresh.items():
        path = PROTO_DIR / name
        if not path.exists() or path.read_bytes() != content:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    """Regenerate (default) or check (``--check``) the generated files."""
    parser = argparse.ArgumentParser(prog="python -m fake_hns.proto.generate")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"stale: fake_hns/proto/{name}")
        return 1 if stale else 0
    with tempfile.TemporaryDirectory() as tmp:
        generate_into(Path(tmp))
        for name in GENERATED:
            shutil.copyfile(Path(tmp) / "fake_hns" / "proto" / name, PROTO_DIR / name)
            print(f"wrote fake_hns/proto/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
