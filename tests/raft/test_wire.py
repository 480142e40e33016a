"""What goes on the Raft wire: pysyncobj's framing without zlib's deflate cost."""

from __future__ import annotations

import zlib

import pysyncobj.tcp_connection as tcp_connection
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.raft.pysyncobj_glue import DEFLATE_FROM, stored_deflate

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


def test_pysyncobj_connections_frame_small_messages_and_deflate_large_ones():
    """Importing quorumdb.raft gives pysyncobj's TcpConnection the stand-in: a small
    message goes out in stored blocks, a large one deflated (its buffers are copied
    per chunk moved), and what a stock peer sends (deflated) is still read."""
    compress = tcp_connection.zlib.compress
    small = b"x" * (DEFLATE_FROM - 1)
    sent = compress(small, 3)
    assert sent == stored_deflate(small)
    assert zlib.decompress(sent) == small
    large = b"x" * DEFLATE_FROM
    sent = compress(large, 3)
    assert len(sent) < len(large) // 10
    assert zlib.decompress(sent) == large
    assert tcp_connection.zlib.decompress(zlib.compress(small, 3)) == small
