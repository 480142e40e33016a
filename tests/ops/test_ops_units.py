"""Unit tests of the operations modules, without a cluster: health rules, the membership
safety rule and status merge, SQLSTATE <-> gRPC codes, metrics hooks, the backup
format and restore, the progress bar, and the lease after a leadership transfer."""

from __future__ import annotations

import io
import json
import os

import grpc
import pytest
from prometheus_client import generate_latest

from quorumdb.node import backup, cluster_view, health
from quorumdb.node.grpc_errors import RemoteError, code_for, message_for, metadata_for
from quorumdb.node.metrics import NodeMetrics
from quorumdb.proto import node_pb2 as pb
from quorumdb.raft import PeerStatus, RaftStatus, Role
from quorumdb.raft.leadership import LeadershipGuard
from quorumdb.storage.errors import UniqueViolation
from quorumdb.storage.mvcc import Write, WriteSet
from quorumdb.storage.store import Store

A, B, C, D = "a:1", "b:1", "c:1", "d:1"


def raft_status(
    *,
    role: Role = Role.LEADER,
    leader: str | None = A,
    commit: int = 100,
    applied: int = 100,
    peers: tuple[PeerStatus, ...] = (),
    lease: bool = True,
    address: str = A,
) -> RaftStatus:
    return RaftStatus(
        address=address,
        role=role,
        term=3,
        leader=leader,
        commit_index=commit,
        applied_index=applied,
        state_machine_index=applied,
        log_first_index=1,
        log_last_index=commit,
        snapshot_index=None,
        members=tuple(sorted({address, *(p.address for p in peers)})),
        peers=peers,
        has_quorum=True,
        lease_valid=lease,
    )


def peer(address: str, connected: bool = True, match: int | None = 100) -> PeerStatus:
    return PeerStatus(address, connected, match, None if match is None else match + 1)


# ---- health ---------------------------------------------------------------------------


def test_a_leader_is_ready_only_with_its_lease() -> None:
    assert health.member(raft_status(), 100).ready
    verdict = health.member(raft_status(lease=False), 100)
    assert verdict.health is health.Health.NO_LEADER and "lease" in verdict.reason


def test_a_follower_is_ready_when_connected_to_its_leader_and_caught_up() -> None:
    def follower(**kw):  # type: ignore[no-untyped-def]
        return raft_status(role=Role.FOLLOWER, address=B, peers=(peer(A, **kw), peer(C)), **{})

    assert health.member(follower(), 100).ready
    assert health.member(raft_status(role=Role.FOLLOWER, leader=None, address=B), None).health is (
        health.Health.NO_LEADER
    )
    cut_off = health.member(follower(connected=False), 100)
    assert cut_off.health is health.Health.NO_LEADER and "not connected" in cut_off.reason
    # Its log lacks entries the leader had committed (catching up, e.g. by snapshot).
    behind = health.member(follower(), 5000)
    assert behind.health is health.Health.CATCHING_UP and "5000" in behind.reason
    # Everything is in the log but not applied yet.
    lagging = raft_status(
        role=Role.FOLLOWER, address=B, peers=(peer(A), peer(C)), commit=500, applied=100
    )
    assert health.member(lagging, 500).health is health.Health.CATCHING_UP
    slightly = raft_status(
        role=Role.FOLLOWER, address=B, peers=(peer(A), peer(C)), commit=110, applied=100
    )
    assert health.member(slightly, 110).ready  # within CAUGHT_UP_ENTRIES
    assert health.member(follower(), None).health is health.Health.CATCHING_UP


# ---- membership safety -------------------------------------------------------------------


def test_membership_changes_that_keep_a_healthy_majority_are_allowed() -> None:
    three = raft_status(peers=(peer(B), peer(C)))
    assert cluster_view.membership_problem(three, add=D) is None
    assert cluster_view.membership_problem(three, remove=C) is None


def test_membership_changes_that_lose_the_majority_are_refused() -> None:
    one_down = raft_status(peers=(peer(B), peer(C, connected=False)))
    problem = cluster_view.membership_problem(one_down, add=D)
    assert problem is not None and "need 3" in problem and C in problem
    problem = cluster_view.membership_problem(one_down, remove=B)
    assert problem is not None and "need 2" in problem
    # Removing the member that is down keeps two healthy of two.
    assert cluster_view.membership_problem(one_down, remove=C) is None
    # A follower far behind cannot acknowledge new entries yet: it does not count.
    far_behind = raft_status(
        commit=5000, applied=5000, peers=(peer(B, match=5000), peer(C, match=10))
    )
    assert cluster_view.membership_problem(far_behind, add=D) is not None


def test_merge_reports_lag_from_the_leaders_commit_and_unreachable_members() -> None:
    def report(address: str, node_id: str, role: int, applied: int) -> pb.NodeStatus:
        st = pb.NodeStatus(
            node_id=node_id, role=role, term=3, commit_index=applied, applied_index=applied,
            health=pb.HEALTH_HEALTHY,
        )  # fmt: skip
        st.addresses.raft = address
        st.members.extend([A, B, C])
        return st

    leader = report(A, "n1", pb.ROLE_LEADER, 200)
    leader.peers.add(raft_address=B, connected=True, match_index=150)
    leader.peers.add(raft_address=C, connected=False, match_index=90)
    own = report(B, "n2", pb.ROLE_FOLLOWER, 150)
    rows = cluster_view.merge(
        own, {A: leader}, {C: "gRPC UNAVAILABLE"}, {C: {"node_id": "n3", "pg": "c:5432"}}
    )
    assert [r.node_id for r in rows] == ["n1", "n2", "n3"]
    n1, n2, n3 = rows
    assert (n1.role, n1.lag, n1.connected, n1.HasField("match_index")) == (
        pb.ROLE_LEADER,
        0,
        True,
        False,
    )
    assert (n2.lag, n2.match_index, n2.is_self, n2.connected) == (50, 150, True, True)
    assert (
        n3.health == pb.HEALTH_UNREACHABLE
        and not n3.reported
        and n3.health_reason == "gRPC UNAVAILABLE"
    )
    assert (n3.addresses.pg, n3.match_index, n3.connected) == ("c:5432", 90, False)


# ---- errors at the gRPC edge ----------------------------------------------------------------


def test_sqlstates_map_to_grpc_codes() -> None:
    assert code_for("42P01") == grpc.StatusCode.NOT_FOUND
    assert code_for("42601") == grpc.StatusCode.INVALID_ARGUMENT
    assert code_for("23505") == grpc.StatusCode.ALREADY_EXISTS
    assert code_for("23502") == grpc.StatusCode.FAILED_PRECONDITION
    assert code_for("40001") == grpc.StatusCode.ABORTED
    assert code_for("25006") == grpc.StatusCode.UNAVAILABLE
    assert code_for("08007") == grpc.StatusCode.UNKNOWN
    assert code_for("XX000") == grpc.StatusCode.INTERNAL
    error = UniqueViolation("duplicate key value", hint="Pick another id. \u2713")
    assert message_for(error) == "[23505] duplicate key value"
    assert dict(metadata_for(error)) == {
        "quorumdb-sqlstate": "23505",
        "quorumdb-hint": "Pick another id. ?",
    }


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, metadata: tuple = ()) -> None:
        self._code, self._details, self._metadata = code, details, metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._metadata


def test_a_client_tells_quorumdb_errors_from_transport_failures() -> None:
    remote = RemoteError.from_rpc_error(
        _FakeRpcError(
            grpc.StatusCode.NOT_FOUND, "[42P01] no table", (("quorumdb-sqlstate", "42P01"),)
        )
    )
    assert (remote.sqlstate, remote.message, remote.from_quorumdb) == ("42P01", "no table", True)
    down = RemoteError.from_rpc_error(
        _FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
    )
    assert not down.from_quorumdb and down.sqlstate is None


# ---- metrics ------------------------------------------------------------------------------


def test_metrics_hooks_count_by_cached_label_and_registries_are_separate() -> None:
    one, two = NodeMetrics("n1"), NodeMetrics("n2")
    for tag in ("SELECT 1", "SELECT 5", "INSERT 0 1", "BEGIN"):
        one.statement(tag)
    one.error("42P01")
    text = generate_latest(one.registry).decode()
    assert 'quorumdb_statements_total{type="SELECT"} 2.0' in text
    assert 'quorumdb_statements_total{type="INSERT"} 1.0' in text
    assert 'quorumdb_errors_total{sqlstate="42P01"} 1.0' in text
    assert 'quorumdb_statements_total{type="SELECT"}' not in generate_latest(two.registry).decode()


# ---- backup format and restore ----------------------------------------------------------------


def _store_with_rows(path: str, count: int) -> Store:
    store = Store(path)
    for index in range(2, 2 + count):
        store.mvcc.apply(WriteSet((Write(f"k{index}".encode(), b"v", None),)), index)
    return store


def _write_backup(store: Store, data_dir: str, path: str) -> backup.BackupManifest:
    checkpoint = backup.take_checkpoint(store, data_dir)
    try:
        writer = backup.BackupWriter(path)
        writer.begin(
            applied_index=checkpoint.applied_index, term=1, node_id="n1", raft_address=A,
            created_at=backup.utc_now(), files=list(checkpoint.files),
        )  # fmt: skip
        import hashlib

        digests = [hashlib.sha256() for _ in checkpoint.files]
        for number, offset, data in backup.read_chunks(checkpoint, 1000):
            writer.write(number, offset, data)
            digests[number].update(data)
        return writer.finish([d.hexdigest() for d in digests])
    finally:
        backup.discard_checkpoint(checkpoint)


def test_a_backup_round_trips_into_a_new_data_directory(tmp_path) -> None:
    store = _store_with_rows(str(tmp_path / "src" / "store"), 50)
    try:
        manifest = _write_backup(store, str(tmp_path / "src"), str(tmp_path / "b"))
    finally:
        store.close()
    assert manifest.applied_index == 51
    assert not os.path.exists(tmp_path / "src" / "backup-work" / "x")
    result = backup.restore(str(tmp_path / "b"), str(tmp_path / "dst"))
    assert result.applied_index == 51
    marker = json.loads((tmp_path / "dst" / backup.MARKER_NAME).read_text())
    assert marker["applied_index"] == 51 and marker["source_node"] == "n1"
    restored = Store(str(tmp_path / "dst" / "store"))
    try:
        assert restored.mvcc.applied_index == 51
        assert restored.mvcc.get(b"k51", 51) == b"v"
        # First start as a cluster member: a Raft snapshot at 51, the marker gone.
        snapshots, journal = (
            str(tmp_path / "dst" / "raft" / "snapshots"),
            str(tmp_path / "dst" / "raft" / "journal"),
        )
        index = backup.prepare_first_start(
            str(tmp_path / "dst"),
            restored,
            snapshot_dir=snapshots,
            journal_dir=journal,
            members=[B, A],
        )
        assert index == 51
    finally:
        restored.close()
    meta = json.loads(open(os.path.join(snapshots, "CURRENT")).read())
    assert meta["index"] == 51 and meta["last"][1:] == [51, 0] and meta["members"] == [A, B]
    assert not (tmp_path / "dst" / backup.MARKER_NAME).exists()


def test_restore_refuses_a_non_empty_directory_and_joining(tmp_path) -> None:
    store = _store_with_rows(str(tmp_path / "src" / "store"), 5)
    try:
        _write_backup(store, str(tmp_path / "src"), str(tmp_path / "b"))
    finally:
        store.close()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(str(tmp_path / "b"), str(tmp_path / "busy"))
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.BackupWriter(str(tmp_path / "b"))
    backup.restore(str(tmp_path / "b"), str(tmp_path / "dst"))
    restored = Store(str(tmp_path / "dst" / "store"))
    try:
        with pytest.raises(backup.BackupError, match="--join"):
            backup.prepare_first_start(
                str(tmp_path / "dst"), restored, snapshot_dir=None, journal_dir=None, members=[],
                joining=True,
            )  # fmt: skip
    finally:
        restored.close()


def test_the_backup_writer_rejects_gaps_and_bad_checksums(tmp_path) -> None:
    writer = backup.BackupWriter(str(tmp_path / "b"))
    writer.begin(
        applied_index=2, term=1, node_id="n", raft_address=A, created_at="", files=[("f", 4)]
    )
    with pytest.raises(backup.BackupError, match="offset"):
        writer.write(0, 2, b"xx")
    writer.write(0, 0, b"abcd")
    with pytest.raises(backup.BackupError, match="checksum"):
        writer.finish(["0" * 64])
    writer.abort()
    assert not os.path.exists(str(tmp_path / "b.partial"))
    with pytest.raises(backup.BackupError, match="bad file name"):
        backup.BackupWriter(str(tmp_path / "c")).begin(
            applied_index=1, term=1, node_id="", raft_address="", created_at="", files=[("../x", 1)]
        )


# ---- progress bar ----------------------------------------------------------------------------


def test_the_progress_bar_prints_tenths_when_not_a_terminal() -> None:
    from quorumdb.cluster_cli.progress import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(1000, "backup", stream=out)
    for done in range(0, 1001, 50):
        bar.update(done)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and lines[0].startswith("backup [....") and "100.0%" in lines[-1]


# ---- the lease after a leadership transfer (raft/leadership.py) --------------------------------


class _View:
    def __init__(self) -> None:
        self.leading, self.current_term = True, 1

    def is_leader(self) -> bool:
        return self.leading

    def term(self) -> int:
        return self.current_term

    def leader(self) -> str | None:
        return "me" if self.leading else None

    def last_log(self) -> tuple[int, int]:
        return 1, self.current_term

    def voting_peers(self) -> list[str]:
        return ["p1", "p2"]

    def election_deadline(self) -> float:
        return 1e9

    def set_election_deadline(self, when: float) -> None:
        pass

    def transfer_in_progress(self) -> bool:
        return False

    def leader_ready(self) -> bool:
        return self.leading


def test_leading_again_after_a_transfer_gets_a_lease_at_once() -> None:
    """Regression: the lease block of a transfer outlived it, so a node that handed
    leadership away and got it back within the transfer timeout had no lease (and could
    serve no linearizable read) until that timeout ran out."""
    view = _View()
    guard = LeadershipGuard(
        view, lambda *_: None, min_timeout=1.0, max_timeout=2.0, lease_duration=0.5, now=0.0
    )
    guard.on_lease_ack("p1", 1, sent_at=10.0, now=10.0)
    assert guard.lease_until > 10.0
    guard.end_lease(10.0, until=40.0)  # transfer started with a 30 s timeout
    assert guard.lease_until == 0.0
    view.leading = False  # it completed: another node leads in term 2
    view.current_term = 2
    guard.refresh(10.1)
    view.leading, view.current_term = True, 3  # and this node leads again, in term 3
    guard.on_lease_ack("p1", 3, sent_at=11.0, now=11.0)
    assert guard.lease_until == pytest.approx(11.5)
