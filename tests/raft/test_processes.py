"""Crash durability with real processes: kill -9 the leader under load, kill -9 all three at
once (several rounds), a torn journal tail, and the lease of a leader paused by SIGSTOP.

The nodes run with the production settings (fsync on, default timeouts).
"""

from __future__ import annotations

import glob
import os
import struct
import time

import pytest
from support import wait_until

from quorumdb.raft.pysyncobj_glue import clock

from .procs import Load, ProcCluster, ProcNode

pytestmark = pytest.mark.cluster


@pytest.fixture
def procs(tmp_path):
    cluster = ProcCluster.create(str(tmp_path), extra=["--snapshot-entries", "150"])
    yield cluster
    cluster.stop()


def assert_durable_and_identical(cluster: ProcCluster, load: Load) -> None:
    try:
        cluster.wait_converged()
    except TimeoutError:
        raise AssertionError(cluster.describe()) from None
    states = [n.call("items")["items"] for n in cluster.nodes]
    missing = {
        n.address: [k for k, v in load.acked.items() if state.get(k) != v]
        for n, state in zip(cluster.nodes, states, strict=True)
    }
    assert all(not keys for keys in missing.values()), f"acknowledged but lost: {missing}"
    logs = [n.call("log") for n in cluster.nodes]
    assert len({entry["digest"] for entry in logs}) == 1
    assert all(entry["log"] == logs[0]["log"] for entry in logs)
    # an outcome reported unknown is allowed either way, but must be the same everywhere
    assert all(state == states[0] for state in states)


def test_killing_the_leader_under_load_loses_nothing_acknowledged(procs):
    procs.start()
    leader = procs.wait_leader()
    with Load(procs) as load:
        wait_until(lambda: load.count() >= 60, timeout=20, message="load before the kill")
        killed_at = time.monotonic()
        leader.kill()
        others = [n for n in procs.nodes if n is not leader]
        new = procs.wait_leader(others, timeout=10)
        elapsed = time.monotonic() - killed_at
        before = load.count()
        wait_until(lambda: load.count() >= before + 60, timeout=20, message="load after the kill")
    assert new is not leader
    assert elapsed < 3.0, f"a new leader took {elapsed:.2f}s"
    leader.start()
    assert_durable_and_identical(procs, load)


def test_killing_all_three_at_once_repeatedly_loses_nothing_acknowledged(procs):
    procs.start()
    total = Load(procs)  # only used to accumulate outcomes across rounds
    for round_no in range(3):
        procs.wait_leader()
        with Load(procs, prefix=f"r{round_no}-") as load:
            wait_until(lambda load=load: load.count() >= 80, timeout=30, message="load")
            for node in procs.nodes:  # as close to simultaneous as signals get
                node.kill()
        total.acked.update(load.acked)
        total.unknown |= load.unknown
        procs.start()
        assert_durable_and_identical(procs, total)
    assert len(total.acked) >= 240


def test_a_torn_journal_tail_is_dropped_and_the_node_catches_up(procs):
    procs.start()
    procs.wait_leader()
    with Load(procs) as load:
        wait_until(lambda: load.count() >= 40, timeout=20, message="load")
        victim = next(n for n in procs.nodes if n.status()["role"] != "leader")
        victim.kill()
        before = load.count()
        wait_until(
            lambda: load.count() >= before + 20, timeout=20, message="load without the victim"
        )
    segment = sorted(glob.glob(os.path.join(victim.data, "raft", "journal", "*.seg")))[-1]
    with open(segment, "ab") as f:
        # a record header promising 1000 bytes, and only some of them: a torn write
        f.write(struct.pack("<IIQQ", 1000, 12345, 10**6, 1) + os.urandom(300))
    victim.start()
    assert_durable_and_identical(procs, load)
    assert "torn or inconsistent record" in victim.log_tail(400)


def test_a_leader_paused_by_sigstop_does_not_trust_acks_after_resuming(procs):
    procs.start()
    old = procs.wait_leader()
    wait_until(lambda: old.call("status")["lease"], timeout=10, message="the leader's lease")
    lease = 0.5  # RaftConfig default: half the 1 s minimum election timeout
    paused_at = clock()
    old.pause()
    try:
        others = [n for n in procs.nodes if n is not old]
        new: ProcNode = procs.wait_leader(others, timeout=15)
        wait_until(
            lambda: new.call("status")["lease"], timeout=10, message="the new leader's lease"
        )
    finally:
        old.resume()
    wait_until(
        lambda: old.call("status")["role"] != "leader",
        timeout=10,
        message="the old leader to step down",
    )
    history = old.call("lease_history")["intervals"]
    late = [interval for interval in history if interval[1] > paused_at + lease + 0.05]
    assert late == [], f"lease held after the pause: {late} (paused at {paused_at})"
    assert procs.wait_leader() is new
