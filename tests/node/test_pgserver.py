"""The PostgreSQL server over real sockets, with a fake SQL session (tests/fakesession.py).

The server runs on its own event loop in a thread; the tests are blocking
clients: the raw protocol client of tests/pgclient.py, psycopg and psql.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator

import psycopg
import pytest
from fakesession import FakeDatabase
from pgclient import (
    RawClient,
    cancel_request,
    error_fields,
    gssenc_request,
    message,
    parse_data_row,
    parse_row_description,
    query_message,
    ssl_request,
    startup_packet,
    terminate_message,
)
from support import wait_until

from quorumdb.node.pgserver import PgServer, _Replies
from quorumdb.storage.errors import QuorumError


class ServerThread:
    """A PgServer on port 0, served by an event loop in a background thread."""

    def __init__(self, db: FakeDatabase, **options: object) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.server = PgServer(db.open, host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.run(self.server.start())
        self.port = self.server.address[1]
        return self

    def run(self, coro, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):  # type: ignore[no-untyped-def]
        async def invoke():  # type: ignore[no-untyped-def]
            return fn(*args)

        return self.run(invoke())

    def release_waiters(self) -> None:
        def release() -> None:
            if self.db.release is None:
                self.db.release = asyncio.Event()
            self.db.release.set()

        self.loop.call_soon_threadsafe(release)

    def stop(self) -> None:
        self.run(self.server.stop(), timeout=30)

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def server(db: FakeDatabase) -> Iterator[ServerThread]:
    with ServerThread(db) as srv:
        yield srv


def kinds(messages: list[tuple[str, bytes]]) -> str:
    return "".join(kind for kind, _ in messages)


def connect(server: ServerThread) -> RawClient:
    client = RawClient(server.port)
    client.startup()
    return client


# ---- startup ---------------------------------------------------------------------------


def test_startup_announces_parameters_key_data_and_ready(server, db):
    with RawClient(server.port) as client:
        messages = client.startup(user="alice", database="shop", application_name="t")
        assert messages[0] == ("R", struct.pack("!i", 0))
        params = dict(body[:-1].decode().split("\0", 1) for kind, body in messages if kind == "S")
        assert params == db.sessions[0].parameter_status()
        [key] = [body for kind, body in messages if kind == "K"]
        assert len(key) == 8
        assert messages[-1] == ("Z", b"I")
        assert kinds(messages) == "R" + "S" * len(params) + "KZ"
    assert (db.sessions[0].user, db.sessions[0].database) == ("alice", "shop")


def test_backend_keys_are_unique_per_connection(server):
    keys = set()
    clients = []
    for _ in range(5):
        client = RawClient(server.port)
        clients.append(client)
        [key] = [body for kind, body in client.startup() if kind == "K"]
        keys.add(struct.unpack("!i", key[:4])[0])
    assert len(keys) == 5
    for client in clients:
        client.close()


def test_database_defaults_to_the_user_name(server, db):
    with RawClient(server.port) as client:
        client.send(startup_packet({"user": "bob"}))
        assert client.read_until_ready()[-1] == ("Z", b"I")
    assert db.sessions[0].database == "bob"


def test_missing_user_is_refused_with_28000(server, db):
    with RawClient(server.port) as client:
        client.send(startup_packet({"database": "x"}))
        kind, body = client.read_message()
        assert kind == "E"
        assert error_fields(body)["C"] == "28000"
        assert error_fields(body)["S"] == "FATAL"
        assert client.at_eof()
    assert db.sessions == []


def test_session_factory_error_is_fatal_at_startup(server, db):
    db.refuse = QuorumError('database "nope" does not exist', sqlstate="3D000")
    with RawClient(server.port) as client:
        client.send(startup_packet({"user": "u", "database": "nope"}))
        messages = []
        while not (messages and messages[-1][0] == "E"):
            messages.append(client.read_message())
        assert kinds(messages) == "RE"
        fields = error_fields(messages[-1][1])
        assert (fields["S"], fields["C"]) == ("FATAL", "3D000")
        assert client.at_eof()


def test_unsupported_protocol_version_is_refused(server):
    with RawClient(server.port) as client:
        client.send(startup_packet({"user": "u"}, protocol=2 << 16))
        kind, body = client.read_message()
        assert (kind, error_fields(body)["C"]) == ("E", "0A000")
        assert client.at_eof()


def test_newer_minor_version_gets_negotiate_protocol_version(server):
    with RawClient(server.port) as client:
        client.send(startup_packet({"user": "u", "_pq_.future": "1"}, protocol=(3 << 16) | 2))
        messages = client.read_until_ready()
        assert messages[0][0] == "v"
        assert messages[0][1] == struct.pack("!ii", 0, 1) + b"_pq_.future\0"
        assert kinds(messages[1:3]) == "RS"
        assert client.query("insert")[-1] == ("Z", b"I")


# ---- SSL / GSS negotiation -------------------------------------------------------------------


def test_ssl_request_is_refused_with_n_and_startup_continues(server, db):
    with RawClient(server.port) as client:
        client.send(ssl_request())
        assert client.read_byte() == b"N"
        assert client.startup()[-1] == ("Z", b"I")
        assert kinds(client.query("insert")) == "CZ"


def test_gssenc_then_ssl_requests_are_both_refused(server):
    with RawClient(server.port) as client:
        client.send(gssenc_request())
        assert client.read_byte() == b"N"
        client.send(ssl_request())
        assert client.read_byte() == b"N"
        assert client.startup()[-1] == ("Z", b"I")


def test_a_second_ssl_request_is_a_protocol_violation(server):
    with RawClient(server.port) as client:
        client.send(ssl_request())
        assert client.read_byte() == b"N"
        client.send(ssl_request())
        kind, body = client.read_message()
        assert (kind, error_fields(body)["C"]) == ("E", "08P01")
        assert client.at_eof()


def test_bytes_pipelined_after_ssl_request_are_never_executed(server, db):
    with RawClient(server.port) as client:
        client.send(ssl_request() + startup_packet({"user": "mallory"}) + query_message("insert"))
        assert client.read_byte() == b"N"
        kind, body = client.read_message()
        fields = error_fields(body)
        assert (kind, fields["S"], fields["C"]) == ("E", "FATAL", "08P01")
        assert "unencrypted data after SSL request" in fields["M"]
        assert client.at_eof()
    assert db.sessions == []


def test_libpq_with_sslmode_prefer_falls_back_to_plaintext(server):
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="u", dbname="d", sslmode="prefer"
    ) as conn:
        assert conn.pgconn.ssl_in_use is False
        assert conn.execute("rows 1").fetchall() == [(0, "name-0", "n0")]


# ---- queries ---------------------------------------------------------------------------------


def test_rows_are_described_and_streamed(server):
    with connect(server) as client:
        messages = client.query("rows 4")
        assert kinds(messages) == "TDDDDCZ"
        fields = parse_row_description(messages[0][1])
        assert [(f.name, f.type_oid, f.type_size, f.type_modifier, f.format) for f in fields] == [
            ("id", 23, 4, -1, 0),
            ("name", 25, -1, -1, 0),
            ("note", 1043, -1, 14, 0),
        ]
        assert [parse_data_row(body) for kind, body in messages if kind == "D"] == [
            [b"0", b"name-0", b"n0"],
            [b"1", b"name-1", b"n1"],
            [b"2", b"name-2", None],
            [b"3", b"name-3", b"n3"],
        ]
        assert messages[-2] == ("C", b"SELECT 4\0")


def test_a_large_result_is_streamed_completely(server):
    with connect(server) as client:
        messages = client.query("rows 30000")
        assert kinds(messages) == "T" + "D" * 30000 + "CZ"
        assert parse_data_row(messages[-3][1])[0] == b"29999"


def test_several_statements_in_one_query(server):
    with connect(server) as client:
        messages = client.query("insert; rows 1; begin")
        assert kinds(messages) == "CTDCCZ"
        assert [body for kind, body in messages if kind == "C"] == [
            b"INSERT 0 1\0",
            b"SELECT 1\0",
            b"BEGIN\0",
        ]
        assert messages[-1] == ("Z", b"T")


def test_ready_for_query_reports_i_t_e(server):
    with connect(server) as client:
        assert client.query("begin")[-1] == ("Z", b"T")
        assert client.query("insert")[-1] == ("Z", b"T")
        assert client.query("error 23505")[-1] == ("Z", b"E")
        messages = client.query("insert")
        assert kinds(messages) == "EZ"
        assert error_fields(messages[0][1])["C"] == "25P02"
        assert messages[-1] == ("Z", b"E")
        assert client.query("rollback") == [("C", b"ROLLBACK\0"), ("Z", b"I")]


def test_error_response_fields_and_the_session_stays_usable(server, db):
    with connect(server) as client:
        messages = client.query("insert; error 23505; insert")
        assert kinds(messages) == "CEZ"
        assert error_fields(messages[1][1]) == {
            "S": "ERROR",
            "V": "ERROR",
            "C": "23505",
            "M": "fake failure",
            "D": "the detail",
            "H": "the hint",
            "P": "3",
        }
        assert messages[-1] == ("Z", b"I")
        assert db.sessions[0].executed == ["insert", "error 23505"]  # the third never ran
        assert kinds(client.query("rows 1")) == "TDCZ"


def test_error_while_rows_are_streamed(server):
    with connect(server) as client:
        client.query("begin")
        messages = client.query("rowerror 2; insert")
        assert kinds(messages) == "TDDEZ"
        assert error_fields(messages[3][1])["C"] == "22012"
        assert messages[-1] == ("Z", b"E")


def test_syntax_error_position(server):
    with connect(server) as client:
        messages = client.query("bogus")
        fields = error_fields(messages[0][1])
        assert (fields["C"], fields["P"]) == ("42601", "1")


def test_empty_query_response(server):
    with connect(server) as client:
        assert client.query("") == [("I", b""), ("Z", b"I")]
        assert client.query("  ;  ") == [("I", b""), ("Z", b"I")]


def test_notices_come_before_their_result(server):
    with connect(server) as client:
        messages = client.query("notice careful; insert")
        assert kinds(messages) == "NCCZ"
        fields = error_fields(messages[0][1])
        assert (fields["S"], fields["C"], fields["M"]) == ("NOTICE", "00000", "careful")


def test_changed_parameters_are_announced_before_ready(server):
    with connect(server) as client:
        messages = client.query("set application_name reporting")
        assert kinds(messages) == "CSZ"
        assert messages[1][1] == b"application_name\0reporting\0"
        assert kinds(client.query("insert")) == "CZ"


def test_invalid_utf8_in_a_query_is_an_error_not_a_disconnect(server, db):
    with connect(server) as client:
        messages = client.query(b"insert \xff")
        assert kinds(messages) == "EZ"
        assert error_fields(messages[0][1])["C"] == "22021"
        assert kinds(client.query("insert")) == "CZ"


def test_extended_protocol_is_refused_until_sync_and_the_session_goes_on(server, db):
    with connect(server) as client:
        client.send(
            message(b"P", b"\0select 1\0\0\0")
            + message(b"B", b"\0\0\0\0\0\0\0\0")
            + message(b"E", b"\0\0\0\0\0")
            + query_message("insert")  # discarded: still waiting for Sync
            + message(b"S", b"")
        )
        messages = client.read_until_ready()
        assert kinds(messages) == "EZ"
        assert error_fields(messages[0][1])["C"] == "0A000"
        assert db.sessions[0].executed == []
        assert kinds(client.query("insert")) == "CZ"


def test_psycopg_against_the_fake_session(server):
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="u", dbname="d", autocommit=True
    ) as conn:
        rows = conn.execute("rows 3").fetchall()
        assert rows == [(0, "name-0", "n0"), (1, "name-1", "n1"), (2, "name-2", None)]
        with pytest.raises(psycopg.errors.UniqueViolation) as err:
            conn.execute("error 23505")
        assert err.value.sqlstate == "23505"
        assert err.value.diag.message_detail == "the detail"
        assert conn.execute("rows 1").fetchone() == (0, "name-0", "n0")
        assert conn.info.parameter_status("server_version") is not None
        # Server-side parameters need the extended protocol: refused cleanly, for now.
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("rows %s", (1,))
        assert conn.execute("rows 1").fetchone() == (0, "name-0", "n0")
        with conn.cursor() as cur:
            cur.execute("insert")
            assert cur.statusmessage == "INSERT 0 1"


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")
def test_psql_against_the_fake_session(server):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(server.port), "-U", "any", "-d", "any",
         "-X", "-A", "-t", "-c", "rows 2"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["0|name-0|n0", "1|name-1|n1"]


# ---- end of a connection ---------------------------------------------------------------------


def test_terminate_closes_cleanly_and_rolls_back(server, db):
    with connect(server) as client:
        client.query("begin")
        client.send(terminate_message())
        assert client.at_eof()
    wait_until(lambda: db.sessions[0].closed, message="session closed")
    assert db.sessions[0].status_at_close == "T"


def test_a_reply_pending_at_terminate_is_written_before_the_close(server, db):
    # The reply to a query is written at the event loop's next iteration; a Terminate
    # in the same read closes the connection first, and the reply must not be lost.
    with connect(server) as client:
        client.send(query_message("rows 2") + terminate_message())
        assert kinds([client.read_message() for _ in range(5)]) == "TDDCZ"
        assert client.at_eof()
    wait_until(lambda: db.sessions[0].closed, message="session closed")


def test_the_replies_to_one_read_share_one_write(server):
    writes: list[int] = []

    def count_writes() -> None:
        (connection,) = server.server._tasks.values()  # noqa: SLF001 - observing the transport
        transport = connection._writer.transport  # noqa: SLF001
        write = transport.write

        def counted(data: bytes) -> None:
            writes.append(len(data))
            write(data)

        transport.write = counted

    with connect(server) as client:
        server.call(count_writes)
        client.send(b"".join(query_message(f"rows {n}") for n in range(1, 21)))
        replies = [client.read_until_ready() for _ in range(20)]
        assert [len(reply) for reply in replies] == [n + 3 for n in range(1, 21)]
        assert len(writes) == 1, writes
        # A lone query is answered as promptly as ever.
        assert kinds(client.query("rows 1")) == "TDCZ"
        assert len(writes) == 2
        # Inside a transaction block (locks may be held) every reply is written at once.
        client.send(query_message("begin") + query_message("rows 1") + query_message("rows 2"))
        assert [kinds(client.read_until_ready()) for _ in range(3)] == ["CZ", "TDCZ", "TDDCZ"]
        assert len(writes) == 5


def test_a_reply_that_cannot_be_written_does_not_hold_back_the_others():
    written: list[str] = []

    class Connection:
        def __init__(self, name: str) -> None:
            self.name = name

        def write_reply(self) -> None:
            if self.name == "broken":
                raise RuntimeError("transport in a bad state")
            written.append(self.name)

        def _fields(self) -> dict[str, object]:
            return {}

    async def burst() -> None:
        replies = _Replies()
        for name in ("first", "broken", "last"):
            replies.add(Connection(name))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the loop's next iteration writes them

    asyncio.run(burst())
    assert written == ["first", "last"]


def test_client_vanishing_mid_transaction_closes_the_session(server, db):
    client = connect(server)
    client.query("begin")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST, no Terminate
    wait_until(lambda: db.sessions[0].closed, message="session closed")
    assert db.sessions[0].status_at_close == "T"
    assert server.server.connection_count == 0


def test_client_vanishing_mid_query_closes_the_session(server, db):
    client = connect(server)
    client.query("begin")
    client.send(query_message("wait; rows 50000"))
    wait_until(lambda: server.call(lambda: db.waiting) == 1, message="statement running")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    server.release_waiters()
    wait_until(lambda: db.sessions[0].closed, message="session closed")
    assert db.sessions[0].status_at_close == "T"
    assert server.server.connection_count == 0


def test_other_connections_run_while_one_statement_waits(server, db):
    with connect(server) as waiting, connect(server) as other:
        waiting.send(query_message("wait"))
        wait_until(lambda: server.call(lambda: db.waiting) == 1, message="statement running")
        assert kinds(other.query("rows 2")) == "TDDCZ"
        server.release_waiters()
        assert waiting.read_until_ready() == [("C", b"WAITED\0"), ("Z", b"I")]


# ---- malformed input ---------------------------------------------------------------------------


def assert_fatal_08p01(client: RawClient) -> None:
    kind, body = client.read_message()
    fields = error_fields(body)
    assert (kind, fields["S"], fields["C"]) == ("E", "FATAL", "08P01")
    assert client.at_eof()


def test_oversized_startup_packet_is_refused_and_others_are_still_served(server, db):
    with RawClient(server.port) as bad, connect(server) as good:
        bad.send(struct.pack("!ii", 10_001, 196608))
        assert_fatal_08p01(bad)
        assert kinds(good.query("insert")) == "CZ"
    with connect(server) as later:
        assert kinds(later.query("insert")) == "CZ"


def test_startup_length_below_minimum(server):
    with RawClient(server.port) as client:
        client.send(struct.pack("!i", 3))
        assert_fatal_08p01(client)


def test_http_request_instead_of_startup(server):
    with RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_fatal_08p01(client)


def test_unknown_message_type_after_startup(server, db):
    with connect(server) as client:
        client.send(b"z\x00\x00\x00\x04")
        assert_fatal_08p01(client)
    wait_until(lambda: db.sessions[0].closed, message="session closed")


def test_message_length_below_four_after_startup(server):
    with connect(server) as client:
        client.send(b"Q\x00\x00\x00\x02")
        assert_fatal_08p01(client)


def test_garbage_after_startup_never_reaches_the_session(server, db):
    with connect(server) as client:
        client.send(bytes(range(256)) * 4)
        assert_fatal_08p01(client)
    assert db.sessions[0].executed == []
    with connect(server) as again:
        assert kinds(again.query("insert")) == "CZ"


def test_client_closing_during_startup(server, db):
    with RawClient(server.port) as client:
        client.send(startup_packet({"user": "u"})[:7])
    with connect(server) as other:
        assert kinds(other.query("insert")) == "CZ"
    assert len(db.sessions) == 1


# ---- limits, cancel, shutdown -----------------------------------------------------------------------


def test_max_connections_refuses_with_53300(db):
    with ServerThread(db, max_connections=2) as server:
        first, second = connect(server), connect(server)
        with RawClient(server.port) as third:
            third.send(startup_packet({"user": "u"}))
            kind, body = third.read_message()
            fields = error_fields(body)
            assert (kind, fields["S"], fields["C"]) == ("E", "FATAL", "53300")
            assert third.at_eof()
        second.send(terminate_message())
        assert second.at_eof()
        second.close()
        wait_until(lambda: server.server.connection_count == 1, message="slot released")
        with connect(server) as fourth:
            assert kinds(fourth.query("insert")) == "CZ"
        first.close()


def test_cancel_request_is_answered_by_closing(server):
    with connect(server) as client:
        with RawClient(server.port) as canceller:
            canceller.send(cancel_request(1, 12345))
            assert canceller.at_eof()
        assert kinds(client.query("insert")) == "CZ"


def test_cancel_registry_finds_connections_only_with_the_right_secret(server):
    with RawClient(server.port) as client:
        [key] = [body for kind, body in client.startup() if kind == "K"]
        pid, secret = struct.unpack("!ii", key)
        registry = server.server.registry
        assert server.call(registry.find, pid, secret) is not None
        assert server.call(registry.find, pid, secret ^ 1) is None
        assert server.call(registry.find, pid + 1000, secret) is None
        client.send(terminate_message())
        assert client.at_eof()
    wait_until(lambda: server.call(len, registry) == 0, message="unregistered")


def test_stop_ends_idle_connections_with_57p01_and_closes_sessions(db):
    with ServerThread(db) as server:
        clients = [connect(server) for _ in range(3)]
        clients[0].query("begin")
        server.stop()
        for client in clients:
            kind, body = client.read_message()
            assert (kind, error_fields(body)["C"]) == ("E", "57P01")
            assert client.at_eof()
            client.close()
        assert all(session.closed for session in db.sessions)
        assert db.sessions[0].status_at_close == "T"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_stop_lets_a_running_statement_finish(db):
    with ServerThread(db) as server:
        client = connect(server)
        client.send(query_message("wait"))
        wait_until(lambda: server.call(lambda: db.waiting) == 1, message="statement running")
        stopping = asyncio.run_coroutine_threadsafe(server.server.stop(), server.loop)
        server.release_waiters()
        stopping.result(10)
        assert client.read_until_ready() == [("C", b"WAITED\0"), ("Z", b"I")]
        kind, body = client.read_message()
        assert (kind, error_fields(body)["C"]) == ("E", "57P01")
        assert client.at_eof()
        client.close()
        assert db.sessions[0].closed


def test_a_client_that_stops_reading_gets_backpressure_and_others_are_served(server):
    def write_buffers() -> list[int]:
        connections = server.server._tasks.values()  # noqa: SLF001 - observing the transport
        return [c._writer.transport.get_write_buffer_size() for c in connections]  # noqa: SLF001

    with connect(server) as slow:
        slow.send(query_message("rows 200000"))  # several MB of DataRows, not read yet
        wait_until(lambda: max(server.call(write_buffers)) > 0, message="server blocked in drain")
        with connect(server) as other:
            assert kinds(other.query("rows 2")) == "TDDCZ"
        assert max(server.call(write_buffers)) < 1 << 20
        messages = slow.read_until_ready()
        assert len(messages) == 200000 + 3
        assert messages[-2] == ("C", b"SELECT 200000\0")
