"""A cluster with `--auth scram` and TLS: followers terminate TLS and relay to the leader,
which authenticates; prepared statements, COPY and CancelRequests work through the relay."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from qdbcluster import ProcessCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

PASSWORD = "s3cret-superuser"


@pytest.fixture(scope="module")
def secure() -> Iterator[tuple[ProcessCluster, int, int]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    root = tempfile.mkdtemp(prefix="qdb-secure-")
    cert, key = f"{root}/server.crt", f"{root}/server.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    extra = ["--auth", "scram", "--superuser", "admin", "--superuser-password", PASSWORD,
             "--tls-cert", cert, "--tls-key", key]  # fmt: skip
    cluster = ProcessCluster(root, extra_args=extra)
    cluster.start()
    try:
        leader = wait_leader(cluster)
        follower = next(n.index for n in cluster.nodes if n.index != leader)
        yield cluster, leader, follower
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def dsn(cluster: ProcessCluster, i: int, user: str = "admin", password: str = PASSWORD, **kw: str) -> str:
    extra = " ".join(f"{k}='{v}'" for k, v in kw.items())
    return (
        f"host=127.0.0.1 port={cluster.nodes[i].pg_port} user={user} password={password} "
        f"dbname=test connect_timeout=10 sslmode=require {extra}"
    )


def wait_leader(cluster: ProcessCluster, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        for node in cluster.nodes:
            try:
                with psycopg.connect(
                    dsn(cluster, node.index, options="-c quorumdb.read_consistency=stale"),
                    autocommit=True,
                ) as conn:
                    if conn.execute("SHOW quorumdb.role").fetchone() == ("leader",):
                        return node.index
            except psycopg.Error:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError("no leader")
        time.sleep(0.1)


def test_tls_and_scram_through_a_follower(secure):
    cluster, leader, follower = secure
    with psycopg.connect(dsn(cluster, follower), autocommit=True) as admin:
        assert admin.pgconn.ssl_in_use
        admin.execute("DROP ROLE IF EXISTS app")
        admin.execute("CREATE ROLE app LOGIN PASSWORD 'app-pw'")
        admin.execute("DROP TABLE IF EXISTS secure_t")
        admin.execute("CREATE TABLE secure_t (id int PRIMARY KEY, v text)")
    with psycopg.connect(dsn(cluster, follower, "app", "app-pw"), autocommit=True) as app:
        assert app.execute("SELECT current_user").fetchone() == ("app",)
        for i in range(10):
            app.execute("INSERT INTO secure_t VALUES (%s, %s)", (i, str(i)), prepare=True)
        with app.cursor() as cur, cur.copy("COPY secure_t FROM STDIN") as copy:
            copy.write_row((100, "copied"))
        assert app.execute("SELECT count(*) FROM secure_t").fetchone() == (11,)
    for i in (leader, follower):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(dsn(cluster, i, "app", "wrong"))
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(dsn(cluster, i, "nobody", "x"))


def test_cancel_through_a_follower_reaches_the_leader(secure):
    cluster, _leader, follower = secure
    with psycopg.connect(dsn(cluster, follower), autocommit=True) as conn:
        outcome: dict = {}

        def run() -> None:
            try:
                conn.execute("SELECT count(*) FROM generate_series(1, 200000000)").fetchone()
            except psycopg.Error as exc:
                outcome["error"] = exc
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        with psycopg.connect(dsn(cluster, follower), autocommit=True) as watcher:
            deadline = time.monotonic() + 15
            while watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%generate_series%' "
                "AND state = 'active'"
            ).fetchone()[0] < 1:
                assert time.monotonic() < deadline, "the query never started"
                time.sleep(0.05)
        cancelled_at = time.monotonic()
        conn.cancel()
        thread.join(15)
        assert isinstance(outcome.get("error"), psycopg.errors.QueryCanceled)
        assert outcome["at"] - cancelled_at < 1.0
