"""In-process 3-node clusters: elections, replication, proposals, transfer, membership,
snapshots, the lease and pre-vote. Durability across kill -9 is in test_processes.py."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from support import wait_until

from quorumdb.raft import NotLeader, RaftNode, RequestDenied, Role, RoleChange
from quorumdb.raft.errors import EXIT_APPLY_FAILED, EXIT_TICK_FAILED
from quorumdb.storage.errors import TransactionResolutionUnknown

from .cluster import Cluster, Member
from .kvsm import Rejected


def hold(predicate, seconds: float, message: str) -> None:
    """Assert that `predicate` stays true for `seconds` (a stability check, not a wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), message
        time.sleep(0.02)


def logs_equal(members: list[Member]) -> bool:
    logs = [m.sm.log() for m in members]
    return all(log == logs[0] for log in logs)


class LeaseMonitor:
    """Samples every node's lease; records any moment two nodes both held one."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.overlaps: list[tuple[str, ...]] = []
        self.holders: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            holding = tuple(
                m.address for m in self.members if m.node is not None and m.node.lease_valid()
            )
            for h in holding:
                self.holders.append((now, h))
            if len(holding) > 1:
                self.overlaps.append(holding)
            time.sleep(0.001)

    def __enter__(self) -> LeaseMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_one_leader_replicates_in_order_and_returns_the_log_index(cluster):
    leader = cluster.wait_leader()
    indices = [leader.node.propose(f"set k{i} v{i}".encode()).result(5) for i in range(20)]
    assert indices == sorted(indices) and len(set(indices)) == 20
    # commit_ts = log index: the journal holds this very command at that index
    journal = leader.node._journal
    first = journal.first_index()
    for i, index in zip(range(20), indices, strict=True):
        assert f"set k{i} v{i}".encode() in journal[index - first][0]
    cluster.wait_applied(indices[-1])
    assert logs_equal(cluster.up())
    assert {m.sm.digest() for m in cluster.up()} == {leader.sm.digest()}
    status = leader.node.status()
    assert status.role is Role.LEADER and status.leader == leader.address
    assert status.members == tuple(sorted(m.address for m in cluster.members))
    assert all(p.connected and p.match_index is not None for p in status.peers)
    assert status.has_quorum and status.commit_index >= indices[-1]


def test_a_follower_refuses_proposals_and_never_forwards_them(cluster):
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    seen: list[str] = []
    for m in cluster.up():
        m.node._transport.drop = lambda _d, _p, msg: seen.append(msg.get("type")) and False
    with pytest.raises(NotLeader) as info:
        follower.node.propose(b"set x 1").result(5)
    assert info.value.leader == leader.address
    assert info.value.sqlstate == "25006"
    marker = leader.node.propose(b"set marker 1").result(5)
    cluster.wait_applied(marker)
    assert all(m.sm.get(b"x") is None for m in cluster.up())
    assert "apply_command" not in seen


def test_deterministic_failures_are_values_on_every_replica(cluster):
    leader = cluster.wait_leader()
    assert leader.node.propose(b"fail no such thing").result(5) == Rejected("no such thing")
    index = leader.node.propose(b"set after 1").result(5)
    cluster.wait_applied(index)
    assert all((index - 1, b"fail no such thing") in m.sm.log() for m in cluster.up())


def test_leadership_loss_fails_in_flight_proposals_with_08007(cluster):
    old = cluster.wait_leader()
    changes: list[RoleChange] = []
    old.node.on_role_change(changes.append)
    heal = cluster.partition(old)
    try:
        in_flight = old.node.propose(b"set lost 1", timeout=30)
        with pytest.raises(TransactionResolutionUnknown) as info:
            in_flight.result(10)  # check quorum steps the isolated leader down
        assert info.value.sqlstate == "08007"
        # The Raft thread fails in-flight proposals first, then calls the listeners.
        wait_until(
            lambda: any(c.old is Role.LEADER and c.new is not Role.LEADER for c in changes),
            message="the old leader reports stepping down",
        )
        others = [m for m in cluster.up() if m is not old]
        new = cluster.wait_leader(others)
        index = new.node.propose(b"set won 1").result(5)
    finally:
        heal()
    cluster.wait_applied(index)
    assert cluster.wait_leader() is new
    wait_until(lambda: logs_equal(cluster.up()), message="identical logs")
    assert all(m.sm.get(b"lost") is None and m.sm.get(b"won") == b"1" for m in cluster.up())


def test_proposal_timeout_is_an_unknown_outcome(cluster):
    leader = cluster.wait_leader()
    heal = cluster.partition(leader)
    try:
        with pytest.raises(TransactionResolutionUnknown):
            leader.node.propose(b"set slow 1", timeout=0.05).result(5)
    finally:
        heal()


def test_transfer_leadership_ends_the_lease_first(cluster):
    old = cluster.wait_leader()
    old.node.propose(b"set a 1").result(5)
    assert old.node.wait_lease(5)
    target = cluster.followers()[0]
    lease_when_target_won: list[bool] = []

    def on_change(change: RoleChange) -> None:
        if change.new is Role.LEADER:
            lease_when_target_won.append(old.node.lease_valid())

    target.node.on_role_change(on_change)
    with LeaseMonitor(cluster.up()) as monitor:
        assert old.node.transfer_leadership(target.address).result(10) == target.address
        assert cluster.wait_leader() is target
        assert target.node.wait_lease(5)
    assert lease_when_target_won == [False]
    assert monitor.overlaps == []
    assert not old.node.lease_valid()
    # automatic target, back to anyone else
    assert target.node.transfer_leadership().result(10) != target.address
    new = cluster.wait_leader()
    assert new is not target
    assert new.node.propose(b"set b 2").result(5)


def test_transfer_and_membership_changes_are_refused_on_a_follower(cluster):
    cluster.wait_leader()
    follower = cluster.followers()[0]
    with pytest.raises(NotLeader):
        follower.node.transfer_leadership().result(5)
    with pytest.raises(NotLeader):
        follower.node.add_member("127.0.0.1:1").result(5)
    leader = cluster.wait_leader()
    with pytest.raises(RequestDenied):
        leader.node.remove_member(leader.address).result(5)


@pytest.fixture
def compacting_cluster(tmp_path):
    c = Cluster.create(str(tmp_path), snapshot_entries=20)
    c.start()
    yield c
    c.stop()


def test_a_joining_node_does_not_disrupt_then_catches_up_and_a_member_leaves(
    tmp_path, compacting_cluster
):
    cluster = compacting_cluster
    leader = cluster.wait_leader()
    for i in range(30):
        leader.node.propose(f"set k{i} {i}".encode()).result(5)
    term = leader.node.status().term
    spare = cluster.add_spare(str(tmp_path), "spare").start()
    # Started with the members as peers but not added yet: it must not provoke elections.
    hold(
        lambda: (
            leader.node.is_leader()
            and leader.node.status().term == term
            and spare.node.status().term == 0
        ),
        2.0,
        "the new node disturbed the cluster",
    )
    leader.node.add_member(spare.address).result(10)
    index = leader.node.propose(b"set joined 1").result(5)
    cluster.wait_applied(index, [spare])
    assert spare.sm.get(b"joined") == b"1" and spare.sm.get(b"k29") == b"29"
    assert spare.sm._name != "db-0"  # the leader had compacted its log: caught up by snapshot
    assert leader.node.status().term == term
    assert spare.address in leader.node.status().members

    leaving = next(m for m in cluster.followers() if m is not spare)
    leader.node.remove_member(leaving.address).result(10)
    leaving.stop()
    assert leaving.address not in leader.node.status().members
    index = leader.node.propose(b"set after_remove 1").result(5)
    cluster.wait_applied(index)
    assert logs_equal(cluster.up())


def test_a_node_down_while_the_log_was_compacted_catches_up_by_snapshot(tmp_path):
    cluster = Cluster.create(str(tmp_path), snapshot_entries=40, snapshot_chunk_bytes=4096)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        for i in range(10):
            leader.node.propose(f"set a{i} {i}".encode()).result(5)
        down = cluster.followers()[0]
        down_index = down.node.status().log_last_index
        down.stop()
        for i in range(250):
            leader.node.propose(f"set b{i} {'x' * 200}".encode()).result(5)
        status = wait_until(
            lambda: (s := leader.node.status()).log_first_index > down_index + 1 and s,
            message="leader compacted past the stopped node",
        )
        assert status.snapshot_index is not None
        down.start()
        cluster.wait_applied(status.commit_index, [down], timeout=20)
        assert down.sm._name != "db-0"  # it was restored from a snapshot
        assert down.node.status().snapshot_index is not None
        wait_until(lambda: logs_equal(cluster.up()), message="identical logs")
        assert len({m.sm.digest() for m in cluster.up()}) == 1
        # and it keeps replicating normally afterwards
        index = leader.node.propose(b"set final 1").result(5)
        cluster.wait_applied(index)
    finally:
        cluster.stop()


def test_restart_of_the_whole_cluster_keeps_every_entry_once(tmp_path):
    cluster = Cluster.create(str(tmp_path), snapshot_entries=30)
    cluster.start()
    try:
        acked = [cluster.propose(f"set k{i} {i}".encode()) for i in range(60)]
        cluster.wait_applied(acked[-1])
        before = {m.address: m.sm.log() for m in cluster.up()}
        cluster.stop()
        cluster.start()
        leader = cluster.wait_leader()
        for m in cluster.up():
            assert m.sm.log() == before[m.address]  # replay after restart applied nothing twice
        index = leader.node.propose(b"set after 1").result(5)
        assert index > acked[-1]
        cluster.wait_applied(index)
        assert logs_equal(cluster.up())
        indices = [i for i, _ in leader.sm.log()]
        assert indices == sorted(set(indices))
    finally:
        cluster.stop()


def test_the_lease_ends_on_a_partitioned_leader(cluster):
    old = cluster.wait_leader()
    assert old.node.wait_lease(5)
    lease = old.node.config.effective_lease_duration
    with LeaseMonitor(cluster.up()) as monitor:
        cut = time.monotonic()
        heal = cluster.partition(old)
        try:
            wait_until(lambda: not old.node.lease_valid(), timeout=5, message="lease to end")
            others = [m for m in cluster.up() if m is not old]
            new = cluster.wait_leader(others)
            assert new.node.wait_lease(5)
        finally:
            heal()
        wait_until(lambda: not old.node.is_leader() and old.node.leader_address() == new.address)
    assert monitor.overlaps == []
    assert not [t for t, h in monitor.holders if h == old.address and t > cut + lease + 0.2]


def test_the_lease_ends_on_a_paused_leader_and_stale_acks_do_not_revive_it(cluster):
    old = cluster.wait_leader()
    assert old.node.wait_lease(5)
    lease = old.node.config.effective_lease_duration
    resume = threading.Event()
    paused: list[float] = []

    def pause() -> None:  # the Raft thread stops, as under SIGSTOP
        paused.append(time.monotonic())
        resume.wait(30)

    with LeaseMonitor(cluster.up()) as monitor:
        old.node._in_tick(pause)
        try:
            wait_until(lambda: paused, message="the Raft thread to stop")
            wait_until(lambda: not old.node.lease_valid(), timeout=5, message="lease to end")
            others = [m for m in cluster.up() if m is not old]
            new = cluster.wait_leader(others, timeout=10)
            assert new.node.wait_lease(5)
        finally:
            resume.set()
        wait_until(lambda: not old.node.is_leader(), message="the old leader steps down")
        assert new.node.is_leader()
    assert monitor.overlaps == []
    assert not [t for t, h in monitor.holders if h == old.address and t > paused[0] + lease + 0.01]


def test_a_read_waiting_for_the_lease_fails_once_its_leader_is_deposed(cluster):
    # Found by the chaos suite (tests/chaos/regressions/deposed-leader-read-outlives-
    # step-down-isolation.jsonl): a read that began on a leader whose lease had run out
    # waited through its step-down and was answered after the node was elected again.
    old = cluster.wait_leader()
    assert old.node.wait_lease(5)
    term = old.node.term()
    outcome: list[object] = []
    heal = cluster.partition(old)
    try:
        wait_until(lambda: not old.node.lease_valid(), timeout=5, message="lease to end")
        if not old.node.is_leader() or old.node.term() != term:
            pytest.skip("the partitioned leader stepped down before the read began")

        def read() -> None:
            try:
                outcome.append(old.node.read_index(30))
            except Exception as exc:  # noqa: BLE001 - the outcome is the test
                outcome.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        others = [m for m in cluster.up() if m is not old]
        cluster.wait_leader(others, timeout=10)
    finally:
        heal()
    wait_until(lambda: outcome, timeout=10, message="the waiting read to end")
    reader.join()
    assert isinstance(outcome[0], NotLeader), outcome


def test_a_partitioned_follower_does_not_raise_its_term_and_rejoins_quietly(cluster):
    leader = cluster.wait_leader()
    term = leader.node.status().term
    follower = cluster.followers()[0]
    heal = cluster.partition(follower)
    try:
        index = leader.node.propose(b"set during 1").result(5)
        hold(
            lambda: follower.node.status().term == term,
            2.0,
            "pre-vote let the follower raise its term",
        )
    finally:
        heal()
    cluster.wait_applied(index, [follower])
    assert leader.node.is_leader() and leader.node.status().term == term


def test_a_killed_leader_is_replaced_quickly(cluster):
    old = cluster.wait_leader()
    old.node.propose(b"set a 1").result(5)
    started = time.monotonic()
    old.stop()  # sockets close, as when the process dies
    new = cluster.wait_leader(timeout=5)
    assert time.monotonic() - started < 2.0
    assert new.node.propose(b"set b 1").result(5)
    old.start()
    cluster.wait_applied(new.node.commit_index())
    assert logs_equal(cluster.up())


def run_single_leader(tmp_path, then: str) -> subprocess.CompletedProcess[str]:
    """Run a single-node RaftNode in a child process: it becomes leader, applies
    "set a 1" (printing "applied"), then runs the statements `then`."""
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {tests_dir!r})
        from support import free_port
        from raft.cluster import fast_config
        from raft.kvsm import KVStateMachine
        from quorumdb.raft import RaftNode
        address = f"127.0.0.1:{{free_port()}}"
        config = fast_config(address, [address], {str(tmp_path)!r})
        node = RaftNode(config, KVStateMachine({str(tmp_path / "sm")!r}))
        deadline = time.monotonic() + 10
        while not node.is_leader() and time.monotonic() < deadline:
            time.sleep(0.01)
        print("applied", node.propose(b"set a 1").result(5), flush=True)
        """
    ) + textwrap.dedent(then)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_an_exception_from_apply_stops_the_process(tmp_path):
    proc = run_single_leader(
        tmp_path,
        """
        node.propose(b"crash").result(5)
        print("survived", flush=True)
        """,
    )
    assert "applied" in proc.stdout and "survived" not in proc.stdout
    assert proc.returncode == EXIT_APPLY_FAILED, proc.stderr
    assert "applying log entry" in proc.stderr


def test_a_raft_loop_that_keeps_failing_stops_the_process(tmp_path):
    """A member whose every turn raises is silent to the others; it must not linger
    (as a leader it would keep taking clients whose commits cannot happen)."""
    proc = run_single_leader(
        tmp_path,
        """
        def broken(*_args):
            raise OSError("injected: the tick fails")

        node._core.doTick = broken
        time.sleep(30)
        print("survived", flush=True)
        """,
    )
    assert "applied" in proc.stdout and "survived" not in proc.stdout
    assert proc.returncode == EXIT_TICK_FAILED, proc.stderr
    assert "the Raft loop failed on every turn" in proc.stderr
    assert "injected: the tick fails" in proc.stderr  # the cause is logged too


def test_single_node_group(tmp_path):
    from support import free_port

    from .cluster import fast_config
    from .kvsm import KVStateMachine

    address = f"127.0.0.1:{free_port()}"
    sm = KVStateMachine(str(tmp_path / "sm"))
    node = RaftNode(fast_config(address, [address], str(tmp_path)), sm)
    try:
        wait_until(node.is_leader, message="single node leads")
        assert node.propose(b"set a 1").result(5) > 0
        assert node.wait_lease(5)
        assert node.read_index(5) >= 2
    finally:
        node.destroy()
        sm.close()


def test_large_entries_are_sent_in_pieces(tmp_path):
    cluster = Cluster.create(str(tmp_path), append_batch_bytes=4096)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        big = b"set big " + bytes(range(256)) * 80  # 20 KB: five pieces
        index = leader.node.propose(big).result(5)
        small = leader.node.propose(b"set small 1").result(5)
        cluster.wait_applied(small)
        assert all(m.sm.get(b"big") == big[8:] for m in cluster.up())
        assert logs_equal(cluster.up()) and index < small
    finally:
        cluster.stop()


def test_the_journal_is_also_compacted_by_size(tmp_path):
    cluster = Cluster.create(str(tmp_path), snapshot_entries=1_000_000, snapshot_bytes=20_000)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        for i in range(60):
            leader.node.propose(f"set k{i} {'x' * 1000}".encode()).result(5)
        status = wait_until(
            lambda: (s := leader.node.status()).log_first_index > 1 and s,
            message="compaction by size",
        )
        assert status.snapshot_index is not None
        assert leader.node._journal.bytes_size() < 40_000
    finally:
        cluster.stop()


def test_the_raft_port_refuses_pysyncobj_admin_commands(cluster):
    import socket
    import struct
    import zlib

    from pysyncobj import pickle as pysyncobj_pickle

    leader = cluster.wait_leader()
    host, port = leader.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        data = zlib.compress(pysyncobj_pickle.dumps(["add", "127.0.0.1:1"]), 3)
        s.sendall(struct.pack("i", len(data)) + data)
        assert s.recv(100) == b""  # closed without an answer
    index = leader.node.propose(b"set after 1").result(5)
    cluster.wait_applied(index)
    assert "127.0.0.1:1" not in leader.node.status().members


def test_a_port_in_use_is_an_os_error(tmp_path):
    import socket

    from .cluster import fast_config
    from .kvsm import KVStateMachine

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        sm = KVStateMachine(str(tmp_path / "sm"))
        try:
            with pytest.raises(OSError):
                RaftNode(fast_config(address, [address], str(tmp_path)), sm)
        finally:
            sm.close()


def test_a_node_stuck_at_a_higher_term_makes_the_leader_step_down_and_rejoins(cluster):
    # Pre-vote keeps terms from running away, but a node can still end up above the
    # leader (it won pre-vote, then lost the real election). Simulate that state.
    leader = cluster.wait_leader()
    term = leader.node.status().term
    stuck = cluster.followers()[0]
    peer = stuck.node._core.node_for(leader.address)
    raised = {"type": "request_vote", "term": term + 5, "last_log_index": -1, "last_log_term": -1}
    stuck.node._in_tick(lambda: stuck.node._transport.deliver(peer, raised)).result(5)
    assert stuck.node.status().term == term + 5
    new = wait_until(
        lambda: (m := cluster.leader()) and m.node.status().term > term + 5 and m,
        timeout=10,
        message="a leader in a term above the stuck node's",
    )
    new = cluster.wait_leader()
    index = new.node.propose(b"set rejoined 1").result(5)
    cluster.wait_applied(index)
    assert stuck.sm.get(b"rejoined") == b"1"


def test_an_acknowledgement_processed_late_does_not_renew_the_lease(tmp_path):
    # A leader that was stalled processes acknowledgements of heartbeats it sent before
    # the stall: they must count from when the heartbeat was sent, not from now.
    cluster = Cluster.create(str(tmp_path), leader_fallback_timeout=30.0)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        assert leader.node.wait_lease(5)
        heal = cluster.partition(leader)
        try:
            wait_until(lambda: not leader.node.lease_valid(), message="the lease to run out")
            sent_before = wait_until(lambda: leader.node._clock(), message="clock") - 1.0
            term = leader.node.status().term
            follower = leader.node._core.node_for(cluster.followers()[0].address)
            late_ack = {"type": "lease_ack", "term": term, "sent": sent_before}
            transport = leader.node._transport
            transport.drop = None  # let this one message through the receive path
            leader.node._in_tick(lambda: transport._onMessageReceived(follower, late_ack)).result(5)
            assert leader.node.is_leader()
            assert not leader.node.lease_valid()
        finally:
            heal()
    finally:
        cluster.stop()


def test_concurrent_proposals_pipeline_without_resending_entries(cluster, caplog):
    leader = cluster.wait_leader()
    results: list[int] = []
    lock = threading.Lock()
    sent: dict[str, list[int]] = {}

    def record(direction: str, peer: str, message: dict) -> bool:
        if direction == "out" and message.get("type") == "append_entries":
            sent.setdefault(peer, []).extend(e[1] for e in message.get("entries", ()))
        return False

    leader.node._transport.drop = record

    def proposer(slot: int) -> None:
        for i in range(40):
            index = leader.node.propose(f"set t{slot}-{i} {i}".encode()).result(10)
            with lock:
                results.append(index)

    threads = [threading.Thread(target=proposer, args=(s,)) for s in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 400
    cluster.wait_applied(max(results))
    assert logs_equal(cluster.up())
    for peer, indices in sent.items():  # every entry went to each follower exactly once
        assert len(indices) == len(set(indices)) >= 400, peer
    # pysyncobj logs this when a follower drops entries it already applied (a resend)
    assert not [r for r in caplog.records if "truncating already-applied" in r.getMessage()]


def test_asyncio_callers_await_without_blocking_the_loop(cluster):
    import asyncio

    leader = cluster.wait_leader()

    async def main() -> tuple[list[object], int, int]:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        beat = asyncio.create_task(heartbeat())
        results = await asyncio.gather(
            *(leader.node.propose_async(f"set a{i} {i}".encode()) for i in range(20))
        )
        index = await leader.node.read_index_async(5)
        beat.cancel()
        return list(results), index, ticks

    results, index, ticks = asyncio.run(main())
    assert len(set(results)) == 20 and index >= max(results)  # type: ignore[type-var]
    # The loop kept running while the proposals were in flight (a blocked loop would
    # count at most one tick; how many more depends on how fast the commits are).
    assert ticks > 2
    assert all(leader.sm.get(f"a{i}".encode()) == str(i).encode() for i in range(20))


def test_a_destroyed_node_refuses_everything_at_once(cluster):
    from quorumdb.storage.errors import AdminShutdown

    member = cluster.members[0]
    node = member.node
    node.destroy()
    node.destroy()  # idempotent
    with pytest.raises(AdminShutdown):
        node.propose(b"set a 1").result(1)
    with pytest.raises(AdminShutdown):
        node.status(timeout=1)
    assert not node._thread.is_alive()
    member.node = None
    member.sm.close()
    member.sm = None


def test_members_learn_what_each_other_advertise(tmp_path):
    cluster = Cluster.create(str(tmp_path), info_period=0.05)
    for i, member in enumerate(cluster.members):
        member.config = dataclasses.replace(member.config, info={"pg": f"host{i}:5432"})
    cluster.start()
    try:
        for member in cluster.members:
            node = member.node
            wait_until(lambda node=node: len(node.member_info()) == 3, timeout=10, message="node_info")
            assert sorted(v["pg"] for v in node.member_info().values()) == [
                "host0:5432",
                "host1:5432",
                "host2:5432",
            ]
    finally:
        cluster.stop()
