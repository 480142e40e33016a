"""MVCC garbage collection through the SQL path: shadowed versions and dropped tables go,
what a running snapshot can see stays."""

from __future__ import annotations

import asyncio

from quorumdb.sql import keys
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.gc import GarbageCollector
from quorumdb.sql.session import Database, Session
from quorumdb.sql.txn import Transaction
from quorumdb.storage import MVCC, MemoryEngine, keycode


def run(session: Session, sql: str) -> list[list[tuple[object, ...]]]:
    async def go() -> list[list[tuple[object, ...]]]:
        return [list(r.rows) async for r in session.execute(sql)]

    return asyncio.run(go())


def collect(gc: GarbageCollector) -> int:
    return asyncio.run(gc.run_until_done())


def key_range(db: Database, name: str) -> tuple[bytes, bytes]:
    txn = Transaction(db.engine, 0)
    txn.begin_statement()
    found = db.catalogs.current(txn).table(name).key_range
    txn.rollback()
    return found  # type: ignore[no-any-return]


def table_versions(db: Database, name: str) -> int:
    return db.engine.mvcc.count_versions(*key_range(db, name))


DATA = keycode.encode((keys.TABLE_DATA,))  # rows and index entries: up to the counters
DATA_END = keycode.encode((keys.COUNTER,))


def test_gc_removes_shadowed_versions_but_not_what_snapshots_see() -> None:
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0), (2, 0)")
    for _ in range(30):
        run(s, "UPDATE t SET n = n + 1")
    assert table_versions(db, "t") == 62

    reader = db.session()
    run(reader, "BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert run(reader, "SELECT n FROM t ORDER BY id") == [[(30,), (30,)]]
    for _ in range(5):
        run(s, "UPDATE t SET n = n + 1")
    gc = GarbageCollector(db, max_versions=10)
    assert collect(gc) > 1  # several bounded steps
    assert table_versions(db, "t") == 2 + 2 * 5  # the reader's versions and the newer ones
    assert run(reader, "SELECT n FROM t ORDER BY id") == [[(30,), (30,)]]
    run(reader, "COMMIT")

    collect(gc)
    assert table_versions(db, "t") == 2
    assert run(s, "SELECT n FROM t ORDER BY id") == [[(35,), (35,)]]
    assert gc.next_command() is None  # nothing changed since: nothing to do


def test_gc_reclaims_dropped_and_truncated_tables() -> None:
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    mvcc = db.engine.mvcc
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX ON t (v)")
    run(s, "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 50) AS i")
    run(s, "CREATE TABLE u (id int); INSERT INTO u VALUES (1), (2)")
    data = mvcc.count_versions(DATA, DATA_END)
    assert data >= 102  # rows of t and u, index entries of t
    run(s, "TRUNCATE u; DROP TABLE t")
    gc = GarbageCollector(db, max_versions=20)
    collect(gc)
    assert mvcc.count_versions(DATA, DATA_END) == 0
    start, end = keys.RECLAIM_PREFIX, keys.RECLAIM_PREFIX + b"\xff"
    assert mvcc.count_versions(start, end) == 0  # the markers went with their ranges
    run(s, "INSERT INTO u VALUES (3)")
    assert run(s, "SELECT id FROM u") == [[(3,)]]


def test_gc_keeps_what_stale_readers_may_see_for_the_retention_window() -> None:
    """The leader does not know followers' stale-read snapshots: the watermark stays
    at the index it had applied `retention` seconds ago (regression: a follower's
    stale SELECT overlapping the next GC step failed with 72000)."""
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    mvcc = db.engine.mvcc
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)")
    now = [100.0]
    gc = GarbageCollector(db, retention=5.0, clock=lambda: now[0])
    assert gc.watermark() == mvcc.gc_watermark  # nothing seen 5 s ago yet: no progress
    at_start = mvcc.applied_index
    for _ in range(10):
        run(s, "UPDATE t SET n = n + 1")
        now[0] += 1.0
        gc.watermark()
    # 10 s later: the watermark is the index applied 5 s ago, not the newest one.
    assert at_start < gc.watermark() < mvcc.applied_index
    collect(gc)
    assert table_versions(db, "t") > 1  # versions of the last 5 s are kept
    now[0] += 5.0
    collect(gc)
    assert table_versions(db, "t") == 1
    assert run(s, "SELECT n FROM t") == [[(10,)]]


def test_after_a_sweep_gc_collects_only_the_rows_written_since() -> None:
    """GC by key: a step names the updated rows, not the whole table, and goes through
    the Raft command encoding unchanged."""
    from quorumdb.sql.engine.commands import TxnCommand, decode, encode
    from quorumdb.storage import Write, WriteSet

    fresh = TxnCommand(WriteSet((Write(b"k", b"v", None, fresh=True), Write(b"j", b"v", 3))))
    assert decode(encode(fresh)) == fresh

    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, n int)")
    run(s, "INSERT INTO t SELECT g, 0 FROM generate_series(1, 300) g")
    gc = GarbageCollector(db, max_versions=50, max_keys=2)
    collect(gc)
    assert table_versions(db, "t") == 300 and gc.next_command() is None
    run(s, "UPDATE t SET n = n + 1 WHERE id IN (7, 8, 9)")
    run(s, "UPDATE t SET n = n + 1 WHERE id = 9")
    command = gc.next_command()
    assert command is not None and command.keys is not None and len(command.keys) == 2
    assert decode(encode(command)) == command
    steps = 0
    while asyncio.run(gc.step()) is not None:
        steps += 1
    assert steps == 2 and gc.stats.keys == 3  # three rows, two keys per step
    assert table_versions(db, "t") == 300
    assert run(s, "SELECT id, n FROM t WHERE n > 0 ORDER BY id") == [[(7, 1), (8, 1), (9, 2)]]


def test_inserted_rows_leave_gc_nothing_to_look_at() -> None:
    """Rows inserted with a key (found absent) or with a new hidden row id cannot have
    shadowed a version: a bulk load does not fill GC's memory, and so never forces a
    sweep of the whole store."""
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    mvcc = db.engine.mvcc
    s = db.session()
    run(s, "CREATE TABLE keyed (id int PRIMARY KEY, n int); CREATE TABLE heap (n int)")
    run(s, "INSERT INTO keyed SELECT g, g FROM generate_series(1, 200) g")
    run(s, "INSERT INTO heap SELECT g FROM generate_series(1, 200) g")
    ranges = [key_range(db, name) for name in ("keyed", "heap")]

    def in_tables() -> list[bytes]:
        return [k for k in mvcc.dirty_keys() if any(lo <= k < hi for lo, hi in ranges)]

    assert in_tables() == []
    run(s, "UPDATE heap SET n = n + 1 WHERE n <= 3")
    run(s, "DELETE FROM keyed WHERE id = 5")
    assert len(in_tables()) == 4  # what may now hide an older version
