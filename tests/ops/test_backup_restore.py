"""Backups with cluster-cli: a consistent checkpoint of one replica at a known applied
index, with a progress bar; restored into a new single node and a new three-node
cluster, whose logs continue after the backup's index."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import psycopg
import pytest
from opsutil import all_healthy, cli, grpc_addr, ok, status_json, wait_status
from qdbcluster import ProcessCluster
from support import NodeProcess, free_ports, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

ROWS = 3000


@pytest.fixture(scope="module")
def backup_dir(
    ops_cluster: ProcessCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A backup of a follower of `ops_cluster` holding ROWS rows of `saved`; one more row
    (id -1) is written after it."""
    cluster = ops_cluster
    cluster.execute_with_retry(0, "CREATE TABLE saved (id INT PRIMARY KEY, v TEXT)")
    with cluster.connect(0) as conn:
        for start in range(0, ROWS, 500):
            values = ", ".join(f"({i}, 'value {i}')" for i in range(start, start + 500))
            conn.execute(f"INSERT INTO saved VALUES {values}")
    cluster.wait_caught_up()
    leader = cluster.wait_leader()
    follower = cluster.nodes[(leader + 1) % 3]
    path = str(tmp_path_factory.mktemp("backups") / "b1")
    result = cli("backup", path, addr=grpc_addr(follower))
    ok(result)
    # The progress bar is on stderr (one line per tenth when stderr is not a terminal).
    assert "100.0%" in result.stderr and "[####" in result.stderr
    assert f"backup of n{follower.index} at applied index" in result.stdout
    cluster.execute_with_retry(0, "INSERT INTO saved VALUES (-1, 'after the backup')")
    yield path


def _manifest(path: str) -> dict:
    with open(os.path.join(path, "quorumdb-backup.json")) as f:
        return json.load(f)


def test_the_backup_records_its_index_and_checksums(
    backup_dir: str, ops_cluster: ProcessCluster
) -> None:
    manifest = _manifest(backup_dir)
    assert manifest["format"] == "quorumdb-backup" and manifest["version"] == 1
    assert manifest["applied_index"] > 0
    assert manifest["applied_index"] <= ops_cluster.applied_index(ops_cluster.wait_leader())
    assert manifest["files"] and all(len(f["sha256"]) == 64 for f in manifest["files"])
    total = sum(
        os.path.getsize(os.path.join(backup_dir, "store", f["path"])) for f in manifest["files"]
    )
    assert total == sum(f["size"] for f in manifest["files"])
    assert not os.path.exists(backup_dir + ".partial")
    # A backup never overwrites anything.
    again = cli("backup", backup_dir, addr=grpc_addr(ops_cluster.nodes[0]))
    assert again.returncode == 1 and "already exists" in again.stderr


def _rows(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute("SELECT count(*), min(id), max(id) FROM saved").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_restore_into_a_single_new_node(backup_dir: str, tmp_path) -> None:
    data_dir = str(tmp_path / "single")
    out = ok(cli("restore", backup_dir, "--data-dir", data_dir))
    assert f"applied index {_manifest(backup_dir)['applied_index']}" in out
    refused = cli("restore", backup_dir, "--data-dir", data_dir)
    assert refused.returncode == 1 and "not empty" in refused.stderr

    pg, grpc_port, raft, http = free_ports(4)
    node = NodeProcess(
        [
            "serve", "--data-dir", data_dir, "--pg-listen", f"127.0.0.1:{pg}",
            "--grpc-listen", f"127.0.0.1:{grpc_port}", "--raft-listen", f"127.0.0.1:{raft}",
            "--http-listen", f"127.0.0.1:{http}", "--node-id", "restored",
        ],
        str(tmp_path / "single.log"),
    ).start()  # fmt: skip
    try:
        dsn = f"host=127.0.0.1 port={pg} user=test dbname=test connect_timeout=5"
        conn = wait_until(
            lambda: psycopg.connect(dsn, autocommit=True), timeout=30, message="the node"
        )
        with conn:
            assert _rows(conn) == (ROWS, 0, ROWS - 1)  # not the row written after the backup
            conn.execute("INSERT INTO saved VALUES (-2, 'after the restore')")
            assert _rows(conn) == (ROWS + 1, -2, ROWS - 1)
        status = status_json(f"127.0.0.1:{grpc_port}")
        assert [m["role"] for m in status["members"]] == ["standalone"]
        assert status["members"][0]["health"] == "healthy"
        assert status["node"]["applied_index"] > _manifest(backup_dir)["applied_index"]
    finally:
        node.stop()


def test_restore_into_a_new_three_node_cluster(backup_dir: str, tmp_path) -> None:
    cluster = ProcessCluster(str(tmp_path / "restored"))
    for node in cluster.nodes:
        ok(cli("restore", backup_dir, "--data-dir", node.data_dir))
    cluster.start()
    try:
        leader = cluster.wait_ready()
        index = _manifest(backup_dir)["applied_index"]
        with cluster.connect(leader) as conn:
            assert _rows(conn) == (ROWS, 0, ROWS - 1)
            conn.execute("INSERT INTO saved VALUES (-3, 'new cluster')")
        status = wait_status(grpc_addr(cluster.nodes[0]), all_healthy(3), message="healthy cluster")
        assert all(
            m["applied_index"] > index for m in status["members"]
        )  # the log goes on after it
        cluster.wait_caught_up()
        for node in cluster.nodes:
            with cluster.connect(node.index, stale=True) as conn:
                assert _rows(conn) == (ROWS + 1, -3, ROWS - 1)
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()


def test_a_corrupted_backup_is_not_restored(backup_dir: str, tmp_path) -> None:
    import shutil

    copy = str(tmp_path / "corrupt")
    shutil.copytree(backup_dir, copy)
    manifest = _manifest(copy)
    biggest = max(manifest["files"], key=lambda f: f["size"])
    with open(os.path.join(copy, "store", biggest["path"]), "r+b") as f:
        f.seek(biggest["size"] // 2)
        byte = f.read(1)
        f.seek(biggest["size"] // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    result = cli("restore", copy, "--data-dir", str(tmp_path / "target"))
    assert result.returncode == 1 and "checksum" in result.stderr
    missing = cli("restore", str(tmp_path / "nothing-here"), "--data-dir", str(tmp_path / "t2"))
    assert missing.returncode == 1 and "not a backup" in missing.stderr
