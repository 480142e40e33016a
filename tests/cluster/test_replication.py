"""A three-node cluster of real processes: replication, routing, failover, durability.

These are the acceptance tests of Raft replication, driven the way users drive
QuorumDB: psycopg connections to any node, `kill -9` of node processes.
"""

from __future__ import annotations

import os
import random
import threading
import time

import psycopg
import pytest
from qdbcluster import ProcessCluster
from support import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(str(tmp_path)).start()
    try:
        c.wait_ready()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_rows_written_through_any_node_are_visible_through_every_node(cluster):
    with cluster.connect(0) as conn:
        conn.execute("CREATE TABLE kv (k INT PRIMARY KEY, v TEXT)")
    for i in range(3):
        with cluster.connect(i) as conn:
            conn.execute("INSERT INTO kv VALUES (%s, %s)", (i, f"via n{i}"))
    expected = [(0, "via n0"), (1, "via n1"), (2, "via n2")]
    for i in range(3):
        with cluster.connect(i) as conn:
            assert rows(conn, "kv") == expected
    # With stale reads each replica answers from its own copy: the same rows once caught up.
    cluster.wait_caught_up()
    for i in range(3):
        with cluster.connect(i, stale=True) as conn:
            assert conn.execute("SHOW quorumdb.read_consistency").fetchone() == ("stale",)
            assert rows(conn, "kv") == expected


def test_a_follower_in_stale_mode_refuses_writes_and_a_set_switches_modes(cluster):
    leader = cluster.wait_leader()
    follower = next(i for i in range(3) if i != leader)
    with cluster.connect(follower) as conn:
        conn.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SHOW quorumdb.role").fetchone() == ("leader",)  # relayed
        conn.execute("SET quorumdb.read_consistency = 'stale'")
        assert conn.execute("SHOW quorumdb.role").fetchone() == ("follower",)  # served here
        wait_until(lambda: rows(conn, "t") == [(1,)], message="the follower to catch up")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO t VALUES (2)")


def _writer(cluster: ProcessCluster, acked: list[int], stop: threading.Event, first: int) -> None:
    """Insert increasing ids through random live nodes; record the acknowledged ones."""
    next_id = first
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                live = [n.index for n in cluster.nodes if n.alive()]
                if not live:  # the whole cluster is down for the moment
                    stop.wait(0.05)
                    continue
                conn = cluster.connect(random.choice(live), timeout=3)
            conn.execute("INSERT INTO acked VALUES (%s)", (next_id,))
            acked.append(next_id)
        except psycopg.Error:
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)
        next_id += 1
    if conn is not None:
        conn.close()


def _assert_every_replica_has(cluster: ProcessCluster, acked: list[int]) -> None:
    cluster.wait_caught_up()
    for node in cluster.nodes:
        with cluster.connect(node.index, stale=True) as conn:
            present = {r[0] for r in conn.execute("SELECT id FROM acked").fetchall()}
        missing = set(acked) - present
        assert not missing, f"n{node.index} lost acknowledged ids {sorted(missing)[:10]}"


def test_leader_kill_under_write_load(cluster):
    cluster.execute_with_retry(0, "CREATE TABLE acked (id INT PRIMARY KEY)")
    acked: list[int] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(cluster, acked, stop, k * 1_000_000))
        for k in range(3)
    ]
    for w in writers:
        w.start()
    try:
        wait_until(lambda: len(acked) > 50, timeout=30, message="writes before the kill")
        old = cluster.wait_leader()
        cluster.kill(old)
        killed_at = time.monotonic()
        new = cluster.wait_leader(timeout=10)
        elapsed = time.monotonic() - killed_at
        assert new != old
        assert elapsed < 3.0, f"new leader after {elapsed:.2f}s"
        count = len(acked)
        wait_until(lambda: len(acked) > count + 50, timeout=30, message="writes after failover")
        cluster.start(old)
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=30)
    _assert_every_replica_has(cluster, acked)


def test_a_transaction_in_flight_when_its_leader_dies_never_reports_commit(cluster):
    leader = cluster.wait_leader()
    follower = next(i for i in range(3) if i != leader)
    cluster.execute_with_retry(follower, "CREATE TABLE inflight (id INT PRIMARY KEY)")
    conn = psycopg.connect(cluster.nodes[follower].dsn(), cursor_factory=psycopg.ClientCursor)
    try:
        conn.execute("INSERT INTO inflight VALUES (1)")  # opens a transaction on the leader
        cluster.kill(leader)
        with pytest.raises(psycopg.Error) as caught:
            conn.commit()
        assert caught.value.sqlstate in ("08007", "40001"), caught.value
    finally:
        conn.close()


def test_whole_cluster_kill_and_restart_loses_nothing_and_replicas_are_identical(cluster):
    cluster.execute_with_retry(0, "CREATE TABLE acked (id INT PRIMARY KEY)")
    acked: list[int] = []
    for round_no in range(10):
        stop = threading.Event()
        writer = threading.Thread(
            target=_writer, args=(cluster, acked, stop, round_no * 1_000_000)
        )
        writer.start()
        count = len(acked)
        try:
            wait_until(lambda c=count: len(acked) > c + 10, timeout=30, message="writes")
        finally:
            cluster.kill(0, 1, 2)  # all at once, writes in flight
            stop.set()
            writer.join(timeout=30)
        cluster.start()
        cluster.wait_ready()
    _assert_every_replica_has(cluster, acked)
    cluster.stop()
    digests = {cluster.digest(i) for i in range(3)}
    assert len(digests) == 1, "replicas differ after catching up"


def test_a_node_down_during_log_compaction_catches_up_from_a_snapshot(tmp_path):
    cluster = ProcessCluster(str(tmp_path), extra_args=["--snapshot-entries", "40"]).start()
    try:
        leader = cluster.wait_ready()
        cluster.execute_with_retry(leader, "CREATE TABLE bulk (id INT PRIMARY KEY, pad TEXT)")
        lagging = next(i for i in range(3) if i != leader)
        cluster.kill(lagging)
        with cluster.connect(leader) as conn:
            for i in range(400):
                conn.execute("INSERT INTO bulk VALUES (%s, %s)", (i, "x" * 100))
        cluster.start(lagging)
        cluster.wait_caught_up(timeout=60)
        with cluster.connect(lagging, stale=True) as conn:
            assert conn.execute("SELECT count(*) FROM bulk").fetchone() == (400,)
        log = open(cluster.nodes[lagging].log_path).read()
        assert "installed snapshot" in log, "the node caught up by log, not by snapshot"
        store_dir = os.path.join(cluster.nodes[lagging].data_dir, "store")
        assert open(os.path.join(store_dir, "CURRENT")).read().strip() != "store-1"
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
