"""compose.yaml as an operator runs it: three nodes on a private network, one database.

The compose fixture brings the file up unchanged (only the image and the host
ports come from the environment), so these tests check the file users get.
"""

from __future__ import annotations

import psycopg
import pytest
from dockerctl import ComposeProject

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]


def connect(port: int) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="quorumdb",
        dbname="quorumdb",
        autocommit=True,
        connect_timeout=10,
    )


def test_a_row_written_via_node1_is_read_via_node2(compose_cluster: ComposeProject) -> None:
    with connect(compose_cluster.host_port("node1", 5432)) as node1:
        node1.execute("CREATE TABLE replicated (id INT PRIMARY KEY, v TEXT)")
        node1.execute("INSERT INTO replicated VALUES (1, 'written via node1')")
    # Reads are linearizable by default: the row is there as soon as COMMIT returned,
    # whichever node is asked, so there is nothing to wait for.
    with connect(compose_cluster.host_port("node2", 5432)) as node2:
        rows = node2.execute("SELECT id, v FROM replicated").fetchall()
    assert rows == [(1, "written via node1")]
