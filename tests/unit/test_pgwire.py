"""PostgreSQL v3 codecs: frontend framing/decoding and backend message layout.

Expected bytes are built by hand (struct) or with the independent helpers of
tests/pgclient.py, never with pgwire itself.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pgclient import (
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

from quorumdb.node import pgwire
from quorumdb.sql.result import Column
from quorumdb.storage.errors import ProtocolViolation, QuorumError, UniqueViolation


def parse_all(data: bytes, *, startup: bool = False) -> list[pgwire.FrontendMessage]:
    parser = pgwire.FrontendParser()
    parser.startup_phase = startup
    parser.feed(data)
    out = []
    while (msg := parser.next_message()) is not None:
        out.append(msg)
    assert parser.buffered == 0
    return out


def split_backend(data: bytes) -> list[tuple[str, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("!i", data, pos + 1)
        out.append((chr(data[pos]), data[pos + 5 : pos + 1 + length]))
        pos += 1 + length
    return out


# ---- startup phase ------------------------------------------------------------------


def test_startup_message_with_parameters_switches_to_regular_phase():
    parser = pgwire.FrontendParser()
    parser.feed(startup_packet({"user": "alice", "database": "shop", "application_name": "psql"}))
    msg = parser.next_message()
    assert msg == pgwire.StartupMessage(
        pgwire.PROTOCOL_3_0, {"user": "alice", "database": "shop", "application_name": "psql"}
    )
    assert (msg.major, msg.minor) == (3, 0)
    assert not parser.startup_phase
    parser.feed(query_message("select 1"))
    assert parser.next_message() == pgwire.Query("select 1")


def test_ssl_gss_and_cancel_requests_keep_the_startup_phase():
    parser = pgwire.FrontendParser()
    parser.feed(ssl_request() + gssenc_request() + cancel_request(42, -7))
    assert parser.next_message() == pgwire.SSLRequest()
    assert parser.startup_phase
    assert parser.next_message() == pgwire.GSSENCRequest()
    assert parser.next_message() == pgwire.CancelRequest(42, -7)
    assert parser.startup_phase
    assert pgwire.SSL_REQUEST_CODE == 80877103
    assert pgwire.GSSENC_REQUEST_CODE == 80877104
    assert pgwire.CANCEL_REQUEST_CODE == 80877102
    assert pgwire.PROTOCOL_3_0 == 196608


def test_messages_arrive_whole_whatever_the_chunking():
    stream = (
        startup_packet({"user": "u"})
        + query_message("select 1; select 2")
        + query_message("é")
        + terminate_message()
    )
    parser = pgwire.FrontendParser()
    got = []
    for i in range(len(stream)):
        parser.feed(stream[i : i + 1])
        while (msg := parser.next_message()) is not None:
            got.append(msg)
    assert got == [
        pgwire.StartupMessage(pgwire.PROTOCOL_3_0, {"user": "u"}),
        pgwire.Query("select 1; select 2"),
        pgwire.Query("é"),
        pgwire.Terminate(),
    ]


@pytest.mark.parametrize("length", [0, 3, 7, 10_001, 2**31 - 1, -5])
def test_startup_packet_length_out_of_range_is_a_protocol_violation(length):
    parser = pgwire.FrontendParser()
    parser.feed(struct.pack("!i", length))  # no body needed: the length alone is refused
    with pytest.raises(ProtocolViolation) as err:
        parser.next_message()
    assert err.value.sqlstate == "08P01"
    assert err.value.severity == "FATAL"


def test_startup_packet_of_exactly_the_limit_is_accepted():
    params = {"user": "u", "options": "x" * (10_000 - 4 - 4 - len("user\0u\0options\0\0\0"))}
    packet = startup_packet(params)
    assert len(packet) == pgwire.MAX_STARTUP_PACKET
    assert parse_all(packet, startup=True)[0].parameters == params


def test_unsupported_protocol_version_is_refused_with_0a000():
    with pytest.raises(QuorumError) as err:
        parse_all(startup_packet({"user": "u"}, protocol=2 << 16), startup=True)
    assert err.value.sqlstate == "0A000"


def test_startup_packet_without_terminator_is_a_protocol_violation():
    body = struct.pack("!i", pgwire.PROTOCOL_3_0) + b"user\0u"
    with pytest.raises(ProtocolViolation):
        parse_all(struct.pack("!i", len(body) + 4) + body, startup=True)


def test_cancel_request_of_wrong_length_is_a_protocol_violation():
    with pytest.raises(ProtocolViolation):
        parse_all(struct.pack("!iii", 12, pgwire.CANCEL_REQUEST_CODE, 1), startup=True)


# ---- regular phase ---------------------------------------------------------------


def test_unknown_message_type_is_refused_before_its_body_arrives():
    parser = pgwire.FrontendParser()
    parser.startup_phase = False
    parser.feed(b"z" + struct.pack("!i", 1000))
    with pytest.raises(ProtocolViolation, match="invalid frontend message type 122"):
        parser.next_message()


@pytest.mark.parametrize("length", [0, 3, -1])
def test_message_length_below_four_is_a_protocol_violation(length):
    parser = pgwire.FrontendParser()
    parser.startup_phase = False
    parser.feed(b"Q" + struct.pack("!i", length))
    with pytest.raises(ProtocolViolation, match="invalid message length"):
        parser.next_message()


def test_oversized_message_is_refused_without_buffering_it():
    parser = pgwire.FrontendParser(max_message_bytes=1024)
    parser.startup_phase = False
    parser.feed(b"Q" + struct.pack("!i", 1025))
    with pytest.raises(ProtocolViolation):
        parser.next_message()
    small = pgwire.FrontendParser()
    small.startup_phase = False
    small.feed(b"S" + struct.pack("!i", 20_000))  # Sync has a tiny body: small limit
    with pytest.raises(ProtocolViolation):
        small.next_message()


def test_query_without_nul_terminator_is_a_protocol_violation():
    with pytest.raises(ProtocolViolation, match="invalid string"):
        parse_all(message(b"Q", b"select 1"))
    with pytest.raises(ProtocolViolation, match="invalid string"):
        parse_all(message(b"Q", b"select\x001\x00"))


def test_invalid_utf8_is_a_non_fatal_error_and_the_stream_stays_in_sync():
    parser = pgwire.FrontendParser()
    parser.startup_phase = False
    parser.feed(query_message(b"select '\xff'") + query_message("select 2"))
    with pytest.raises(QuorumError) as err:
        parser.next_message()
    assert err.value.sqlstate == "22021"
    assert not isinstance(err.value, ProtocolViolation)
    assert parser.next_message() == pgwire.Query("select 2")


def test_extended_protocol_messages_decode():
    parse = message(b"P", b"stmt1\0select $1, $2\0" + struct.pack("!hII", 2, 23, 0xFFFFFFFF))
    bind = message(
        b"B",
        b"portal\0stmt1\0"
        + struct.pack("!hh", 1, 0)
        + struct.pack("!h", 2)
        + struct.pack("!i", 2)
        + b"42"
        + struct.pack("!i", -1)
        + struct.pack("!hh", 1, 1),
    )
    describe = message(b"D", b"P" + b"portal\0")
    execute = message(b"E", b"portal\0" + struct.pack("!i", 10))
    close = message(b"C", b"S" + b"stmt1\0")
    got = parse_all(
        parse + bind + describe + execute + message(b"H", b"") + close + message(b"S", b"")
    )
    assert got == [
        pgwire.Parse("stmt1", "select $1, $2", (23, 0xFFFFFFFF)),
        pgwire.Bind("portal", "stmt1", (0,), (b"42", None), (1,)),
        pgwire.Describe("P", "portal"),
        pgwire.Execute("portal", 10),
        pgwire.Flush(),
        pgwire.Close("S", "stmt1"),
        pgwire.Sync(),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        message(b"D", b"X" + b"name\0"),  # bad Describe kind
        message(b"E", b"portal\0" + b"\0\0"),  # Execute row limit truncated
        message(b"B", b"p\0s\0" + struct.pack("!h", 1)),  # Bind format list truncated
        message(b"B", b"p\0s\0" + struct.pack("!hh", 0, 1) + struct.pack("!i", 100) + b"x"),
        message(b"P", b"s\0q\0" + struct.pack("!h", 0) + b"trailing"),
    ],
)
def test_malformed_extended_messages_are_protocol_violations(raw):
    with pytest.raises(ProtocolViolation):
        parse_all(raw)


def test_copy_messages_decode():
    got = parse_all(message(b"d", b"1\t2\n") + message(b"c", b"") + message(b"f", b"oops\0"))
    assert got == [pgwire.CopyData(b"1\t2\n"), pgwire.CopyDone(), pgwire.CopyFail("oops")]


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(data):
    for startup in (True, False):
        parser = pgwire.FrontendParser()
        parser.startup_phase = startup
        parser.feed(data)
        try:
            while parser.next_message() is not None:
                pass
        except QuorumError:
            pass


# ---- backend messages ----------------------------------------------------------------


def test_fixed_backend_messages():
    assert pgwire.authentication_ok() == b"R\x00\x00\x00\x08\x00\x00\x00\x00"
    assert pgwire.ready_for_query("I") == b"Z\x00\x00\x00\x05I"
    assert pgwire.ready_for_query("T") == b"Z\x00\x00\x00\x05T"
    assert pgwire.ready_for_query("E") == b"Z\x00\x00\x00\x05E"
    with pytest.raises(ValueError):
        pgwire.ready_for_query("X")
    assert pgwire.empty_query_response() == b"I\x00\x00\x00\x04"
    assert pgwire.command_complete("INSERT 0 3") == b"C\x00\x00\x00\x0fINSERT 0 3\x00"
    assert pgwire.parameter_status("TimeZone", "UTC") == b"S\x00\x00\x00\x11TimeZone\x00UTC\x00"
    assert pgwire.backend_key_data(7, -2) == b"K" + struct.pack("!iii", 12, 7, -2)
    assert pgwire.SSL_REFUSED == b"N"


def test_negotiate_protocol_version():
    got = pgwire.negotiate_protocol_version(0, ["_pq_.compression"])
    [(kind, body)] = split_backend(got)
    assert kind == "v"
    assert body == struct.pack("!ii", 0, 1) + b"_pq_.compression\0"


def test_row_description_layout():
    columns = (
        Column("id", 23, 4, str.encode, table_oid=16384, column_number=1),
        Column("naïve", 1043, -1, str.encode, type_modifier=24),
        Column("big_oid", 3_000_000_000, 8, str.encode),
    )
    [(kind, body)] = split_backend(pgwire.row_description(columns))
    assert kind == "T"
    fields = parse_row_description(body)
    assert [(f.name, f.table_oid, f.column_number, f.type_oid, f.type_size, f.type_modifier,
             f.format) for f in fields] == [
        ("id", 16384, 1, 23, 4, -1, 0),
        ("naïve", 0, 0, 1043, -1, 24, 0),
        ("big_oid", 0, 0, 3_000_000_000, 8, -1, 0),
    ]  # fmt: skip


def test_row_encoder_frames_values_and_nulls():
    columns = (
        Column("n", 23, 4, lambda v: str(v).encode()),
        Column("t", 25, -1, lambda v: v.encode()),
    )
    encoder = pgwire.RowEncoder(columns)
    rows = [(1, "a"), (None, "ünï"), (-7, None), (0, "")]
    data = b"".join(encoder.encode(r) for r in rows)
    decoded = split_backend(data)
    assert [k for k, _ in decoded] == ["D"] * 4
    assert [parse_data_row(body) for _, body in decoded] == [
        [b"1", b"a"],
        [None, "ünï".encode()],
        [b"-7", None],
        [b"0", b""],
    ]
    with pytest.raises(ValueError):
        encoder.encode((1,))


def test_data_row_from_cells_matches_the_row_encoder():
    encoder = pgwire.RowEncoder((Column("a", 25, -1, str.encode), Column("b", 25, -1, str.encode)))
    assert pgwire.data_row([b"x", None]) == encoder.encode(("x", None))


def test_error_response_fields():
    [(kind, body)] = split_backend(
        pgwire.error_response(
            "ERROR", "23505", "duplicate key", detail="Key (id)=(1) exists.", hint="h", position=9
        )
    )
    assert kind == "E"
    assert error_fields(body) == {
        "S": "ERROR",
        "V": "ERROR",
        "C": "23505",
        "M": "duplicate key",
        "D": "Key (id)=(1) exists.",
        "H": "h",
        "P": "9",
    }
    [(kind, body)] = split_backend(pgwire.notice_response("NOTICE", "00000", "hello"))
    assert kind == "N"
    assert error_fields(body) == {"S": "NOTICE", "V": "NOTICE", "C": "00000", "M": "hello"}


def test_error_response_for_a_quorum_error():
    err = UniqueViolation("dup", detail="d")
    [(_, body)] = split_backend(pgwire.error_response_for(err))
    assert error_fields(body) == {"S": "ERROR", "V": "ERROR", "C": "23505", "M": "dup", "D": "d"}
    [(_, body)] = split_backend(pgwire.error_response_for(err, severity="FATAL"))
    assert error_fields(body)["S"] == "FATAL"
