"""Pure codecs of the client-facing layer: binary send/receive (sql/binaryio.py) and COPY's
text and CSV formats (sql/copyformat.py). Property tests: whatever the value, it
survives the round trip; whatever the split of the input, the records are the same."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.sql import binaryio
from quorumdb.sql.clientsyntax import CopyOptions
from quorumdb.sql.copyformat import BadCopyFormat, CopyReader, CopyWriter
from quorumdb.storage.errors import QuorumError

NUMERIC = binaryio.OIDS["numeric"]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_numeric_binary_round_trip(value):
    decoded = binaryio.decoder(NUMERIC)(binaryio.encoder(NUMERIC)(value))
    assert decoded == value
    if value.as_tuple().exponent < 0:  # the display scale survives too
        assert decoded.as_tuple().exponent == value.as_tuple().exponent


def test_numeric_binary_matches_postgresql_bytes():
    # SELECT '-1234.5600'::numeric, sent by PostgreSQL in binary
    assert binaryio.encoder(NUMERIC)(Decimal("-1234.5600")) == bytes.fromhex(
        "0002" "0000" "4000" "0004" "04d2" "15e0"
    )
    for special in ("NaN", "Infinity", "-Infinity"):
        value = binaryio.decoder(NUMERIC)(binaryio.encoder(NUMERIC)(Decimal(special)))
        assert str(value) == special


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("int2", -5), ("int4", 2**31 - 1), ("int8", -(2**63)), ("float8", 1.5e-300),
        ("bool", True), ("text", "ünï"), ("bytea", b"\x00\xff"), ("date", -730119),
        ("timestamp", 123456789), ("timestamptz", -1), ("time", 86_399_999_999),
        ("uuid", bytes(range(16))), ("json", '{"a": [1]}'), ("oid", 4_000_000_000),
    ],
)  # fmt: skip
def test_fixed_codecs_round_trip(type_name, value):
    oid = binaryio.OIDS[type_name]
    assert binaryio.decoder(oid)(binaryio.encoder(oid)(value)) == value


@given(st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), max_size=20))
def test_int4_array_round_trip(values):
    oid = 1007  # int4[]
    assert binaryio.decoder(oid)(binaryio.encoder(oid)(tuple(values))) == tuple(values)


@given(st.binary(max_size=64))
@settings(max_examples=300)
def test_malformed_binary_input_is_always_a_clean_22p03(data):
    for oid in (NUMERIC, 1007, binaryio.OIDS["int4"], binaryio.OIDS["uuid"], binaryio.OIDS["date"]):
        try:
            binaryio.decoder(oid)(data)
        except QuorumError as exc:
            assert exc.sqlstate in ("22P03", "22008")


def test_int4_binary_is_big_endian():
    assert binaryio.encoder(23)(1) == struct.pack("!i", 1)


# ---- COPY formats -------------------------------------------------------------------------

_field = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))


@given(st.lists(st.lists(_field, min_size=3, max_size=3), max_size=15), st.data())
@settings(max_examples=150)
@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_writer_then_reader_in_any_split_gives_the_same_records(fmt, records, data):
    options = CopyOptions(format=fmt, delimiter="," if fmt == "csv" else "\t",
                          null="" if fmt == "csv" else "\\N")  # fmt: skip
    writer = CopyWriter(options, ["a", "b", "c"])
    payload = b"".join(writer.row(r) for r in records)
    reader = CopyReader(options, 3)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=6)))
    got: list[list[str | None]] = []
    start = 0
    for cut in [*cuts, len(payload)]:
        got += reader.feed(payload[start:cut])
        start = cut
    got += reader.finish()
    assert got == [list(r) for r in records]


def test_end_of_data_marker_and_crlf():
    reader = CopyReader(CopyOptions(), 2)
    assert reader.feed(b"1\ta\r\n2\tb\n\\.\nignored\tafter\n") == [["1", "a"], ["2", "b"]]
    assert reader.ended


def test_unterminated_csv_quote_is_22p04():
    reader = CopyReader(CopyOptions(format="csv", delimiter=",", null=""), 2)
    assert reader.feed(b'1,"never closed\n') == []
    with pytest.raises(BadCopyFormat):
        reader.finish()


def test_text_escapes_are_decoded():
    reader = CopyReader(CopyOptions(), 1)
    assert reader.feed(b"a\\tb\\\\c\\101\\x42\\N\n\\N\n") == [["a\tb\\cABN"], [None]]
