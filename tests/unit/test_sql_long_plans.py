"""Which plans the client session streams from a worker thread (`client.is_long`):
anything that scans, sorts, joins or sleeps; not a point lookup or a constant."""

from __future__ import annotations

import asyncio

import pytest

from quorumdb.sql import client
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database
from quorumdb.storage import MVCC, MemoryEngine


@pytest.fixture
def session() -> ClientSession:
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    s = ClientSession(db, user="postgres", database="postgres")
    run(s, "CREATE TABLE a (aid int PRIMARY KEY, bid int, abalance int)")
    return s


def run(s: ClientSession, sql: str) -> None:
    async def go() -> None:
        async for result in s.execute(sql):
            list(result.rows)

    asyncio.run(go())


def verdict(s: ClientSession, sql: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    seen: list[bool] = []
    judge = client.is_long
    monkeypatch.setattr(client, "is_long", lambda plan: seen.append(judge(plan)) or seen[-1])
    run(s, sql)
    monkeypatch.setattr(client, "is_long", judge)
    assert len(seen) == 1, sql
    return seen[0]


@pytest.mark.parametrize(
    ("sql", "long"),
    [
        ("SELECT abalance FROM a WHERE aid = 5", False),
        ("SELECT 1 + 2, 'x' || 'y'", False),
        ("SELECT aid FROM a WHERE aid = 5 AND bid > 1 LIMIT 1", False),
        ("SELECT abalance FROM a", True),  # a scan
        ("SELECT aid FROM a WHERE aid = 5 ORDER BY bid", True),  # a sort
        ("SELECT pg_sleep(0)", True),  # a call that may take long, in a bounded plan
        ("SELECT abalance FROM a WHERE aid = (SELECT max(aid) FROM a)", True),  # a subplan
        ("SELECT n FROM generate_series(1, 3) AS n", True),
    ],
)
def test_long_plans(
    session: ClientSession, sql: str, long: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert verdict(session, sql, monkeypatch) is long
