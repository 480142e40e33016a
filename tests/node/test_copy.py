"""COPY FROM STDIN / TO STDOUT through psycopg and raw messages (real SQL layer, one process).

Covers the formats (text, CSV with HEADER, DELIMITER, NULL, quoting), the
three load modes of sql/copy.py (autocommit chunks, fresh storage in a
block, transactional), errors with PostgreSQL's CONTEXT line, CopyFail, and
that the session is usable after any of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pgclient import RawClient, error_fields, query_message
from protocol import bind, copy_data, copy_done, copy_fail, execute, kinds, parse, sync
from serverthread import LocalDatabase, ServerThread

from quorumdb.sql import copy as copy_module


@pytest.fixture
def local() -> LocalDatabase:
    return LocalDatabase()


@pytest.fixture
def server(local: LocalDatabase) -> Iterator[ServerThread]:
    with ServerThread(local.open) as srv:
        yield srv


@pytest.fixture
def conn(server: ServerThread) -> Iterator[psycopg.Connection]:
    with psycopg.connect(server.dsn(), autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, name text, note varchar(10) DEFAULT 'dflt')")
        yield c


def copy_in(conn: psycopg.Connection, sql: str, data: bytes) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(data)


def copy_out(conn: psycopg.Connection, sql: str) -> bytes:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        return b"".join(bytes(chunk) for chunk in copy)


def test_text_format_round_trip(conn):
    copy_in(conn, "COPY t FROM STDIN", b"1\tone\tx\n2\t\\N\ttab\\there\n3\tback\\\\slash\t\\N\n")
    assert conn.execute("SELECT id, name, note FROM t ORDER BY id").fetchall() == [
        (1, "one", "x"),
        (2, None, "tab\there"),
        (3, "back\\slash", None),
    ]
    assert copy_out(conn, "COPY t TO STDOUT") == (
        b"1\tone\tx\n2\t\\N\ttab\\there\n3\tback\\\\slash\t\\N\n"
    )


def test_csv_with_header_delimiter_null_and_quotes(conn):
    data = b'id;name;note\n1;"semi;colon";NA\n2;"say ""hi""";\n3;NA;"multi\nline"\n'
    copy_in(conn, "COPY t FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NA')", data)
    assert conn.execute("SELECT id, name, note FROM t ORDER BY id").fetchall() == [
        (1, "semi;colon", None),
        (2, 'say "hi"', ""),
        (3, None, "multi\nline"),
    ]
    out = copy_out(conn, "COPY t TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NA')")
    assert out == b'id;name;note\n1;"semi;colon";NA\n2;"say ""hi""";\n3;NA;"multi\nline"\n'


def test_column_list_uses_defaults(conn):
    copy_in(conn, "COPY t (id, name) FROM STDIN", b"7\tseven\n")
    assert conn.execute("SELECT * FROM t").fetchall() == [(7, "seven", "dflt")]


def test_copy_query_to_stdout(conn):
    conn.execute("INSERT INTO t VALUES (1, 'a', 'b'), (2, 'c', NULL)")
    assert copy_out(conn, "COPY (SELECT id * 10, name FROM t ORDER BY id) TO STDOUT") == (
        b"10\ta\n20\tc\n"
    )


def test_bad_value_reports_line_and_column(conn):
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as info:
        copy_in(conn, "COPY t FROM STDIN", b"1\ta\tb\nx\tb\tc\n")
    diag = info.value.diag
    assert diag.context is not None and 'COPY t, line 2, column id: "x"' in diag.context
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_too_many_and_too_few_columns(conn):
    with pytest.raises(psycopg.errors.BadCopyFileFormat, match="extra data"):
        copy_in(conn, "COPY t FROM STDIN", b"1\ta\tb\tc\n")
    with pytest.raises(psycopg.errors.BadCopyFileFormat, match='missing data for column "note"'):
        copy_in(conn, "COPY t FROM STDIN", b"1\ta\n")


def test_autocommit_copy_commits_in_chunks_and_says_so_when_it_fails(conn, monkeypatch):
    monkeypatch.setattr(copy_module, "CHUNK_ROWS", 100)
    good = b"".join(f"{i}\tn{i}\tx\n".encode() for i in range(1, 251))
    with pytest.raises(psycopg.errors.UniqueViolation) as info:
        copy_in(conn, "COPY t FROM STDIN", good + b"5\tdup\tx\n")
    assert "rows of this COPY were committed before the error" in (info.value.diag.message_detail or "")
    committed = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    assert committed == 200  # two full chunks; the failing one is rolled back


def test_copy_into_a_table_created_in_the_same_block_is_atomic(server, conn, monkeypatch):
    monkeypatch.setattr(copy_module, "CHUNK_ROWS", 50)
    data = b"".join(f"{i}\tv{i}\n".encode() for i in range(500))
    with psycopg.connect(server.dsn(), autocommit=True) as other:
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE fresh (id int, v text)")
        copy_in(conn, "COPY fresh FROM STDIN", data)
        assert conn.execute("SELECT count(*) FROM fresh").fetchone() == (500,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            other.execute("SELECT count(*) FROM fresh")
        conn.execute("ROLLBACK")
        with pytest.raises(psycopg.errors.UndefinedTable):
            other.execute("SELECT count(*) FROM fresh")
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE fresh (id int, v text)")
        copy_in(conn, "COPY fresh FROM STDIN WITH (FREEZE)", data)
        conn.execute("COMMIT")
        assert other.execute("SELECT count(*), min(id), max(id) FROM fresh").fetchone() == (500, 0, 499)


def test_copy_in_a_block_into_an_existing_table_rolls_back_with_it(conn):
    conn.execute("BEGIN")
    copy_in(conn, "COPY t FROM STDIN", b"1\ta\tb\n2\tc\td\n")
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.execute("BEGIN")
    with pytest.raises(psycopg.errors.UniqueViolation):
        copy_in(conn, "COPY t FROM STDIN", b"1\ta\tb\n1\tc\td\n")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_copy_fail_and_the_session_goes_on(server):
    with RawClient(server.port) as client:
        client.startup()
        client.query("CREATE TABLE c (a int)")
        client.send(query_message("COPY c FROM STDIN"))
        assert client.read_message()[0] == "G"
        client.send(copy_data(b"1\n2\n") + copy_fail("client changed its mind"))
        got = client.read_until_ready()
        fields = error_fields(got[0][1])
        assert (fields["C"], fields["M"]) == ("57014", "COPY from stdin failed: client changed its mind")
        assert got[-1] == ("Z", b"I")
        assert client.query("SELECT count(*) FROM c")[1][1].endswith(b"0")


def test_copy_through_the_extended_protocol(server):
    with RawClient(server.port) as client:
        client.startup()
        client.query("CREATE TABLE c (a int, b text)")
        client.send(parse("COPY c FROM STDIN WITH (FORMAT csv)") + bind() + execute())
        assert client.read_message()[0] == "1"
        assert client.read_message()[0] == "2"
        assert client.read_message()[0] == "G"
        client.send(copy_data(b"1,x\n2,") + copy_data(b'"y,z"\n') + copy_done() + sync())
        got = client.read_until_ready()
        assert kinds(got) == "CZ"
        assert got[0][1] == b"COPY 2\0"
        client.send(parse("COPY c TO STDOUT WITH (FORMAT csv)") + bind() + execute() + sync())
        got = client.read_until_ready()
        assert kinds(got) == "12HddcCZ"
        assert [body for kind, body in got if kind == "d"] == [b"1,x\n", b'2,"y,z"\n']


def test_copy_to_or_from_a_file_is_refused(conn):
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute("COPY t FROM '/etc/passwd'")


def test_a_pgbench_style_load_replicates_in_small_entries(server, local, monkeypatch):
    """`pgbench -i`'s shape (BEGIN; TRUNCATE; COPY; COMMIT; then ALTER TABLE ADD PRIMARY
    KEY) with the default limits: every replicated entry stays small, because each is
    applied on every replica's Raft thread, which must never stall near an election
    timeout (a leader change mid-load failed `pgbench -i -s 10` on a busy machine)."""
    from quorumdb.sql.engine.commands import encode

    sizes: list[int] = []
    commit_now = local.engine.commit_now

    def measured(command):  # type: ignore[no-untyped-def]
        sizes.append(len(encode(command)))
        return commit_now(command)

    monkeypatch.setattr(local.engine, "commit_now", measured)
    rows = 20_000
    filler = " " * 84
    data = "".join(f"{i}\t{i % 7}\t0\t{filler}\n" for i in range(1, rows + 1)).encode()
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (aid int NOT NULL, bid int, abalance int, filler char(84))")
        conn.execute("BEGIN")
        conn.execute("TRUNCATE accounts")
        copy_in(conn, "COPY accounts FROM STDIN WITH (FREEZE ON)", data)
        conn.execute("COMMIT")
        assert len(sizes) > 4 and max(sizes) <= 512 << 10, sizes  # the COPY's chunks
        sizes.clear()
        conn.execute("ALTER TABLE accounts ADD PRIMARY KEY (aid)")  # the rewrite's
        assert conn.execute("SELECT count(*), sum(aid) FROM accounts").fetchone() == (
            rows,
            rows * (rows + 1) // 2,
        )
        assert conn.execute("SELECT bid FROM accounts WHERE aid = 700").fetchone() == (0,)
    assert len(sizes) > 4 and max(sizes) <= 512 << 10, sizes
