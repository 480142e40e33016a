"""Fixtures of the operations tier: real `quorumdb serve` clusters driven by cluster-cli.

`ops_cluster` is one three-node cluster shared by the tests of a module that
leave its membership as they found it (status, SQL, leadership, metrics);
tests that change membership or kill nodes get a cluster of their own
(`own_cluster`). Every process is stopped however the test ends, and the
nodes' logs are printed when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from qdbcluster import ProcessCluster


def _started(root: str) -> ProcessCluster:
    os.makedirs(root, exist_ok=True)
    cluster = ProcessCluster(root).start()
    try:
        cluster.wait_ready()
    except BaseException:
        print(cluster.logs())
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def ops_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessCluster]:
    cluster = _started(str(tmp_path_factory.mktemp("ops")))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_cluster(tmp_path) -> Iterator[ProcessCluster]:
    cluster = _started(str(tmp_path / "cluster"))
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
