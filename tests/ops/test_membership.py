"""Membership changes with cluster-cli: a fourth node joins empty, catches up and leaves
again; changes that would leave the cluster without a healthy majority are refused
unless forced."""

from __future__ import annotations

import json

import psycopg
import pytest
from opsutil import (
    all_healthy,
    cli,
    grpc_addr,
    http_get,
    ok,
    start_joining_node,
    status_json,
    wait_status,
)
from qdbcluster import ClusterNode, ProcessCluster
from support import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


def _fill(cluster: ProcessCluster, rows: int) -> None:
    cluster.execute_with_retry(0, "CREATE TABLE filled (id INT PRIMARY KEY, v TEXT)")
    with cluster.connect(0) as conn:
        for start in range(0, rows, 100):
            values = ", ".join(f"({i}, 'row {i}')" for i in range(start, min(start + 100, rows)))
            conn.execute(f"INSERT INTO filled VALUES {values}")


def test_a_fourth_node_joins_catches_up_and_is_removed(own_cluster: ProcessCluster) -> None:
    cluster = own_cluster
    _fill(cluster, 2000)
    spare = start_joining_node(cluster, 3)
    try:
        addr = grpc_addr(cluster.nodes[0])
        # Before it is added, the new node knows no leader and is not ready.
        alone = status_json(grpc_addr(spare))
        assert alone["node"]["health"] == "no-leader"
        out = ok(cli("add", spare.raft_address, "--wait", addr=addr))
        assert f"added {spare.raft_address}" in out and "caught up" in out
        status = wait_status(addr, all_healthy(4), message="4 healthy members")
        row = next(m for m in status["members"] if m["raft"] == spare.raft_address)
        assert row["node_id"] == "n3" and row["role"] == "follower" and row["lag"] <= 32
        # Its replica holds everything written before it joined.
        with psycopg_stale(spare) as conn:
            assert conn.execute("SELECT count(*) FROM filled").fetchone() == (2000,)
        # New writes reach it too.
        cluster.execute_with_retry(0, "INSERT INTO filled VALUES (5000, 'after join')")
        wait_until(
            lambda: _count(spare) == 2001, timeout=20, message="the new member to get new rows"
        )

        out = ok(cli("remove", "n3", addr=addr))
        assert "removed n3" in out
        status = wait_status(addr, all_healthy(3), message="back to 3 members")
        assert spare.raft_address not in {m["raft"] for m in status["members"]}
        cluster.execute_with_retry(0, "INSERT INTO filled VALUES (5001, 'after remove')")
    finally:
        assert spare.process is not None
        spare.process.stop()


def psycopg_stale(node: ClusterNode) -> psycopg.Connection:
    return psycopg.connect(node.dsn(stale=True), autocommit=True)


def _count(node: ClusterNode) -> int:
    with psycopg_stale(node) as conn:
        row = conn.execute("SELECT count(*) FROM filled").fetchone()
        assert row is not None
        return int(row[0])


def test_changes_that_would_lose_quorum_are_refused_unless_forced(
    own_cluster: ProcessCluster,
) -> None:
    cluster = own_cluster
    leader = cluster.wait_leader()
    down, healthy = [i for i in range(3) if i != leader]
    addr = grpc_addr(cluster.nodes[leader])
    cluster.kill(down)
    wait_status(
        addr,
        lambda s: (
            next(m for m in s["members"] if m["node_id"] == f"n{down}")["health"] == "unreachable"
        ),
        message=f"n{down} to show as unreachable",
    )

    # Removing a healthy member while another is down would leave 1 of 2 working.
    refused = cli("remove", f"n{healthy}", addr=addr)
    assert refused.returncode == 1
    assert "refused" in refused.stderr and "--force" in refused.stderr
    assert len(status_json(addr)["members"]) == 3

    spare = start_joining_node(cluster, 3)
    try:
        # Adding a fourth while one of three is down would need 3 of 4 with only 2 working.
        refused = cli("add", spare.raft_address, addr=addr)
        assert refused.returncode == 1 and "refused" in refused.stderr
        # An address nobody listens on is refused too (the node was never started).
        nowhere = cli("add", "127.0.0.1:1", addr=addr)
        assert nowhere.returncode == 1 and "cannot connect" in nowhere.stderr

        # --force adds it anyway; it catches up and the cluster goes on with 3 of 4.
        ok(cli("add", spare.raft_address, "--force", "--wait", addr=addr))
        status = status_json(addr)
        assert len(status["members"]) == 4
        # Removing the dead member is safe: the remaining three are healthy.
        ok(cli("remove", cluster.nodes[down].raft_address, addr=addr))
        wait_status(addr, all_healthy(3), message="3 healthy members without the dead one")
        cluster.execute_with_retry(leader, "CREATE TABLE still_writable (id INT PRIMARY KEY)")

        # With two of the three gone there is no leader: not ready, and status says so.
        cluster.kill(healthy)
        spare.process.kill()  # type: ignore[union-attr]
        status = wait_status(
            addr, lambda s: s["leader"] is None, timeout=20, message="the leader to step down"
        )
        assert status["node"]["health"] == "no-leader"
        code, _, body = http_get(cluster.nodes[leader].http_port, "/readyz")
        assert code == 503
        ready = json.loads(body)
        assert ready["ready"] is False and ready["health"] == "no-leader" and ready["reason"]
    finally:
        assert spare.process is not None
        spare.process.stop()
