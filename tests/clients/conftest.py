"""Fixtures for the client-compatibility tests: one real three-node cluster per package.

Starting a cluster costs seconds, so every test module here shares one
(`cluster`); tests use their own table names. `endpoints` gives a DSN-ish
view of the leader and of a follower, so each client is exercised both
directly and through a follower's relay.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from qdbcluster import ProcessCluster


@dataclass(frozen=True)
class Endpoint:
    """One node of the shared cluster, as clients see it."""

    name: str  # "leader" or "follower"
    host: str
    port: int
    user: str = "test"
    dbname: str = "test"

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname} connect_timeout=10"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


@pytest.fixture(scope="package")
def cluster() -> Iterator[ProcessCluster]:
    root = tempfile.mkdtemp(prefix="qdb-clients-")
    c = ProcessCluster(root).start()
    try:
        c.wait_ready()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def leader(cluster: ProcessCluster) -> Endpoint:
    index = cluster.wait_leader()
    return Endpoint("leader", "127.0.0.1", cluster.nodes[index].pg_port)


@pytest.fixture(scope="package")
def follower(cluster: ProcessCluster) -> Endpoint:
    index = cluster.wait_leader()
    other = next(n for n in cluster.nodes if n.index != index)
    return Endpoint("follower", "127.0.0.1", other.pg_port)


@pytest.fixture(params=["leader", "follower"], scope="package")
def node(request: pytest.FixtureRequest, leader: Endpoint, follower: Endpoint) -> Endpoint:
    """Each test runs against the leader and through a follower (relayed)."""
    return leader if request.param == "leader" else follower
