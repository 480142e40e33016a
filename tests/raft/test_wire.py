"""What goes on the Raft wire: pysyncobj's framing without zlib's deflate cost."""

from __future__ import annotations

import zlib

import pysyncobj.tcp_connection as tcp_connection
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.raft.pysyncobj_glue import stored_deflate

BLOCK = 0xFFFF


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3 * BLOCK))
def test_any_zlib_reader_gets_the_bytes_back(data):
    assert zlib.decompress(stored_deflate(data)) == data


def test_block_boundaries_round_trip():
    for size in (0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 7):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        framed = stored_deflate(data)
        assert zlib.decompress(framed) == data
        blocks = max(1, -(-size // BLOCK))
        assert len(framed) == size + 2 + 5 * blocks + 4  # header, block headers, adler32


def test_a_small_message_is_framed_as_zlib_level_0_would():
    data = b"append_entries" * 30
    assert stored_deflate(data) == zlib.compress(data, 0)


def test_pysyncobj_connections_send_stored_blocks_and_still_read_deflate():
    """Importing quorumdb.raft gives pysyncobj's TcpConnection the stand-in: what it
    sends is not deflated, and what a stock peer sends (deflated) is still read."""
    data = b"x" * 10_000
    sent = tcp_connection.zlib.compress(data, 3)
    assert len(sent) > len(data)
    assert zlib.decompress(sent) == data
    assert tcp_connection.zlib.decompress(zlib.compress(data, 3)) == data
