"""pgbench against a real three-node cluster: `pgbench -i` as it comes (DROP/CREATE
TABLE ... WITH (fillfactor), TRUNCATE and COPY in one transaction, VACUUM, ALTER
TABLE ... ADD PRIMARY KEY), then the TPC-B script with ten clients contending
for one branch row, which row locks serialise without a single failed
transaction, as PostgreSQL does under READ COMMITTED."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from qdbcluster import ProcessCluster

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed"),
]


def _pgbench(cluster: ProcessCluster, node: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PGHOST="127.0.0.1",
        PGPORT=str(cluster.nodes[node].pg_port),
        PGUSER="test",
        PGDATABASE="test",
        PGCONNECT_TIMEOUT="10",
    )
    return subprocess.run(
        ["pgbench", *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_tpcb_runs_with_no_failed_transactions(tmp_path):
    cluster = ProcessCluster(str(tmp_path)).start()
    try:
        cluster.wait_ready()
        leader = cluster.wait_leader()
        init = _pgbench(cluster, leader, "-i", "-s", "1")
        assert init.returncode == 0, init.stderr
        assert "creating primary keys" in init.stderr
        run = _pgbench(cluster, leader, "-c", "10", "-j", "2", "-T", "10", "-M", "simple")
        assert run.returncode == 0, run.stderr + run.stdout
        processed = int(re.search(r"actually processed: (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
        failed = int(re.search(r"failed transactions: (\d+)", run.stdout).group(1))  # type: ignore[union-attr]
        assert processed > 0 and failed == 0, run.stdout
        with cluster.connect(leader) as conn:
            # Every transaction moved the same delta through one account, teller and branch.
            sums = conn.execute(
                "SELECT (SELECT sum(abalance) FROM pgbench_accounts),"
                " (SELECT sum(tbalance) FROM pgbench_tellers),"
                " (SELECT sum(bbalance) FROM pgbench_branches),"
                " (SELECT sum(delta) FROM pgbench_history),"
                " (SELECT count(*) FROM pgbench_history)"
            ).fetchone()
        assert sums is not None and len(set(sums[:4])) == 1 and sums[4] == processed, sums
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
