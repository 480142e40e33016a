"""Fixtures for the Raft tests: in-process clusters that are always stopped."""

from __future__ import annotations

import pytest

from .cluster import Cluster


@pytest.fixture
def cluster(tmp_path):
    c = Cluster.create(str(tmp_path))
    c.start()
    yield c
    c.stop()
