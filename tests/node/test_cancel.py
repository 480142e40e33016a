"""CancelRequest, long queries off the event loop, connection limits (real SQL layer).

A long query (one whose plan does not bound its cost) runs on a worker
thread: other sessions keep being served while it runs, and a CancelRequest
stops it with 57014 well within a second. A statement waiting for a row lock
is cancelled the same way.

The server runs in this process, so the cancelled sessions use the raw
client (which knows its BackendKeyData): libpq's PQcancel, which psycopg
calls, blocks without releasing the GIL and would stall the server's thread.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from pgclient import RawClient, cancel_request, error_fields, parse_data_row, startup_packet
from serverthread import LocalDatabase, ServerThread
from support import wait_until

LONG_QUERY = "SELECT count(*) FROM generate_series(1, 200000000) AS g(i) WHERE i % 7 = 3"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    local = LocalDatabase()
    with ServerThread(local.open) as srv:
        yield srv


class Session:
    """A raw-protocol session that remembers its BackendKeyData."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client = RawClient(port, timeout=60)
        messages = self.client.startup()
        [key] = [body for kind, body in messages if kind == "K"]
        self.pid, self.secret = struct.unpack("!ii", key)

    def query_in_thread(self, sql: str) -> tuple[threading.Thread, dict]:
        outcome: dict = {}

        def target() -> None:
            outcome["messages"] = self.client.query(sql)
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread, outcome

    def cancel(self, secret: int | None = None) -> None:
        with RawClient(self.port) as raw:
            raw.send(cancel_request(self.pid, self.secret if secret is None else secret))
            assert raw.at_eof()

    def cancel_and_check(self, thread: threading.Thread, outcome: dict) -> None:
        """Cancel the statement `query_in_thread` started: it must end with 57014 within
        a second of the CancelRequest."""
        cancelled_at = time.monotonic()
        self.cancel()
        thread.join(10)
        assert error_code(outcome["messages"]) == "57014"
        assert outcome["at"] - cancelled_at < 1.0

    def close(self) -> None:
        self.client.close()


def error_code(messages: list[tuple[str, bytes]]) -> str | None:
    for kind, body in messages:
        if kind == "E":
            return error_fields(body)["C"]
    return None


def active(other: psycopg.Connection, condition: str) -> int:
    return int(other.execute(f"SELECT count(*) FROM pg_stat_activity WHERE {condition}").fetchone()[0])


def test_cancel_stops_a_long_query_within_a_second_and_others_are_served(server):
    busy = Session(server.port)
    with psycopg.connect(server.dsn(), autocommit=True) as other:
        thread, outcome = busy.query_in_thread(LONG_QUERY)
        wait_until(lambda: active(other, "state = 'active'") >= 2, timeout=10, message="the query to run")
        started = time.monotonic()
        for _ in range(5):  # the loop is free: quick statements are not stuck behind it
            assert other.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - started < 2.0
        busy.cancel_and_check(thread, outcome)
        assert [parse_data_row(b) for k, b in busy.client.query("SELECT 2") if k == "D"] == [[b"2"]]
    busy.close()


def test_cancel_ends_pg_sleep_promptly(server):
    # pg_sleep sleeps in short slices on a query worker, so the cancel lands between two
    busy = Session(server.port)
    with psycopg.connect(server.dsn(), autocommit=True) as other:
        thread, outcome = busy.query_in_thread("SELECT pg_sleep(60)")
        wait_until(lambda: active(other, "query LIKE 'SELECT pg_sleep%'") == 1, timeout=10,
                   message="pg_sleep to run")  # fmt: skip
        busy.cancel_and_check(thread, outcome)
    busy.close()


def test_cancel_while_waiting_for_a_row_lock(server):
    waiter = Session(server.port)
    with psycopg.connect(server.dsn(), autocommit=True) as holder:
        holder.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
        holder.execute("INSERT INTO t VALUES (1, 0)")
        holder.execute("BEGIN")
        holder.execute("UPDATE t SET v = 1 WHERE id = 1")
        thread, outcome = waiter.query_in_thread("UPDATE t SET v = 2 WHERE id = 1")
        wait_until(lambda: active(holder, "wait_event_type = 'Lock'") == 1, timeout=10,
                   message="the second update to wait")  # fmt: skip
        waiter.cancel_and_check(thread, outcome)
        holder.execute("COMMIT")
        assert holder.execute("SELECT v FROM t").fetchone() == (1,)
    waiter.close()


def test_a_cancel_with_the_wrong_secret_or_for_an_idle_session_does_nothing(server):
    busy = Session(server.port)
    busy.cancel()  # idle: forgotten, not held for the next statement
    thread, outcome = busy.query_in_thread("SELECT count(*) FROM generate_series(1, 300000)")
    busy.cancel(secret=busy.secret ^ 1)
    thread.join(60)
    assert error_code(outcome["messages"]) is None
    assert [parse_data_row(b) for k, b in outcome["messages"] if k == "D"] == [[b"300000"]]
    busy.close()


def test_max_connections_refuses_with_53300():
    local = LocalDatabase()
    with ServerThread(local.open, max_connections=2) as srv:
        with psycopg.connect(srv.dsn()), psycopg.connect(srv.dsn()):
            with RawClient(srv.port) as raw:
                raw.send(startup_packet({"user": "third", "database": "db"}))
                kind, body = raw.read_message()
                assert kind == "E"
                fields = error_fields(body)
                assert (fields["S"], fields["C"]) == ("FATAL", "53300")
                assert raw.at_eof()
        with psycopg.connect(srv.dsn()) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)
