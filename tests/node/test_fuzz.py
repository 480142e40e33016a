"""Protocol fuzzing: random, truncated and oversized messages never kill the server nor
leak a session (the connection registry and the admission count return to zero).

Seeded random inputs (reproducible: the seed is in the test id), sent both
before and after a valid startup, in one write or dribbled byte by byte.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Iterator

import psycopg
import pytest
from pgclient import startup_packet
from serverthread import LocalDatabase, ServerThread
from support import wait_until

TYPES = b"QXPBDESHCdcfp" + bytes(range(0, 256, 17))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    local = LocalDatabase()
    with ServerThread(local.open) as srv:
        yield srv


def _message(rnd: random.Random) -> bytes:
    kind = rnd.choice(
        ["random", "truncated", "oversized", "negative", "valid_type_junk_body", "startup_like"]
    )
    type_byte = bytes([rnd.choice(TYPES)])
    body = rnd.randbytes(rnd.randint(0, 64))
    if kind == "random":
        return rnd.randbytes(rnd.randint(1, 200))
    if kind == "truncated":
        full = type_byte + struct.pack("!i", len(body) + 4 + rnd.randint(1, 50)) + body
        return full
    if kind == "oversized":
        return type_byte + struct.pack("!i", rnd.choice([1 << 30, (1 << 31) - 1, 70_000_000]))
    if kind == "negative":
        return type_byte + struct.pack("!i", rnd.randint(-(1 << 31), 3))
    if kind == "valid_type_junk_body":
        return type_byte + struct.pack("!i", len(body) + 4) + body
    return struct.pack("!i", rnd.randint(0, 20_000)) + rnd.randbytes(rnd.randint(0, 40))


def _send(port: int, payload: bytes, dribble: bool) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            if dribble:
                for i in range(0, len(payload), 7):
                    sock.sendall(payload[i : i + 7])
            else:
                sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server may hang up first: that is an allowed answer


@pytest.mark.parametrize("seed", range(12))
def test_random_messages_never_kill_the_server_nor_leak_sessions(server, seed):
    rnd = random.Random(seed)
    startup = startup_packet({"user": "fuzz", "database": "db"})
    for _ in range(15):
        messages = b"".join(_message(rnd) for _ in range(rnd.randint(1, 5)))
        prefix = startup if rnd.random() < 0.7 else b""
        _send(server.port, prefix + messages, dribble=rnd.random() < 0.2)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    wait_until(
        lambda: server.call(lambda: len(server.server.registry)) == 0
        and server.call(lambda: server.server.connection_count) == 0,
        timeout=10,
        message="every fuzzed connection to be cleaned up",
    )


def test_an_oversized_startup_packet_is_08p01(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(struct.pack("!i", 10_001) + b"\0" * 100)
        reply = sock.recv(65536)
    assert reply[:1] == b"E" and b"08P01" in reply


def test_a_malformed_bind_is_08p01_and_closes_only_that_connection(server):
    with psycopg.connect(server.dsn(), autocommit=True) as bystander:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(startup_packet({"user": "x", "database": "db"}))
            data = b""
            while b"Z\x00\x00\x00\x05I" not in data:
                data += sock.recv(65536)
            sock.sendall(b"B" + struct.pack("!i", 8) + b"\xff\xff\xff\xff")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert b"08P01" in reply
        assert bystander.execute("SELECT 1").fetchone() == (1,)
