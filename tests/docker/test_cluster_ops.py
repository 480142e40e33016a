"""Operating the compose cluster the way the README tells an operator to: cluster-cli
inside the containers, `docker kill` of the leader, a network partition, and growing the
cluster by a fourth container and shrinking it again.

The three tests share one compose project (started once, ~30 s) and each leaves all
three nodes running and healthy. Rows are written through the published PostgreSQL
ports with psycopg; everything about the cluster is read with
`docker exec <node> cluster-cli ...`, exactly as in the README.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import psycopg
import pytest
from dockerctl import ComposeProject, docker, docker_exec, networks_of, wait_healthy
from support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]

SERVICES = ("node1", "node2", "node3")
FAILOVER_TIMEOUT = 30.0
CONVERGE_TIMEOUT = 60.0


class Ops:
    """cluster-cli in the containers, and psycopg through the published ports."""

    def __init__(self, project: ComposeProject) -> None:
        self.project = project
        self.ids = project.containers()

    def cli(
        self, service: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return docker_exec(self.ids[service], "cluster-cli", *args, timeout=timeout)

    def status(self, service: str) -> dict[str, Any]:
        done = self.cli(service, "status", "--json", timeout=30)
        assert done.returncode == 0, f"status via {service}: {done.stderr}"
        return json.loads(done.stdout)

    def healthy_cluster(self, via: str, count: int = 3) -> dict[str, Any] | None:
        status = self.status(via)
        members = status["members"]
        if (
            status["leader"]
            and len(members) == count
            and all(m["health"] == "healthy" for m in members)
        ):
            return status
        return None

    def wait_healthy_cluster(self, via: str, count: int = 3) -> dict[str, Any]:
        return wait_until(
            lambda: self.healthy_cluster(via, count),
            timeout=CONVERGE_TIMEOUT,
            interval=0.5,
            message=f"{count} healthy members seen from {via}",
        )

    def stale_count(self, service: str, table: str) -> int:
        done = self.cli(service, "sql", "--stale", "--json", f"SELECT count(*) FROM {table}")
        assert done.returncode == 0, f"count via {service}: {done.stderr}"
        return int(json.loads(done.stdout)["results"][0]["rows"][0][0])

    def connect(self, service: str, **params: Any) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.project.host_port(service, 5432),
            user="quorumdb",
            dbname="quorumdb",
            autocommit=True,
            connect_timeout=10,
            **params,
        )

    def insert(self, service: str, table: str, ids: range) -> None:
        with self.connect(service) as conn:
            for start in range(ids.start, ids.stop, 100):
                values = ", ".join(f"({i})" for i in range(start, min(start + 100, ids.stop)))
                conn.execute(f"INSERT INTO {table} VALUES {values}")


def _converged(ops: Ops, table: str, expected: int) -> bool:
    return all(ops.stale_count(s, table) == expected for s in SERVICES)


def test_killing_the_leader_container_elects_a_new_leader_and_loses_nothing(
    compose_module_cluster: ComposeProject,
) -> None:
    ops = Ops(compose_module_cluster)
    # The README's first look at the cluster, with the compose CLI itself.
    wait_until(
        lambda: (
            "3 of 3 members healthy"
            in compose_module_cluster.compose("exec", "-T", "node1", "cluster-cli", "status")
        ),
        timeout=CONVERGE_TIMEOUT,
        interval=0.5,
        message="`compose exec node1 cluster-cli status` to show 3 healthy members",
    )
    with ops.connect("node1") as conn:
        conn.execute("CREATE TABLE kill_test (id INT PRIMARY KEY)")
    ops.insert("node1", "kill_test", range(500))  # acknowledged: must survive the kill
    leader = ops.wait_healthy_cluster("node1")["leader"]
    survivors = [s for s in SERVICES if s != leader]

    docker("kill", ops.ids[leader])
    killed_at = time.monotonic()
    new_leader = wait_until(
        lambda: (lead := ops.status(survivors[0])["leader"]) not in (None, leader) and lead,
        timeout=FAILOVER_TIMEOUT,
        interval=0.25,
        message="a new leader after the kill",
    )
    print(f"new leader {new_leader} {time.monotonic() - killed_at:.1f}s after killing {leader}")
    status = ops.status(survivors[1])
    assert status["leader"] == new_leader
    dead = next(m for m in status["members"] if m["node_id"] == leader)
    assert dead["health"] == "unreachable"
    # Nothing acknowledged was lost, and the majority takes writes.
    done = ops.cli(survivors[1], "sql", "--json", "SELECT count(*) FROM kill_test")
    assert json.loads(done.stdout)["results"][0]["rows"] == [["500"]]
    ops.insert(survivors[0], "kill_test", range(500, 600))

    docker("start", ops.ids[leader])
    wait_healthy([ops.ids[leader]], 120)
    ops.wait_healthy_cluster(leader)
    wait_until(
        lambda: _converged(ops, "kill_test", 600), timeout=CONVERGE_TIMEOUT, message="convergence"
    )


def test_a_partitioned_leader_refuses_writes_while_the_majority_goes_on(
    compose_module_cluster: ComposeProject,
) -> None:
    ops = Ops(compose_module_cluster)
    with ops.connect("node1") as conn:
        conn.execute("CREATE TABLE partition_test (id INT PRIMARY KEY)")
    ops.insert("node1", "partition_test", range(100))
    leader = ops.wait_healthy_cluster("node1")["leader"]
    majority = [s for s in SERVICES if s != leader]
    # A client of the soon-isolated node, connected beforehand; libpq gives up on
    # unacknowledged data after 5 s instead of the kernel's ~15 minutes.
    isolated_client = ops.connect(leader, tcp_user_timeout=5000, keepalives_idle=2)
    ((network, aliases),) = networks_of(ops.ids[leader]).items()

    docker("network", "disconnect", network, ops.ids[leader])
    try:
        with pytest.raises(psycopg.OperationalError):
            isolated_client.execute("INSERT INTO partition_test VALUES (-1)")
        # A client on the isolated node itself: its writes fail, they never succeed.
        refused = ops.cli(
            leader, "--timeout", "15", "sql", "INSERT INTO partition_test VALUES (-2)"
        )
        assert refused.returncode == 1, refused.stdout
        assert "[" in refused.stderr  # with its SQLSTATE (25006 not the leader, 08007 unknown)
        # The isolated node knows it cannot serve.
        wait_until(
            lambda: (
                json.loads(ops.cli(leader, "status", "--local", "--json").stdout)["node"]["health"]
                != "healthy"
            ),
            timeout=FAILOVER_TIMEOUT,
            message="the isolated node to stop calling itself healthy",
        )
        # Meanwhile the majority elects a leader and takes writes.
        wait_until(
            lambda: ops.status(majority[0])["leader"] in majority,
            timeout=FAILOVER_TIMEOUT,
            interval=0.25,
            message="a leader in the majority",
        )
        ops.insert(majority[0], "partition_test", range(100, 200))
        ops.insert(majority[1], "partition_test", range(200, 300))
    finally:
        isolated_client.close()
        docker(
            "network",
            "connect",
            *[a for alias in aliases[:1] for a in ("--alias", alias)],
            network,
            ops.ids[leader],
        )

    ops.wait_healthy_cluster(leader)
    wait_until(
        lambda: _converged(ops, "partition_test", 300),
        timeout=CONVERGE_TIMEOUT,
        message="convergence",
    )
    done = ops.cli(majority[0], "sql", "--json", "SELECT count(*) FROM partition_test WHERE id < 0")
    assert json.loads(done.stdout)["results"][0]["rows"] == [["0"]]


def test_a_fourth_container_is_added_catches_up_and_is_removed(
    compose_module_cluster: ComposeProject,
) -> None:
    project = compose_module_cluster
    ops = Ops(project)
    with ops.connect("node1") as conn:
        conn.execute("CREATE TABLE grow_test (id INT PRIMARY KEY)")
    ops.insert("node1", "grow_test", range(1000))
    project.compose("--profile", "spare", "up", "--detach", "--no-build", "node4", timeout=120)
    ops.ids = project.containers()
    wait_healthy([ops.ids["node4"]], 120)
    try:
        added = ops.cli("node1", "add", "node4:7432", "--wait", timeout=120)
        assert added.returncode == 0, added.stderr
        assert "caught up" in added.stdout
        status = ops.wait_healthy_cluster("node2", count=4)
        assert {m["node_id"] for m in status["members"]} == {"node1", "node2", "node3", "node4"}
        assert ops.stale_count("node4", "grow_test") == 1000
        removed = ops.cli("node2", "remove", "node4")
        assert removed.returncode == 0, removed.stderr
        status = ops.wait_healthy_cluster("node3")
        assert "node4" not in {m["node_id"] for m in status["members"]}
    finally:
        project.compose("--profile", "spare", "rm", "--stop", "--force", "node4", timeout=120)
    ops.insert("node3", "grow_test", range(1000, 1100))
