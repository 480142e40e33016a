"""MVCC on both KV engines: snapshot reads, validated writes, idempotent apply, GC."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.storage import MVCC, MemoryEngine, ReadRange, RocksEngine, Write, WriteSet
from quorumdb.storage.errors import SerializationFailure
from quorumdb.storage.mvcc import ReclaimRange


@pytest.fixture(params=["memory", "rocksdb"])
def mvcc(request, tmp_path):
    if request.param == "memory":
        engine = MemoryEngine()
    else:
        engine = RocksEngine(str(tmp_path / "db"))
    yield MVCC(engine)
    engine.close()


def put(key, value, expect=None):
    return Write(key, value, expect)


def test_snapshot_reads_see_versions_as_of_their_timestamp(mvcc):
    mvcc.apply(WriteSet((put(b"a", b"1"), put(b"b", b"1"))), 1)
    mvcc.apply(WriteSet((put(b"a", b"2"),)), 2)
    mvcc.apply(WriteSet((Write(b"b", None, None),)), 3)
    assert mvcc.get(b"a", 0) is None
    assert mvcc.get(b"a", 1) == b"1"
    assert mvcc.get(b"a", 2) == b"2"
    assert mvcc.get(b"b", 2) == b"1"
    assert mvcc.get(b"b", 3) is None
    assert list(mvcc.scan(b"", None, 1)) == [(b"a", b"1"), (b"b", b"1")]
    assert list(mvcc.scan(b"", None, 3)) == [(b"a", b"2")]
    assert list(mvcc.scan(b"", None, 2, reverse=True)) == [(b"b", b"1"), (b"a", b"2")]
    assert mvcc.applied_index == 3


def test_keys_that_are_prefixes_of_each_other_scan_in_order(mvcc):
    keys = [b"a", b"a\x00", b"a\x00\x00", b"a\x01", b"ab", b"\x00"]
    mvcc.apply(WriteSet(tuple(put(k, k) for k in keys)), 1)
    mvcc.apply(WriteSet(tuple(put(k, k + b"!") for k in keys[::2])), 2)
    got = list(mvcc.scan(b"", None, 2))
    assert [k for k, _ in got] == sorted(keys)
    assert list(mvcc.scan(b"a", b"a\x01", 1)) == [(b"a", b"a"), (b"a\x00", b"a\x00"), (b"a\x00\x00", b"a\x00\x00")]
    assert [k for k, _ in mvcc.scan(b"", None, 2, reverse=True)] == sorted(keys, reverse=True)


def test_expected_version_mismatch_fails_and_still_advances(mvcc):
    mvcc.apply(WriteSet((put(b"k", b"1", 0),)), 1)
    with pytest.raises(SerializationFailure):
        mvcc.apply(WriteSet((put(b"k", b"2", 0),)), 2)
    assert mvcc.applied_index == 2
    assert mvcc.get(b"k", 5) == b"1"
    mvcc.apply(WriteSet((put(b"k", b"3", 1),)), 3)
    assert mvcc.get(b"k", 5) == b"3"


def test_replaying_an_applied_index_is_a_noop(mvcc):
    mvcc.apply(WriteSet((put(b"k", b"1"),)), 5)
    outcome = mvcc.apply(WriteSet((put(b"k", b"other"),)), 5)
    assert not outcome.applied
    assert mvcc.get(b"k", 10) == b"1"


def test_read_ranges_detect_writes_after_the_read(mvcc):
    mvcc.apply(WriteSet((put(b"a1", b"x"),)), 1)
    mvcc.apply(WriteSet((put(b"a2", b"y"),)), 2)
    with pytest.raises(SerializationFailure):
        mvcc.apply(WriteSet((put(b"b", b"1"),), (ReadRange(b"a", b"b", 1),)), 3)
    mvcc.apply(WriteSet((put(b"b", b"1"),), (ReadRange(b"a", b"b", 3),)), 4)
    assert mvcc.get(b"b", 4) == b"1"


def test_applied_index_survives_reopen(tmp_path):
    engine = RocksEngine(str(tmp_path / "db"))
    MVCC(engine).apply(WriteSet((put(b"k", b"v"),)), 7)
    engine.close()
    engine = RocksEngine(str(tmp_path / "db"))
    reopened = MVCC(engine)
    assert reopened.applied_index == 7
    assert reopened.get(b"k", 7) == b"v"
    engine.close()


def test_gc_keeps_what_readers_at_the_watermark_see(mvcc):
    for ts in range(1, 6):
        mvcc.apply(WriteSet((put(b"k", b"%d" % ts), put(b"d%d" % ts, b"x"))), ts)
    mvcc.apply(WriteSet((Write(b"d1", None, None),)), 6)
    before = {ts: list(mvcc.scan(b"", None, ts)) for ts in range(4, 7)}
    removed = mvcc.gc(4, 7).removed
    assert removed == 3  # k@1..3 are shadowed by k@4; d1's deletion at 6 is above the watermark
    for ts in range(4, 7):
        assert list(mvcc.scan(b"", None, ts)) == before[ts]
    mvcc.gc(6, 8)
    assert mvcc.get(b"d1", 6) is None and mvcc.latest_ts(b"d1") == 0
    assert mvcc.gc_watermark == 6


def test_gc_in_bounded_steps_covers_every_key_once_per_sweep(mvcc):
    keys = [b"k%02d" % i for i in range(20)]
    for ts in range(1, 4):
        mvcc.apply(WriteSet(tuple(put(k, b"%d" % ts) for k in keys)), ts)
    before = list(mvcc.scan(b"", None, 3))
    index, start, steps, removed = 4, b"", 0, 0
    while True:
        outcome = mvcc.gc(3, index, start=start, max_versions=7)
        assert outcome.next_start == mvcc.gc_cursor
        removed += outcome.removed
        index, start, steps = index + 1, outcome.next_start, steps + 1
        if not start:
            break
    assert removed == 40 and steps == 7  # 60 versions; keys are never split: 3 keys per step
    assert list(mvcc.scan(b"", None, 3)) == before
    assert mvcc.count_versions() == 20


def test_gc_reclaims_a_range_and_its_marker_at_once(mvcc):
    rows = tuple(put(b"t%02d" % i, b"row") for i in range(10))
    mvcc.apply(WriteSet((*rows, put(b"keep", b"x"))), 1)
    mvcc.apply(WriteSet((put(b"t05", b"again"), put(b"marker", b"t"))), 2)
    reclaim = (ReclaimRange(b"t", b"u", b"marker"),)
    outcome = mvcc.gc(2, 3, max_versions=4, reclaim=reclaim)
    assert outcome.reclaimed == (b"marker",)
    assert list(mvcc.scan(b"", None, 10)) == [(b"keep", b"x")]
    assert mvcc.latest_ts(b"marker") == 0


# Batches of writes (None: delete) to a few keys, one batch per timestamp.
BATCHES = st.lists(
    st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"a\x00"]), st.one_of(st.none(), st.binary(max_size=3))), min_size=1, max_size=4),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(BATCHES)
def test_scan_matches_a_model(batches):
    mvcc = MVCC(MemoryEngine())
    model: dict[int, dict[bytes, bytes]] = {0: {}}
    state: dict[bytes, bytes] = {}
    for ts, batch in enumerate(batches, start=1):
        last = dict(batch)
        mvcc.apply(WriteSet(tuple(Write(k, v, None) for k, v in last.items())), ts)
        for k, v in last.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        model[ts] = dict(state)
    for ts, expected in model.items():
        assert list(mvcc.scan(b"", None, ts)) == sorted(expected.items())
        assert list(mvcc.scan(b"", None, ts, reverse=True)) == sorted(expected.items(), reverse=True)
        for k in (b"a", b"b", b"c", b"a\x00"):
            assert mvcc.get(k, ts) == expected.get(k)


def test_gc_by_key_collects_only_the_named_keys_and_keeps_the_sweep_cursor(mvcc):
    for ts in range(1, 4):
        mvcc.apply(WriteSet((put(b"a", b"%d" % ts), put(b"b", b"%d" % ts))), ts)
    mvcc.gc(3, 4, max_versions=2)  # a sweep that stops after a: the cursor is at b
    cursor = mvcc.gc_cursor
    assert cursor and mvcc.count_versions(b"a", b"b") == 1
    mvcc.apply(WriteSet((put(b"a", b"4"), put(b"c", b"1", expect=0))), 5)
    outcome = mvcc.gc(5, 6, keys=[b"a"])
    assert outcome.removed == 1 and mvcc.gc_cursor == cursor
    assert mvcc.count_versions(b"a", b"b") == 1
    assert mvcc.count_versions(b"b", b"c") == 3  # not named: untouched
    assert mvcc.get(b"a", 6) == b"4" and mvcc.get(b"b", 6) == b"3"


def test_dirty_keys_name_what_may_hold_an_older_version(mvcc):
    assert mvcc.dirty_complete  # an empty store: nothing can have been forgotten
    mvcc.apply(WriteSet((put(b"new", b"1", expect=0), put(b"blind", b"1"))), 1)
    mvcc.apply(WriteSet((put(b"new", b"2", expect=1),)), 2)
    mvcc.apply(WriteSet((Write(b"gone", None, 0), put(b"x", b"1", expect=0))), 3)
    mvcc.apply(WriteSet((Write(b"f", b"1", None, fresh=True),)), 4)
    assert mvcc.dirty_keys() == [b"blind", b"gone", b"new"]  # an insert (expect 0) is not,
    # nor a fresh write (unless it deletes: the tombstone is for GC to remove)
    assert mvcc.dirty_keys(2) == [b"blind", b"new"]  # last written at or below 2
    assert mvcc.dirty_keys(3, limit=1) == [b"blind"]
    failed = mvcc.apply_many([WriteSet((put(b"x", b"2", expect=0),))], 5)
    assert failed is not None and failed[0] is not None
    assert b"x" not in mvcc.dirty_keys()  # a rejected write set leaves nothing
    mvcc.gc(3, 6, keys=mvcc.dirty_keys(2))
    assert mvcc.dirty_keys() == [b"gone"]  # collected below the watermark: forgotten
    assert mvcc.count_versions() == 5  # blind, new, gone (a deletion at 3), x, f
    mvcc.apply(WriteSet((Write(b"f", None, None, fresh=True),)), 7)
    assert mvcc.dirty_keys() == [b"f", b"gone"]


def test_dirty_keys_forgotten_on_overflow_and_reload_until_a_full_sweep(mvcc, monkeypatch):
    from quorumdb.storage import mvcc as mvcc_module

    monkeypatch.setattr(mvcc_module, "MAX_DIRTY_KEYS", 3)
    mvcc.apply(WriteSet(tuple(put(b"k%d" % i, b"1") for i in range(4))), 1)
    assert not mvcc.dirty_complete and mvcc.dirty_keys() == []
    mvcc.gc(1, 2, max_versions=2)  # a sweep begins
    assert mvcc.dirty_complete
    mvcc.apply(WriteSet((put(b"k0", b"2"),)), 3)
    mvcc.reload()
    assert not mvcc.dirty_complete and mvcc.dirty_keys() == []
    reopened = MVCC(mvcc.engine)  # a restart: the store has data, the memory is empty
    assert not reopened.dirty_complete


def test_a_finished_sweep_forgets_the_keys_it_collected(mvcc):
    for ts in (1, 2):
        mvcc.apply(WriteSet((put(b"a", b"%d" % ts), put(b"b", b"%d" % ts))), ts)
    index, start = 3, b""
    while True:
        start = mvcc.gc(2, index, start=start, max_versions=1).next_start
        index += 1
        mvcc.apply(WriteSet((put(b"late", b"%d" % index),)), index)  # written during the sweep
        index += 1
        if not start:
            break
    assert mvcc.dirty_keys() == [b"late"]


@settings(max_examples=40, deadline=None)
@given(BATCHES, st.integers(min_value=0, max_value=8))
def test_gc_of_every_dirty_key_equals_a_sweep(batches, watermark):
    """Collecting by key what `dirty_keys` names removes exactly what a full sweep does."""
    by_key, swept = MVCC(MemoryEngine()), MVCC(MemoryEngine())
    for ts, batch in enumerate(batches, start=1):
        writes = []
        for k, v in dict(batch).items():
            latest = by_key.latest_ts(k)
            writes.append(Write(k, v, latest))  # expect 0 for a key never written
        for store in (by_key, swept):
            store.apply(WriteSet(tuple(writes)), ts)
    index = len(batches) + 1
    watermark = min(watermark, len(batches))
    by_key.gc(watermark, index, keys=by_key.dirty_keys())
    swept.gc(watermark, index)
    versions = b"\x01", b"\x02"  # the physical version space, without the metadata
    assert list(by_key.engine.scan(*versions)) == list(swept.engine.scan(*versions))
