"""Store: the live RocksDB store can be replaced by a checkpoint, atomically and durably."""

from __future__ import annotations

import os

from quorumdb.storage import Write, WriteSet
from quorumdb.storage.store import Store


def test_install_replaces_contents_and_survives_reopen(tmp_path):
    leader = Store(str(tmp_path / "leader"))
    leader.mvcc.apply(WriteSet((Write(b"a", b"1", None), Write(b"b", b"2", None))), 4)
    snap = tmp_path / "leader" / "snap-tmp"
    assert leader.checkpoint(str(snap)) == 4

    follower = Store(str(tmp_path / "follower"))
    follower.mvcc.apply(WriteSet((Write(b"stale", b"x", None),)), 1)
    assert follower.install(str(snap)) == 4
    assert not snap.exists()
    assert list(follower.mvcc.scan(b"", None, 10)) == [(b"a", b"1"), (b"b", b"2")]
    follower.close()

    reopened = Store(str(tmp_path / "follower"))
    assert reopened.mvcc.applied_index == 4
    assert reopened.mvcc.get(b"stale", 10) is None
    assert sorted(os.listdir(tmp_path / "follower")) == ["CURRENT", reopened._live_name]
    reopened.close()
    leader.close()


def test_readers_of_the_old_store_finish_after_install(tmp_path):
    store = Store(str(tmp_path / "s"))
    store.mvcc.apply(WriteSet(tuple(Write(b"k%03d" % i, b"old", None) for i in range(50))), 1)
    other = Store(str(tmp_path / "o"))
    other.mvcc.apply(WriteSet((Write(b"new", b"v", None),)), 9)
    snap = str(tmp_path / "s" / "incoming")
    other.checkpoint(snap)
    reader = store.mvcc.scan(b"", None, 1)
    first = next(reader)
    store.install(snap)
    rest = list(reader)
    assert [first, *rest] == [(b"k%03d" % i, b"old") for i in range(50)]
    assert list(store.mvcc.scan(b"", None, 9)) == [(b"new", b"v")]
    store.close()
    other.close()
