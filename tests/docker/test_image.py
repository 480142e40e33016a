"""The QuorumDB image on its own: what `docker run quorumdb` promises an operator.

One container is a complete single-node database: it listens on the
published PostgreSQL port, reports healthy, runs as a non-root user and keeps
its data in /var/lib/quorumdb, so a named volume there outlives the container.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from dockerctl import TEST_RUN_LABEL, Container, NodeFactory, docker

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def connect(port: int) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="quorumdb",
        dbname="quorumdb",
        autocommit=True,
        connect_timeout=10,
    )


def test_image_contract(quorumdb_image: str, docker_run_id: str) -> None:
    """The parts of the image compose.yaml and operators rely on, without starting a node."""
    config = json.loads(docker("image", "inspect", quorumdb_image))[0]["Config"]
    assert config["User"] == "quorumdb"
    assert config["Entrypoint"] == ["quorumdb", "serve"]
    assert set(config["ExposedPorts"]) == {"5432/tcp", "6432/tcp", "7432/tcp", "8432/tcp"}
    assert config["Healthcheck"]["Test"][0] == "CMD"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["QUORUMDB_DATA_DIR"] == "/var/lib/quorumdb"
    assert env["QUORUMDB_PG_LISTEN"] == "0.0.0.0:5432"
    found = docker(
        "run", "--rm", "--network", "none", "--label", f"{TEST_RUN_LABEL}={docker_run_id}",
        "--entrypoint", "sh", quorumdb_image,
        "-c", "id -u; for c in quorumdb cluster-cli; do command -v $c; done",
    ).split()  # fmt: skip
    uid, *commands = found
    assert uid != "0"
    assert [c.rsplit("/", 1)[1] for c in commands] == ["quorumdb", "cluster-cli"]


def test_single_node_serves_sql_on_the_published_port(single_node: Container) -> None:
    with connect(single_node.host_port(5432)) as conn:
        conn.execute("CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL)")
        inserted = conn.execute("INSERT INTO accounts VALUES (1, 'ada'), (2, 'grace')")
        assert inserted.rowcount == 2
        rows = conn.execute("SELECT id, owner FROM accounts ORDER BY id").fetchall()
    assert rows == [(1, "ada"), (2, "grace")]


def test_data_in_a_named_volume_outlives_the_container(
    docker_volume: str, node_factory: NodeFactory
) -> None:
    """A fresh named volume takes the image's ownership of /var/lib/quorumdb, so the
    non-root node can write to it, and a new container on that volume sees the old data."""
    first = node_factory.start(volumes={docker_volume: "/var/lib/quorumdb"})
    with connect(first.host_port(5432)) as conn:
        conn.execute("CREATE TABLE kept (id INT PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO kept VALUES (1, 'still here')")
    first.stop()
    # SIGTERM from `docker stop` is a clean shutdown, which exits 0.
    assert first.state().exit_code == 0
    first.remove()

    second = node_factory.start(volumes={docker_volume: "/var/lib/quorumdb"})
    with connect(second.host_port(5432)) as conn:
        assert conn.execute("SELECT id, v FROM kept").fetchall() == [(1, "still here")]
