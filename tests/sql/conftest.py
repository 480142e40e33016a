"""Fixtures for the golden SQL scripts: a throwaway PostgreSQL 15 to compare with.

`postgres_dsn` is session-scoped: `QUORUMDB_PG_DSN` if set (a server the
tests may create and drop databases on), otherwise a PostgreSQL started from
the installed binaries with `bench.postgres.throwaway_postgres` (fsync off:
nothing it holds outlives the run). Without either the comparison tests are
skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.append(ROOT)  # the repository's `bench` package


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    dsn = os.environ.get("QUORUMDB_PG_DSN")
    if dsn:
        yield dsn
        return
    from bench.postgres import PG_BIN, PostgresSettings, throwaway_postgres

    if not (PG_BIN / "postgres").exists():
        pytest.skip("PostgreSQL 15 is not installed and QUORUMDB_PG_DSN is not set")
    settings = PostgresSettings(fsync=False, synchronous_commit=False)
    with throwaway_postgres(settings=settings) as server:
        yield server.dsn
