"""Regenerate the Python code for proto/*.proto (or check that it is current).

    python -m quorumdb.proto.generate          # rewrite proto/*_pb2*.py
    python -m quorumdb.proto.generate --check  # exit 1 if the committed code is stale

The .proto files are compiled as `quorumdb/proto/<name>.proto`, so the
generated modules import each other as `quorumdb.proto.<name>_pb2`.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(out_dir: str) -> list[str]:
    from grpc_tools import protoc  # test/dev dependency only

    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "quorumdb", "proto")
        os.makedirs(pkg)
        names = sorted(n for n in os.listdir(HERE) if n.endswith(".proto"))
        for name in names:
            shutil.copy(os.path.join(HERE, name), pkg)
        include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = [
            "protoc",
            f"-I{tmp}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
        ] + [f"quorumdb/proto/{n}" for n in names]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        produced = []
        for name in sorted(os.listdir(pkg)):
            if name.endswith((".py", ".pyi")):
                shutil.copy(os.path.join(pkg, name), os.path.join(out_dir, name))
                produced.append(name)
        return produced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args()
    if not args.check:
        for name in generate(HERE):
            print(f"wrote proto/{name}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [n for n in generate(tmp) if not filecmp.cmp(
            os.path.join(tmp, n), os.path.join(HERE, n), shallow=False
        ) if os.path.exists(os.path.join(HERE, n))]
        missing = [n for n in os.listdir(tmp) if not os.path.exists(os.path.join(HERE, n))]
    if stale or missing:
        print(f"generated code is stale: {stale + missing}; run `make proto`", file=sys.stderr)
        return 1
    print("generated code is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
