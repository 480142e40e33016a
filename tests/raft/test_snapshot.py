"""SnapshotStore: background snapshots, chunked transfer, crash leftovers, install rules."""

from __future__ import annotations

import os

from support import wait_until

from quorumdb.raft.snapshot import SnapshotMeta, SnapshotStore, clone_tree

from .kvsm import KVStateMachine


def entry(i: int, term: int = 1) -> tuple[bytes, int, int]:
    return (f"cmd{i}".encode(), i, term)


def filled(path: str, n: int) -> KVStateMachine:
    sm = KVStateMachine(path)
    for i in range(sm.applied_index() + 1, n + 1):
        sm.apply(i, f"set k{i} {'v' * (i % 50)}".encode())
    return sm


def take(store: SnapshotStore, last: int) -> SnapshotMeta:
    assert store.take(entry(last), entry(last - 1), ("a:1", "b:2"), min_index=last)
    state, meta = wait_until(lambda: (r := store.poll())[0] != "running" and r, message="snapshot")
    assert state == "done" and meta is not None
    return meta


def transfer(src: SnapshotStore, dst: SnapshotStore, peer: str = "p") -> int:
    chunks = 0
    while True:
        chunk = src.next_chunk(peer)
        assert chunk is not None
        chunks += 1
        if dst.receive(*chunk):
            assert chunk[2]  # complete exactly on the last chunk
            return chunks
        assert not chunk[2]


def test_take_publish_and_reload(tmp_path):
    sm = filled(str(tmp_path / "sm"), 100)
    store = SnapshotStore(str(tmp_path / "snaps"), sm, chunk_bytes=1024)
    assert store.current() is None and store.poll() == ("idle", None)
    meta = take(store, 100)
    assert meta.index == 100 and meta.last == entry(100) and meta.members == ("a:1", "b:2")
    assert store.current() is meta and os.path.isfile(store.current_path)
    reloaded = SnapshotStore(str(tmp_path / "snaps"), sm)
    assert reloaded.current() == meta
    sm.close()


def test_a_snapshot_streams_in_chunks_and_installs_only_when_behind(tmp_path):
    leader_sm = filled(str(tmp_path / "leader_sm"), 300)
    leader = SnapshotStore(str(tmp_path / "leader"), leader_sm, chunk_bytes=512)
    meta = take(leader, 300)
    follower_sm = filled(str(tmp_path / "follower_sm"), 10)
    follower = SnapshotStore(str(tmp_path / "follower"), follower_sm)
    assert transfer(leader, follower) > 3
    received = follower.take_received()
    assert received == meta and follower.take_received() is None
    assert follower.restore_if_behind(received)
    assert follower_sm.applied_index() == 300 and follower_sm.digest() == leader_sm.digest()
    # the state machine consumed its clone; the snapshot itself is intact
    assert os.path.isdir(follower.directory(received))
    assert [n for n in os.listdir(str(tmp_path / "follower")) if n.startswith("restore-")] == []
    assert not follower.restore_if_behind(received)  # already there: never replaced again
    ahead_sm = filled(str(tmp_path / "ahead_sm"), 400)
    ahead = SnapshotStore(str(tmp_path / "ahead"), ahead_sm)
    assert not ahead.restore_if_behind(meta)  # a local state ahead of the snapshot stays
    assert ahead_sm.applied_index() == 400
    for sm in (leader_sm, follower_sm, ahead_sm):
        sm.close()


def test_a_new_snapshot_restarts_transfers_and_out_of_order_chunks_are_dropped(tmp_path):
    sm = filled(str(tmp_path / "sm"), 200)
    leader = SnapshotStore(str(tmp_path / "leader"), sm, chunk_bytes=256)
    take(leader, 200)
    follower_sm = filled(str(tmp_path / "fsm"), 1)
    follower = SnapshotStore(str(tmp_path / "follower"), follower_sm)
    first = leader.next_chunk("p")
    assert first is not None and first[1]
    assert not follower.receive(*first)
    second = leader.next_chunk("p")
    assert second is not None
    third = leader.next_chunk("p")
    assert third is not None
    assert not follower.receive(*third)  # skipped one: the stream is dropped
    assert not follower.receive(*second)
    assert not any(n.startswith("incoming-") for n in os.listdir(str(tmp_path / "follower")))
    assert leader.next_chunk("q")[1]  # a stream to "q" is under way ...
    assert not leader.next_chunk("q")[1]
    for i in range(201, 251):
        sm.apply(i, b"set x y")
    newer = take(leader, 250)
    restarted = leader.next_chunk("q")  # ... and starts over with the new snapshot
    assert restarted is not None and restarted[1] and restarted[0]["snap"] == newer.name
    transfer(leader, follower)
    assert follower.take_received() == newer
    sm.close()
    follower_sm.close()


def test_leftovers_of_a_crash_are_removed_at_startup(tmp_path):
    sm = filled(str(tmp_path / "sm"), 50)
    root = tmp_path / "snaps"
    store = SnapshotStore(str(root), sm)
    meta = take(store, 50)
    (root / "tmp-deadbeef").mkdir()  # killed while taking a snapshot
    (root / "tmp-deadbeef" / "000001.sst").write_bytes(b"partial")
    (root / "incoming-cafe").mkdir()  # killed while receiving one
    (root / "snap-00000000000000000001-old").mkdir()  # superseded
    (root / "CURRENT.tmp").write_bytes(b"{")  # killed while replacing CURRENT
    again = SnapshotStore(str(root), sm)
    assert again.current() == meta
    assert sorted(os.listdir(root)) == sorted(["CURRENT", meta.name])
    sm.close()


def test_current_never_goes_back_for_a_local_snapshot(tmp_path):
    sm = filled(str(tmp_path / "sm"), 80)
    store = SnapshotStore(str(tmp_path / "snaps"), sm)
    take(store, 80)
    assert store.take(entry(60), entry(59), (), min_index=60)
    state, _ = wait_until(lambda: (r := store.poll())[0] != "running" and r, message="snapshot")
    assert state == "failed"
    assert store.current().last_index == 80
    sm.close()


def test_a_snapshot_older_than_required_is_rejected(tmp_path):
    sm = filled(str(tmp_path / "sm"), 30)
    store = SnapshotStore(str(tmp_path / "snaps"), sm)
    assert store.take(entry(40), entry(39), (), min_index=40)  # the state machine is only at 30
    state, _ = wait_until(lambda: (r := store.poll())[0] != "running" and r, message="snapshot")
    assert state == "failed" and store.current() is None
    assert not store.take(entry(40), entry(39), (), min_index=30)  # backs off after a failure
    sm.close()


def test_clone_tree_links_immutable_table_files_and_copies_the_rest(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "000012.sst").write_bytes(b"table")
    (src / "MANIFEST-000005").write_bytes(b"manifest")
    (src / "sub" / "x.blob").write_bytes(b"blob")
    clone_tree(str(src), str(tmp_path / "dst"))
    dst = tmp_path / "dst"
    assert (dst / "000012.sst").stat().st_ino == (src / "000012.sst").stat().st_ino
    assert (dst / "sub" / "x.blob").stat().st_ino == (src / "sub" / "x.blob").stat().st_ino
    assert (dst / "MANIFEST-000005").stat().st_ino != (src / "MANIFEST-000005").stat().st_ino
    assert (dst / "MANIFEST-000005").read_bytes() == b"manifest"
