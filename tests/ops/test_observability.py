"""What monitoring sees: /metrics, /healthz and /readyz on the HTTP port, the standard
gRPC health service, and QuorumDB errors as gRPC status codes with their SQLSTATE."""

from __future__ import annotations

import json

import grpc
import psycopg
import pytest
from opsutil import grpc_addr, http_get
from prometheus_client.parser import text_string_to_metric_families
from qdbcluster import ProcessCluster
from support import wait_until

from quorumdb.proto import health_pb2, health_pb2_grpc, node_pb2, node_pb2_grpc

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    code, content_type, body = http_get(port, "/metrics")
    assert code == 200 and content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_statements_errors_and_commits_and_report_raft_state(
    ops_cluster: ProcessCluster,
) -> None:
    leader = ops_cluster.wait_leader()
    node = ops_cluster.nodes[leader]
    before = scrape(node.http_port)
    with ops_cluster.connect(leader) as conn:
        conn.execute("CREATE TABLE metered (id INT PRIMARY KEY)")
        for i in range(3):
            conn.execute("INSERT INTO metered VALUES (%s)", (i,))
        for _ in range(4):
            conn.execute("SELECT count(*) FROM metered").fetchall()
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM not_there")
    after = scrape(node.http_port)

    def grew(name: str, by: float, **labels: str) -> None:
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta >= by, f"{name}{labels} grew by {delta}, expected {by}"

    grew("quorumdb_statements_total", 4, type="SELECT")
    grew("quorumdb_statements_total", 3, type="INSERT")
    grew("quorumdb_statements_total", 1, type="CREATE")
    grew("quorumdb_errors_total", 1, sqlstate="42P01")
    grew("quorumdb_commits_total", 4, outcome="committed")
    grew("quorumdb_commit_duration_seconds_count", 4)
    grew("quorumdb_raft_entries_applied_total", 4)
    grew("quorumdb_apply_duration_seconds_count", 4)

    assert value(after, "quorumdb_raft_role", role="leader") == 1.0
    assert value(after, "quorumdb_raft_role", role="follower") == 0.0
    assert value(after, "quorumdb_raft_term") >= 1
    assert (
        value(after, "quorumdb_raft_commit_index")
        >= value(before, "quorumdb_raft_commit_index") + 4
    )
    assert (
        value(after, "quorumdb_raft_applied_index")
        >= value(after, "quorumdb_raft_commit_index") - 32
    )
    assert value(after, "quorumdb_raft_lease_valid") == 1.0
    assert value(after, "quorumdb_store_bytes") > 0
    assert value(after, "quorumdb_raft_journal_bytes") > 0
    assert value(after, "quorumdb_node_info", node_id=f"n{leader}", version="0.1.0") == 1.0
    assert value(after, "process_resident_memory_bytes") > 0
    # Followers apply the same entries and say they follow.
    follower = ops_cluster.nodes[(leader + 1) % 3]
    wait_until(
        lambda: (
            value(scrape(follower.http_port), "quorumdb_raft_entries_applied_total")
            >= value(after, "quorumdb_raft_entries_applied_total") - 1
        ),
        message="the follower to apply",
    )
    assert value(scrape(follower.http_port), "quorumdb_raft_role", role="follower") == 1.0


def test_connections_gauge_counts_open_clients(ops_cluster: ProcessCluster) -> None:
    node = ops_cluster.nodes[0]
    baseline = value(scrape(node.http_port), "quorumdb_connections")
    conns = [ops_cluster.connect(0, stale=True) for _ in range(3)]
    try:
        assert value(scrape(node.http_port), "quorumdb_connections") >= baseline + 3
    finally:
        for conn in conns:
            conn.close()


def test_healthz_and_readyz(ops_cluster: ProcessCluster) -> None:
    ops_cluster.wait_caught_up()
    for node in ops_cluster.nodes:
        code, content_type, body = http_get(node.http_port, "/healthz")
        assert (code, content_type) == (200, "application/json")
        assert json.loads(body) == {"status": "ok", "node_id": f"n{node.index}"}

        def ready(port: int = node.http_port) -> dict | None:
            code, _, body = http_get(port, "/readyz")
            data = json.loads(body)
            return data if code == 200 else None

        data = wait_until(ready, message=f"n{node.index} ready")
        assert data["ready"] is True and data["health"] == "healthy" and data["reason"] == ""
        assert data["role"] in ("leader", "follower") and data["leader"]
        assert data["applied_index"] >= data["leader_commit_index"] - 32
    assert http_get(ops_cluster.nodes[0].http_port, "/nope")[0] == 404


def test_grpc_health_service(ops_cluster: ProcessCluster) -> None:
    with grpc.insecure_channel(grpc_addr(ops_cluster.nodes[1])) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        serving = health_pb2.HealthCheckResponse.SERVING
        for service in ("", "quorumdb.node.v1.Node"):
            wait_until(
                lambda s=service: (
                    stub.Check(health_pb2.HealthCheckRequest(service=s), timeout=5).status
                    == serving
                ),
                message=f"health of {service!r}",
            )
        with pytest.raises(grpc.RpcError) as unknown:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert next(iter(watch)).status == serving
        watch.cancel()


def test_errors_are_grpc_status_codes_with_the_sqlstate(ops_cluster: ProcessCluster) -> None:
    with grpc.insecure_channel(grpc_addr(ops_cluster.nodes[2])) as channel:
        stub = node_pb2_grpc.NodeStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.ExecuteSQL(node_pb2.ExecuteSQLRequest(sql="SELECT * FROM nowhere"), timeout=10)
        error = failed.value
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details().startswith("[42P01] ")
        assert dict(error.trailing_metadata())["quorumdb-sqlstate"] == "42P01"
        with pytest.raises(grpc.RpcError) as syntax:
            stub.ExecuteSQL(node_pb2.ExecuteSQLRequest(sql="SELEC 1"), timeout=10)
        assert syntax.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(syntax.value.trailing_metadata())["quorumdb-sqlstate"] == "42601"
        with pytest.raises(grpc.RpcError) as bad_member:
            stub.RemoveMember(node_pb2.RemoveMemberRequest(member="n42"), timeout=10)
        assert bad_member.value.code() == grpc.StatusCode.NOT_FOUND


def test_gc_collects_what_clients_updated_on_every_replica(own_cluster: ProcessCluster) -> None:
    """GC by key, through a driver: rows updated by a client are collected on every
    replica once no snapshot can see their old versions (the leader keeps them for
    followers' stale reads a few seconds), and the memory of them empties."""
    leader = own_cluster.wait_leader()
    with own_cluster.connect(leader) as conn:
        conn.execute("CREATE TABLE churn (id INT PRIMARY KEY, n INT)")
        conn.execute("INSERT INTO churn SELECT g, 0 FROM generate_series(1, 50) g")
        for _ in range(5):
            conn.execute("UPDATE churn SET n = n + 1 WHERE id <= 20")
    written = value(scrape(own_cluster.nodes[leader].http_port), "quorumdb_store_applied_index")
    assert value(scrape(own_cluster.nodes[leader].http_port), "quorumdb_gc_pending_keys") >= 20

    def collected(port: int) -> bool:
        samples = scrape(port)
        return (
            value(samples, "quorumdb_gc_watermark") >= written
            and value(samples, "quorumdb_gc_pending_keys") == 0
        )

    for node in own_cluster.nodes:
        wait_until(lambda port=node.http_port: collected(port), timeout=60,
                   message=f"n{node.index} to collect the updated rows")  # fmt: skip
    with own_cluster.connect(leader) as conn:
        assert conn.execute("SELECT sum(n), count(*) FROM churn").fetchone() == (100, 50)
