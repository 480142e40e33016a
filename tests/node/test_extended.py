"""The extended query protocol against the real SQL layer (in-memory store, one process).

Messages are hand-packed (tests/node/protocol.py) so every field the server
sends can be checked: ParseComplete/BindComplete/CloseComplete, parameter
types inferred or declared, RowDescription formats, PortalSuspended, binary
values, errors that skip to Sync and the implicit transaction Sync ends.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pgclient import RawClient, error_fields, parse_data_row, parse_row_description
from protocol import bind, close, describe, execute, flush, kinds, parameter_oids, parse, sync
from serverthread import LocalDatabase, ServerThread

from quorumdb.sql import binaryio


@pytest.fixture
def local() -> LocalDatabase:
    return LocalDatabase()


@pytest.fixture
def server(local: LocalDatabase) -> Iterator[ServerThread]:
    with ServerThread(local.open) as srv:
        yield srv


@pytest.fixture
def client(server: ServerThread) -> Iterator[RawClient]:
    with RawClient(server.port) as c:
        c.startup()
        c.query("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2), ok bool)")
        c.query("INSERT INTO items VALUES (1, 'one', 1.50, true), (2, 'two', 2.25, false), (3, NULL, NULL, NULL)")
        yield c


def exchange(client: RawClient, *messages: bytes) -> list[tuple[str, bytes]]:
    client.send(b"".join(messages))
    return client.read_until_ready()


def rows(messages: list[tuple[str, bytes]]) -> list[list[bytes | None]]:
    return [parse_data_row(body) for kind, body in messages if kind == "D"]


def tag(messages: list[tuple[str, bytes]]) -> str:
    [body] = [body for kind, body in messages if kind == "C"]
    return body[:-1].decode()


def test_parse_bind_describe_execute_sync(client):
    got = exchange(
        client,
        parse("SELECT id, name FROM items WHERE id = $1"),
        bind([b"2"]),
        describe("P"),
        execute(),
        sync(),
    )
    assert kinds(got) == "12TDCZ"
    fields = parse_row_description(got[2][1])
    assert [(f.name, f.type_oid, f.format) for f in fields] == [("id", 23, 0), ("name", 25, 0)]
    assert rows(got) == [[b"2", b"two"]]
    assert tag(got) == "SELECT 1"
    assert got[-1] == ("Z", b"I")


def test_parameter_types_are_inferred_from_context_and_unknown_is_text(client):
    got = exchange(
        client,
        parse("SELECT name FROM items WHERE id = $1 AND name <> $2 AND $3 IS NULL", "s1"),
        describe("S", "s1"),
        sync(),
    )
    assert kinds(got) == "1tTZ"
    assert parameter_oids(got[1][1]) == [23, 25, 25]


def test_untyped_parameters_get_the_column_type_modifier(client):
    """As in PostgreSQL: an untyped parameter assigned to char(n), varchar(n) or
    numeric(p,s) is padded, length-checked and rounded like any assigned value
    (psycopg's %s and pgbench -M extended send untyped parameters)."""
    client.query("CREATE TABLE mods (id int PRIMARY KEY, c char(5), v varchar(3), n numeric(5,2))")
    insert = parse("INSERT INTO mods VALUES ($1, $2, $3, $4)", "ins")
    got = exchange(client, insert, bind([b"1", b"ab", b"ab", b"1.234"], statement="ins"), execute(), sync())
    assert kinds(got) == "12CZ"
    update = parse("UPDATE mods SET c = $1, n = $2 WHERE id = 1")
    assert kinds(exchange(client, update, bind([b"x", b"2.345"]), execute(), sync())) == "12CZ"
    got = exchange(client, parse("SELECT c, v, n FROM mods"), bind(), execute(), sync())
    assert rows(got) == [[b"x    ", b"ab", b"2.35"]]
    got = exchange(client, bind([b"2", b"ab", b"abcd", b"1"], statement="ins"), execute(), sync())
    [error] = [body for kind, body in got if kind == "E"]
    assert error_fields(error)["C"] == "22001"


def test_declared_parameter_types_win(client):
    got = exchange(client, parse("SELECT $1", "s2", [20]), describe("S", "s2"), sync())
    assert parameter_oids(got[1][1]) == [20]
    assert parse_row_description(got[2][1])[0].type_oid == 20


def test_describe_statement_without_rows_is_nodata(client):
    got = exchange(
        client, parse("INSERT INTO items VALUES ($1, $2, $3, $4)", "ins"), describe("S", "ins"), sync()
    )
    assert kinds(got) == "1tnZ"
    assert parameter_oids(got[1][1]) == [23, 25, 1700, 16]


def test_named_statement_is_reused_and_closed(client, local):
    exchange(client, parse("SELECT name FROM items WHERE id = $1", "byid"), sync())
    parses = local.db.plans.stats.parses
    for i in (1, 2, 1):
        got = exchange(client, bind([str(i).encode()], statement="byid"), execute(), sync())
        assert kinds(got) == "2DCZ"
    assert local.db.plans.stats.parses == parses  # Bind never parses again
    got = exchange(client, close("S", "byid"), sync())
    assert kinds(got) == "3Z"
    got = exchange(client, bind([b"1"], statement="byid"), execute(), sync())
    assert kinds(got) == "EZ"
    assert error_fields(got[0][1])["C"] == "26000"


def test_duplicate_statement_name_is_42p05(client):
    exchange(client, parse("SELECT 1", "dup"), sync())
    got = exchange(client, parse("SELECT 2", "dup"), sync())
    assert error_fields(got[0][1])["C"] == "42P05"


def test_row_limit_suspends_the_portal(client):
    got = exchange(
        client,
        parse("SELECT id FROM items ORDER BY id"),
        bind(),
        execute(max_rows=2),
        execute(max_rows=2),
        sync(),
    )
    assert kinds(got) == "12DDsDCZ"
    assert [r[0] for r in rows(got)] == [b"1", b"2", b"3"]
    assert tag(got) == "SELECT 1"


def test_named_portal_survives_until_the_transaction_ends(client):
    got = exchange(
        client,
        parse("BEGIN", "b"),
        bind(statement="b"),
        execute(),
        parse("SELECT id FROM items ORDER BY id", "q"),
        bind(portal="cur", statement="q"),
        execute("cur", 1),
        sync(),
    )
    assert kinds(got) == "12C12DsZ"
    assert got[-1] == ("Z", b"T")
    got = exchange(client, execute("cur", 5), sync())
    assert kinds(got) == "DDCZ"
    exchange(client, parse("COMMIT"), bind(), execute(), sync())
    got = exchange(client, execute("cur", 5), sync())
    assert error_fields(got[0][1])["C"] == "34000"


def test_binary_results_and_parameters(client):
    got = exchange(
        client,
        parse("SELECT id, name, price, ok, id::int8 * 10, 1.5::float8 FROM items WHERE id = $1"),
        bind([struct.pack("!i", 1)], formats=[1], result_formats=[1]),
        describe("P"),
        execute(),
        sync(),
    )
    assert kinds(got) == "12TDCZ"
    assert {f.format for f in parse_row_description(got[2][1])} == {1}
    [cells] = rows(got)
    assert struct.unpack("!i", cells[0]) == (1,)
    assert cells[1] == b"one"
    assert binaryio.decoder(1700)(cells[2]) == Decimal("1.50")
    assert cells[3] == b"\x01"
    assert struct.unpack("!q", cells[4]) == (10,)
    assert struct.unpack("!d", cells[5]) == (1.5,)


def test_per_column_result_formats(client):
    got = exchange(
        client,
        parse("SELECT id, name FROM items WHERE id = 2"),
        bind(result_formats=[1, 0]),
        execute(),
        sync(),
    )
    assert rows(got) == [[struct.pack("!i", 2), b"two"]]


def test_bad_binary_parameter_is_22p03(client):
    got = exchange(
        client,
        parse("SELECT $1::int4"),
        bind([b"\x00\x01"], formats=[1]),
        execute(),
        sync(),
    )
    assert kinds(got) == "1EZ"
    fields = error_fields(got[1][1])
    assert fields["C"] == "22P03"
    assert "bind parameter 1" in fields["M"]


def test_bad_text_parameter_is_the_type_input_error(client):
    got = exchange(client, parse("SELECT name FROM items WHERE id = $1"), bind([b"x"]), execute(), sync())
    assert error_fields(got[1][1])["C"] == "22P02"


def test_wrong_parameter_count_is_an_error_not_a_disconnect(client):
    got = exchange(client, parse("SELECT $1::int4"), bind([]), execute(), sync())
    assert kinds(got) == "1EZ"
    fields = error_fields(got[1][1])
    assert (fields["S"], fields["C"]) == ("ERROR", "08P01")
    assert exchange(client, parse("SELECT 1"), bind(), execute(), sync())[-1] == ("Z", b"I")


def test_an_error_skips_everything_up_to_sync(client):
    got = exchange(
        client,
        parse("SELEC 1"),
        bind(),
        describe("P"),
        execute(),
        flush(),
        sync(),
    )
    assert kinds(got) == "EZ"
    assert error_fields(got[0][1])["C"] == "42601"


def test_sync_commits_the_implicit_transaction_and_an_error_rolls_it_back(client):
    got = exchange(
        client,
        parse("INSERT INTO items (id, name) VALUES ($1, $2)", "ins"),
        bind([b"10", b"ten"], statement="ins"),
        execute(),
        bind([b"1", b"dup"], statement="ins"),  # duplicate key: the whole batch rolls back
        execute(),
        sync(),
    )
    assert kinds(got) == "12C2EZ"
    assert error_fields(got[-2][1])["C"] == "23505"
    got = client.query("SELECT count(*) FROM items WHERE id = 10")
    assert rows(got) == [[b"0"]]
    got = exchange(client, bind([b"11", b"eleven"], statement="ins"), execute(), sync())
    assert tag(got) == "INSERT 0 1"
    assert rows(client.query("SELECT name FROM items WHERE id = 11")) == [[b"eleven"]]


def test_error_in_a_block_aborts_it_until_rollback(client):
    client.query("BEGIN")
    got = exchange(client, parse("SELECT 1/0"), bind(), execute(), sync())
    assert got[-1] == ("Z", b"E")
    got = exchange(client, parse("SELECT 1"), bind(), execute(), sync())
    assert error_fields(got[0][1])["C"] == "25P02"
    got = exchange(client, parse("ROLLBACK"), bind(), execute(), sync())
    assert tag(got) == "ROLLBACK" and got[-1] == ("Z", b"I")


def test_empty_query(client):
    got = exchange(client, parse(""), bind(), describe("P"), execute(), sync())
    assert kinds(got) == "12nIZ"


def test_flush_sends_what_is_pending(client):
    client.send(parse("SELECT 1", "f") + flush())
    assert client.read_message()[0] == "1"
    client.send(sync())
    assert client.read_until_ready()[-1] == ("Z", b"I")


def test_utility_statements_through_the_extended_protocol(client):
    got = exchange(client, parse("SET application_name = 'x'"), bind(), describe("P"), execute(), sync())
    assert kinds(got) == "12nCSZ"
    got = exchange(client, parse("SHOW application_name"), bind(), describe("P"), execute(), sync())
    assert kinds(got) == "12TDCZ"
    assert rows(got) == [[b"x"]]


def test_catalog_change_replans_without_reparsing(client):
    exchange(client, parse("SELECT name FROM items WHERE id = $1", "p"), sync())
    client.query("CREATE TABLE other (x int)")
    got = exchange(client, bind([b"1"], statement="p"), execute(), sync())
    assert rows(got) == [[b"one"]]
    client.query("ALTER TABLE items ADD COLUMN extra int")
    got = exchange(client, bind([b"1"], statement="p"), execute(), sync())
    assert rows(got) == [[b"one"]]
