"""A replica's stale read must never see a half-collected state (found by the chaos suite).

The leader proposes MVCC garbage collection with a watermark below every
snapshot *it* knows; a replica serving stale reads applies the same steps
while its own statements run at older snapshots. A statement overtaken by a
GC step whose watermark passed its snapshot may have lost versions it needs:
it must fail with 72000 ("snapshot too old"), not answer from what is left.

The chaos run that found it (tests/chaos/regressions/
joining-replica-stale-read-during-gc-bank.jsonl): a node added to the
cluster served stale reads while catching up, and a bank read saw the
accounts table with no rows - the table's definition read before a GC
entry was applied, its rows after.
"""

from __future__ import annotations

import pytest

from quorumdb.sql.engine import ReadConsistency
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import QuorumError
from quorumdb.sql.txn import Transaction
from quorumdb.storage import MVCC, MemoryEngine, Write, WriteSet


@pytest.fixture
def engine() -> LocalEngine:
    e = LocalEngine(MVCC(MemoryEngine()), sync=False)
    e.mvcc.apply(WriteSet((Write(b"a", b"1", None), Write(b"b", b"1", None))), 1)
    return e


def stale_statement(engine: LocalEngine) -> Transaction:
    t = Transaction(engine, 1)
    t.consistency = ReadConsistency.STALE
    t.begin_statement()
    assert t.read_ts == 1
    return t


def collect_past(engine: LocalEngine, read_ts: int) -> None:
    """What the replica applies meanwhile: newer versions, then a GC step above read_ts."""
    mvcc = engine.mvcc
    mvcc.apply(WriteSet((Write(b"a", b"2", None), Write(b"b", b"2", None))), read_ts + 1)
    mvcc.gc(read_ts + 1, read_ts + 2)
    assert mvcc.gc_watermark > read_ts


def test_a_scan_started_after_the_gc_fails_instead_of_returning_nothing(engine):
    t = stale_statement(engine)
    collect_past(engine, t.read_ts)
    with pytest.raises(QuorumError) as caught:
        list(t.scan(b"", None))
    assert caught.value.sqlstate == "72000"


def test_a_point_read_after_the_gc_fails(engine):
    t = stale_statement(engine)
    collect_past(engine, t.read_ts)
    for read in (t.get, t.get_latest):
        with pytest.raises(QuorumError) as caught:
            read(b"a")
        assert caught.value.sqlstate == "72000"


def test_a_scan_overtaken_half_way_fails(engine):
    t = stale_statement(engine)
    rows = t.scan(b"", None)
    assert next(rows) == (b"a", b"1")
    collect_past(engine, t.read_ts)
    with pytest.raises(QuorumError) as caught:
        list(rows)
    assert caught.value.sqlstate == "72000"


def test_reads_at_or_above_the_watermark_are_unaffected(engine):
    t = stale_statement(engine)
    engine.mvcc.gc(1, 2)  # watermark 1: everything visible at 1 stays
    assert t.get(b"a") == b"1"
    assert list(t.scan(b"", None)) == [(b"a", b"1"), (b"b", b"1")]
