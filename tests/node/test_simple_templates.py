"""Simple queries that differ only in their numbers, over the wire (sql/literals.py,
sql/client.py): one parse for all of them, each with its own rows and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgclient import RawClient, error_fields, parse_data_row
from protocol import kinds
from serverthread import LocalDatabase, ServerThread


@pytest.fixture
def local() -> LocalDatabase:
    return LocalDatabase()


@pytest.fixture
def client(local: LocalDatabase) -> Iterator[RawClient]:
    with ServerThread(local.open) as server, RawClient(server.port) as c:
        c.startup()
        c.query("CREATE TABLE acc (aid int PRIMARY KEY, abalance int)")
        c.query("INSERT INTO acc SELECT g, g * 10 FROM generate_series(1, 100) g")
        yield c


def test_one_parse_serves_every_query_of_the_same_shape(client, local):
    client.query("SELECT abalance FROM acc WHERE aid = 1")
    parses = local.db.plans.stats.parses
    for aid in range(2, 101):
        got = client.query(f"UPDATE acc SET abalance = abalance + -{aid} WHERE aid = {aid}")
        assert kinds(got) == "CZ"
        got = client.query(f"SELECT abalance FROM acc WHERE aid = {aid}")
        assert kinds(got) == "TDCZ"
        assert parse_data_row(got[1][1]) == [str(aid * 9).encode()]
    assert local.db.plans.stats.parses == parses + 1  # the UPDATE's template


def test_errors_keep_the_query_s_own_position(client):
    client.query("SELECT aid FROM acc WHERE aid = 1 AND abalance = 10")
    client.query("ALTER TABLE acc DROP COLUMN abalance")
    sql = "SELECT aid FROM acc WHERE aid = 123456 AND abalance = 10"
    got = client.query(sql)
    assert kinds(got) == "EZ"
    fields = error_fields(got[0][1])
    assert fields["C"] == "42703"
    assert int(fields["P"]) == sql.index("abalance") + 1
