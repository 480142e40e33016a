"""Golden SQL scripts, run on the in-memory store and on RocksDB (see sqlscript.py).

UPDATE_GOLDEN=1 rewrites the expected output of every script (from the
in-memory run; the RocksDB run must then agree). `test_golden_matches_postgres`
also runs each script on a real PostgreSQL 15 (a throwaway server, or the one
QUORUMDB_PG_DSN names; see conftest.py) and compares the output, plans and
writes excluded, as are blocks marked ``# postgres: differs -- reason``.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import uuid
from pathlib import Path

import pytest
from backends import PostgresBackend, QuorumBackend
from sqlscript import Script, run_script

SCRIPTS = sorted((Path(__file__).parent / "scripts").glob("*.test"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _diff(expected: str, actual: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            str(path),
            "actual",
        )
    )


@pytest.mark.parametrize("engine", ["memory", "rocksdb", "client"])
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_golden(path: Path, engine: str, tmp_path: Path) -> None:
    """`client`: in memory, with the wire server's sessions (numbers as template parameters)."""
    script = Script.load(path)
    if engine == "client":
        backend = QuorumBackend("memory", client=True)
    else:
        backend = QuorumBackend(engine, str(tmp_path / "db"))

    async def run():  # type: ignore[no-untyped-def]
        try:
            return await run_script(script, backend)
        finally:
            await backend.close()

    outputs, problems = asyncio.run(run())
    actual = script.render(outputs)
    expected = path.read_text()
    if UPDATE and engine == "memory" and actual != expected:
        path.write_text(actual)
        expected = actual
    assert not problems, "\n".join(f"{path.name}:{p.line}: {p.message}" for p in problems)
    assert actual == expected, _diff(expected, actual, path)


@pytest.mark.postgres
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_golden_matches_postgres(path: Path, postgres_dsn: str) -> None:
    script = Script.load(path)
    if script.postgres_skip:
        pytest.skip("script marked '# postgres: skip'")
    dsn = postgres_dsn
    name = f"golden_{uuid.uuid4().hex[:12]}"
    admin = PostgresBackend(dsn)

    async def run():  # type: ignore[no-untyped-def]
        await admin.run("", f"CREATE DATABASE {name}")
        postgres = PostgresBackend(f"{dsn} dbname={name}")
        ours = QuorumBackend("memory")
        try:
            theirs, _ = await run_script(script, postgres, tags=False, notices_first=True)
            mine, _ = await run_script(script, ours, tags=False, notices_first=True)
            return theirs, mine
        finally:
            await postgres.close()
            await ours.close()
            await admin.run("", f"DROP DATABASE {name}")
            await admin.close()

    theirs, mine = asyncio.run(run())
    expected, actual = script.render(theirs, True), script.render(mine, True)
    assert actual == expected, _diff(expected, actual, path)
