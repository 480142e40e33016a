"""cluster-cli against a real three-node cluster: status, nodes, leader, SQL, leadership
changes, exit codes. Membership changes and backups are in their own modules."""

from __future__ import annotations

import json

import pytest
from opsutil import all_healthy, cli, grpc_addr, http_get, ok, status_json, wait_status
from qdbcluster import ProcessCluster
from support import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_status_shows_every_member_as_a_table_and_as_json(ops_cluster: ProcessCluster) -> None:
    addr = grpc_addr(ops_cluster.nodes[1])
    status = wait_status(addr, all_healthy(3), message="3 healthy members")
    assert {m["node_id"] for m in status["members"]} == {"n0", "n1", "n2"}
    leaders = [m for m in status["members"] if m["role"] == "leader"]
    assert len(leaders) == 1 and leaders[0]["node_id"] == status["leader"]
    assert status["answered_by"] == "n1"
    assert [m["self"] for m in status["members"]] == [False, True, False]
    for member in status["members"]:
        assert member["raft"] == ops_cluster.nodes[int(member["node_id"][1:])].raft_address
        assert member["term"] == status["term"]
        assert member["lag"] == 0 and member["applied_index"] == member["commit_index"]
        assert member["connected"] is True
        if member["role"] == "follower":
            assert member["match_index"] is not None

    table = ok(cli("status", addr=addr))
    header = table.splitlines()[1].split()
    assert header == [
        "ID",
        "RAFT",
        "PG",
        "ROLE",
        "TERM",
        "COMMIT",
        "APPLIED",
        "MATCH",
        "LAG",
        "HEALTH",
    ]
    assert f"leader {status['leader']}" in table.splitlines()[0]
    body = table.splitlines()[2:5]
    assert [line.split()[0] for line in body] == ["n0", "n1", "n2"]
    assert all("healthy" in line for line in body)


def test_nodes_and_leader_agree_from_every_member(ops_cluster: ProcessCluster) -> None:
    answers = []
    for node in ops_cluster.nodes:
        nodes = json.loads(ok(cli("nodes", "--json", addr=grpc_addr(node))))
        leader = json.loads(ok(cli("leader", "--json", addr=grpc_addr(node))))
        assert {n["raft"] for n in nodes} == {n.raft_address for n in ops_cluster.nodes}
        assert [n["node_id"] for n in nodes if n["leader"]] == [leader["node_id"]]
        assert leader["pg"].endswith(str(ops_cluster.nodes[int(leader["node_id"][1:])].pg_port))
        answers.append(leader["node_id"])
    assert len(set(answers)) == 1
    text = ok(cli("leader", addr=grpc_addr(ops_cluster.nodes[0])))
    assert text.split()[0] == answers[0]


def test_sql_runs_on_the_leader_from_any_node(ops_cluster: ProcessCluster) -> None:
    leader = ops_cluster.wait_leader()
    follower = grpc_addr(ops_cluster.nodes[(leader + 1) % 3])
    assert (
        ok(cli("sql", "CREATE TABLE cli_sql (id INT PRIMARY KEY, v TEXT)", addr=follower)).strip()
        == "CREATE TABLE"
    )
    assert (
        ok(cli("sql", "INSERT INTO cli_sql VALUES (1, 'one'), (2, NULL)", addr=follower)).strip()
        == "INSERT 0 2"
    )
    text = ok(cli("sql", "SELECT id, v FROM cli_sql ORDER BY id", addr=follower))
    assert [c.strip() for c in text.splitlines()[0].split("|")] == ["id", "v"]
    assert text.splitlines()[-1] == "(2 rows)"
    data = json.loads(
        ok(cli("sql", "--json", "SELECT id, v FROM cli_sql ORDER BY id", addr=follower))
    )
    assert data["node_id"] == f"n{leader}"  # forwarded to the leader
    assert data["results"] == [
        {
            "columns": ["id", "v"],
            "rows": [["1", "one"], ["2", None]],
            "tag": "SELECT 2",
            "notices": [],
        }
    ]
    # Stale reads run where they are sent.
    ops_cluster.wait_caught_up()
    stale = json.loads(
        ok(cli("sql", "--json", "--stale", "SELECT count(*) FROM cli_sql", addr=follower))
    )
    assert stale["node_id"] != f"n{leader}" and stale["results"][0]["rows"] == [["2"]]

    failed = cli("sql", "SELECT * FROM no_such_table", addr=follower)
    assert failed.returncode == 1
    assert "[42P01]" in failed.stderr and "no_such_table" in failed.stderr
    duplicate = cli("sql", "INSERT INTO cli_sql VALUES (1, 'again')", addr=follower)
    assert duplicate.returncode == 1 and "[23505]" in duplicate.stderr


def test_transfer_leader_to_a_named_member_then_step_down(ops_cluster: ProcessCluster) -> None:
    before = status_json(grpc_addr(ops_cluster.nodes[0]))["leader"]
    target = next(f"n{i}" for i in range(3) if f"n{i}" != before)
    # Asked through a node that is neither the leader nor the target: forwarded to the leader.
    via = next(n for n in ops_cluster.nodes if f"n{n.index}" not in (before, target))
    out = ok(cli("transfer-leader", target, addr=grpc_addr(via)))
    assert out.strip().startswith(f"leader is now {target}")
    assert status_json(grpc_addr(via))["leader"] == target
    again = ok(cli("transfer-leader", target, addr=grpc_addr(via)))
    assert "already leads" in again

    # step-down on a follower changes nothing; on the leader it hands over.
    follower = ops_cluster.nodes[int(before[1:])]
    assert "nothing to do" in ok(cli("step-down", addr=grpc_addr(follower)))
    leader_node = ops_cluster.nodes[int(target[1:])]
    out = ok(cli("step-down", addr=grpc_addr(leader_node)))
    new_leader = out.split()[3]
    assert new_leader != target
    wait_status(grpc_addr(follower), all_healthy(3), message="healthy after step-down")
    # Leadership back to the node that handed it away a moment ago: it must be a fully
    # working leader (lease, ready) at once, not after its old transfer's timeout.
    if new_leader != before:
        ok(cli("transfer-leader", before, addr=grpc_addr(via)))
    first = ops_cluster.nodes[int(before[1:])]
    wait_until(
        lambda: http_get(first.http_port, "/readyz")[0] == 200,
        timeout=5,
        message=f"{before} to be ready as leader again",
    )
    assert status_json(grpc_addr(via))["leader"] == before
    # The cluster still serves writes.
    ok(cli("sql", "CREATE TABLE after_step_down (id INT PRIMARY KEY)", addr=grpc_addr(follower)))


def test_exit_codes_for_usage_unreachable_and_refusals(ops_cluster: ProcessCluster) -> None:
    assert cli("status", "--bogus").returncode == 2
    assert cli().returncode == 2  # no command
    assert cli("transfer-leader", "n9", addr=grpc_addr(ops_cluster.nodes[0])).returncode == 1
    unreachable = cli("status", "--timeout", "1", addr="127.0.0.1:1", timeout=30)
    assert unreachable.returncode == 3
    assert "cannot reach" in unreachable.stderr
    add_self = cli("add", ops_cluster.nodes[0].raft_address, addr=grpc_addr(ops_cluster.nodes[1]))
    assert add_self.returncode == 1 and "already a member" in add_self.stderr


@pytest.mark.parametrize(
    "command",
    [
        "",
        "status",
        "nodes",
        "leader",
        "add",
        "remove",
        "transfer-leader",
        "step-down",
        "backup",
        "restore",
        "sql",
    ],
)
def test_every_command_has_help(command: str) -> None:
    result = cli(*([command] if command else []), "--help")
    assert result.returncode == 0
    assert "exit codes" in result.stdout and "cannot be reached" in result.stdout
