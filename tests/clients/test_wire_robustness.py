"""The wire protocol's failure paths on the real cluster, on the leader and through a
follower's relay (node/pgproxy.py), with real clients and raw sockets.

* A protocol fuzz (random bytes, truncated and oversized lengths, junk after a
  valid startup, which a follower relays to the leader) never kills a node nor
  leaks a connection: every node's `quorumdb_connections` gauge (local
  sessions and relays) returns to where it was, and both nodes still serve.
* An oversized startup packet and a malformed message get 08P01.
* libpq's own cancel (psycopg's `Connection.cancel`, a CancelRequest on a new
  connection carrying the BackendKeyData) stops a running query within a
  second with 57014, also when sent to a follower.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import urllib.request

import psycopg
import pytest
from pgclient import error_fields, startup_packet
from support import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

TYPES = b"QXPBDESHCdcfp" + bytes(range(0, 256, 17))


def connections(cluster, index: int) -> int:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{cluster.nodes[index].http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r"^quorumdb_connections (\d+(?:\.\d+)?)$", text, re.M)
    assert found, "no quorumdb_connections gauge"
    return int(float(found.group(1)))


def _fuzz_message(rnd: random.Random) -> bytes:
    kind = rnd.choice(["random", "truncated", "oversized", "negative", "junk_body"])
    type_byte = bytes([rnd.choice(TYPES)])
    body = rnd.randbytes(rnd.randint(0, 64))
    if kind == "random":
        return rnd.randbytes(rnd.randint(1, 200))
    if kind == "truncated":
        return type_byte + struct.pack("!i", len(body) + 4 + rnd.randint(1, 50)) + body
    if kind == "oversized":
        return type_byte + struct.pack("!i", rnd.choice([1 << 30, (1 << 31) - 1, 70_000_000]))
    if kind == "negative":
        return type_byte + struct.pack("!i", rnd.randint(-(1 << 31), 3))
    return type_byte + struct.pack("!i", len(body) + 4) + body


def _send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server may hang up first: that is an allowed answer


def _indexes(cluster) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    leader = cluster.wait_leader()
    return leader, next(n.index for n in cluster.nodes if n.index != leader)


def test_fuzz_never_kills_a_node_nor_leaks_a_connection(cluster):
    leader, follower = _indexes(cluster)
    before = {i: connections(cluster, i) for i in (leader, follower)}
    with psycopg.connect(cluster.nodes[follower].dsn()):  # the gauge counts relays, too
        wait_until(lambda: connections(cluster, follower) > before[follower], message="a relay")
    rnd = random.Random(5)
    startup = startup_packet({"user": "fuzz", "database": "test"})
    for round_ in range(40):
        index = (leader, follower)[round_ % 2]
        prefix = startup if rnd.random() < 0.75 else b""
        messages = b"".join(_fuzz_message(rnd) for _ in range(rnd.randint(1, 4)))
        _send(cluster.nodes[index].pg_port, prefix + messages)
    for index in (leader, follower):
        assert cluster.nodes[index].alive()
        with psycopg.connect(cluster.nodes[index].dsn(), autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        wait_until(
            lambda i=index: connections(cluster, i) <= before[i],
            timeout=20,
            message=f"node {index}'s fuzzed connections to be closed",
        )


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_oversized_startup_and_malformed_message_are_08p01(cluster, role):
    leader, follower = _indexes(cluster)
    port = cluster.nodes[leader if role == "leader" else follower].pg_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("!i", 10_001) + b"\0" * 100)
        reply = sock.recv(65536)
    assert reply[:1] == b"E" and error_fields(reply[5:])["C"] == "08P01"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(startup_packet({"user": "test", "database": "test"}))
        seen = b""
        while b"Z\x00\x00\x00\x05I" not in seen:
            chunk = sock.recv(65536)
            assert chunk, seen
            seen += chunk
        sock.sendall(b"B" + struct.pack("!i", 8) + b"\xff\xff\xff\xff")  # a Bind cut short
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert b"08P01" in reply


def test_libpq_cancel_stops_a_query_within_a_second(node):
    with psycopg.connect(node.dsn, autocommit=True) as conn:
        outcome: dict = {}

        def run() -> None:
            try:
                conn.execute("SELECT count(*) FROM generate_series(1, 200000000)").fetchone()
            except psycopg.Error as exc:
                outcome["error"] = exc
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        with psycopg.connect(node.dsn, autocommit=True) as watcher:
            wait_until(
                lambda: watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE '%generate_series(1, 200000000)%' AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                >= 1,
                timeout=15,
                message="the query to run",
            )
        cancelled_at = time.monotonic()
        conn.cancel()
        thread.join(15)
        assert isinstance(outcome.get("error"), psycopg.errors.QueryCanceled)
        assert outcome["at"] - cancelled_at < 1.0
        assert conn.execute("SELECT 1").fetchone() == (1,)
