"""DurableJournal: pysyncobj's journal interface, durability rules and crash recovery."""

from __future__ import annotations

import os
import shutil

from quorumdb.raft.journal import DurableJournal


def cmd(i: int) -> bytes:
    return f"command-{i}".encode() * (1 + i % 3)


def fill(j: DurableJournal, start: int, end: int, term: int = 1) -> None:
    for i in range(start, end):
        j.add(cmd(i), i, term)


def segments(path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n.endswith(".seg"))


def test_entries_survive_reopen_after_flush(tmp_path):
    j = DurableJournal(str(tmp_path))
    fill(j, 1, 101)
    j.setCurrentTerm(3, "127.0.0.1:1")
    j.setRaftCommitIndex(90)
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path))
    assert len(j) == 100
    assert j[0] == (cmd(1), 1, 1)
    assert j[-1] == (cmd(100), 100, 1)
    assert j[10:12] == [(cmd(11), 11, 1), (cmd(12), 12, 1)]
    assert j.getCurrentTerm() == 3
    assert j.getVotedForNodeId() == "127.0.0.1:1"
    assert j.getRaftCommitIndex() == 90
    j.close()


def crash_copy(src, dst) -> str:
    """What a restarted process would find on disk right now (as after kill -9)."""
    shutil.copytree(src, dst)
    return str(dst)


def test_add_only_buffers_until_flush(tmp_path):
    j = DurableJournal(str(tmp_path / "j"))
    fill(j, 1, 5)
    assert j.dirty
    reopened = DurableJournal(crash_copy(tmp_path / "j", tmp_path / "crash1"))
    assert len(reopened) == 0
    reopened.close()
    j.flush()
    assert not j.dirty
    reopened = DurableJournal(crash_copy(tmp_path / "j", tmp_path / "crash2"))
    assert len(reopened) == 4
    reopened.close()
    j.close()


def test_term_and_vote_are_durable_immediately(tmp_path):
    j = DurableJournal(str(tmp_path / "j"))
    j.setCurrentTerm(7, None)
    reopened = DurableJournal(crash_copy(tmp_path / "j", tmp_path / "crash"))
    assert reopened.getCurrentTerm() == 7
    assert reopened.getVotedForNodeId() is None
    reopened.close()
    j.close()


def test_delete_entries_from_truncates_a_conflicting_suffix(tmp_path):
    j = DurableJournal(str(tmp_path), segment_bytes=200)
    fill(j, 1, 41)
    j.flush()
    assert len(segments(tmp_path)) > 3
    j.deleteEntriesFrom(12)  # keep indices 1..12
    assert j[-1][1] == 12
    j.add(b"new-13", 13, 2)
    j.add(b"new-14", 14, 2)
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path))
    assert [e[1] for e in j] == list(range(1, 15))
    assert j[-1] == (b"new-14", 14, 2)
    assert j[11] == (cmd(12), 12, 1)
    j.close()


def test_delete_entries_to_drops_whole_segments_and_bounds_memory(tmp_path):
    j = DurableJournal(str(tmp_path), segment_bytes=300)
    fill(j, 1, 201)
    j.flush()
    before = len(segments(tmp_path))
    size_before = j.bytes_size()
    j.deleteEntriesTo(150)  # first live index becomes 151
    assert j[0][1] == 151 and len(j) == 50
    assert j.bytes_size() < size_before
    assert len(segments(tmp_path)) < before
    fill(j, 201, 211)
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path))
    assert [e[1] for e in j] == list(range(151, 211))
    j.close()


def test_clear_then_restart_at_a_snapshot_index(tmp_path):
    j = DurableJournal(str(tmp_path))
    fill(j, 1, 30)
    j.flush()
    j.clear()
    j.add(b"prev", 499, 4)
    j.add(b"last", 500, 4)
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path))
    assert list(j) == [(b"prev", 499, 4), (b"last", 500, 4)]
    j.close()


def test_a_torn_tail_is_dropped_at_every_cut_point(tmp_path):
    src = tmp_path / "src"
    j = DurableJournal(str(src))
    fill(j, 1, 11)
    j.flush()
    j.close()
    (seg,) = segments(src)
    data = (src / seg).read_bytes()
    last_len = len(cmd(10)) + 24
    full_prefix = len(data) - last_len
    for cut_at in range(full_prefix, len(data)):
        d = tmp_path / f"cut{cut_at}"
        d.mkdir()
        (d / seg).write_bytes(data[:cut_at])
        torn = DurableJournal(str(d))
        assert [e[1] for e in torn] == list(range(1, 10)), cut_at
        torn.add(b"after", 10, 1)  # the log continues cleanly after the cut
        torn.flush()
        torn.close()
        again = DurableJournal(str(d))
        assert again[-1] == (b"after", 10, 1)
        again.close()


def test_garbage_and_flipped_bits_end_the_log(tmp_path):
    j = DurableJournal(str(tmp_path))
    fill(j, 1, 21)
    j.flush()
    j.close()
    (seg,) = segments(tmp_path)
    path = tmp_path / seg
    data = bytearray(path.read_bytes())
    # flip one payload byte of the 15th record
    j = DurableJournal(str(tmp_path))
    offsets = list(j._offsets)
    j.close()
    data[offsets[14] + 30] ^= 0xFF
    path.write_bytes(bytes(data) + os.urandom(100))
    j = DurableJournal(str(tmp_path))
    assert [e[1] for e in j] == list(range(1, 15))
    j.close()


def test_a_stale_record_after_a_newer_term_is_rejected(tmp_path):
    # Entries 1..5 in term 1; then 4..5 were replaced by term 2 entries of the same size,
    # but (as after a crash before fsync of the truncation) the old bytes of a later
    # record follow: terms must never decrease, so the log ends there.
    j = DurableJournal(str(tmp_path))
    fill(j, 1, 6)
    j.flush()
    j.close()
    (seg,) = segments(tmp_path)
    data = (tmp_path / seg).read_bytes()
    from quorumdb.raft.journal import encode_record

    j = DurableJournal(str(tmp_path))
    off4 = j._offsets[3]
    j.close()
    forged = data[:off4] + encode_record(cmd(4), 4, 2) + encode_record(cmd(5), 5, 1)
    (tmp_path / seg).write_bytes(forged)
    j = DurableJournal(str(tmp_path))
    assert [(e[1], e[2]) for e in j] == [(1, 1), (2, 1), (3, 1), (4, 2)]
    j.close()


def test_commit_index_is_clamped_to_the_log(tmp_path):
    j = DurableJournal(str(tmp_path))
    fill(j, 1, 6)
    j.setRaftCommitIndex(50)
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path))
    assert j.getRaftCommitIndex() == 5
    j.close()


def test_fsync_false_still_survives_a_process_crash(tmp_path):
    j = DurableJournal(str(tmp_path / "j"), fsync=False)
    fill(j, 1, 6)
    j.flush()  # written to the OS, not fsynced
    reopened = DurableJournal(crash_copy(tmp_path / "j", tmp_path / "crash"), fsync=False)
    assert len(reopened) == 5
    reopened.close()
    j.close()


def test_a_resent_identical_suffix_is_never_truncated_on_disk(tmp_path):
    # pysyncobj drops and re-adds entries when a batch is resent; in between, a
    # crash must not lose what this node already acknowledged.
    j = DurableJournal(str(tmp_path / "j"))
    fill(j, 1, 11)
    j.flush()
    j.deleteEntriesFrom(5)  # indices 6..10 leave memory ...
    assert j[-1][1] == 5
    crashed = DurableJournal(crash_copy(tmp_path / "j", tmp_path / "crash"))
    assert [e[1] for e in crashed] == list(range(1, 11))  # ... but not the disk
    crashed.close()
    j.add(cmd(6), 6, 1)  # the same entry again: taken back without a write
    assert not j.dirty
    j.add(b"other-7", 7, 2)  # a conflict: now 7..10 really go
    j.flush()
    j.close()
    j = DurableJournal(str(tmp_path / "j"))
    assert [(e[1], e[2]) for e in j] == [(i, 1) for i in range(1, 7)] + [(7, 2)]
    assert j[-1][0] == b"other-7"
    j.close()
