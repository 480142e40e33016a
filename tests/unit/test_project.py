"""Project hygiene that CI enforces: lint, generated code, packaging."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ruff_is_clean():
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_generated_protobuf_code_is_current():
    out = subprocess.run(
        [sys.executable, "-m", "quorumdb.proto.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_python_package_is_installed():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    mapped = set(project["tool"]["setuptools"]["package-dir"].values())
    for top in ("storage", "raft", "sql", "node", "proto", "cluster-cli"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if "__init__.py" in files and "__pycache__" not in dirpath:
                rel = os.path.relpath(dirpath, ROOT)
                assert rel in mapped, f"{rel} is a package but missing from pyproject.toml"
