"""SQL types: PostgreSQL's text input and output, casts, modifiers."""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.sql import types as T
from quorumdb.sql.casts import CastContext, cast_value, find_cast
from quorumdb.sql.errors import InvalidTextRepresentation, NumericValueOutOfRange, QuorumError


def text(t: T.SqlType, value: object) -> str:
    return T.text_encoder(t)(value).decode()


def test_oids_and_sizes_match_postgres() -> None:
    assert [(t.oid, t.typlen) for t in (T.INT2, T.INT4, T.INT8, T.FLOAT4, T.FLOAT8)] == [
        (21, 2),
        (23, 4),
        (20, 8),
        (700, 4),
        (701, 8),
    ]
    assert (T.TEXT.oid, T.VARCHAR.oid, T.BOOL.oid, T.NUMERIC.oid, T.UNKNOWN.oid) == (
        25,
        1043,
        16,
        1700,
        705,
    )
    assert T.varchar(10).typmod == 14 and str(T.varchar(10)) == "character varying(10)"
    assert T.numeric(8, 2).typmod == (8 << 16 | 2) + 4 and str(T.numeric(8, 2)) == "numeric(8,2)"
    assert T.numeric_typmod(T.numeric(3, -2)) == (3, -2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, "1.5"),
        (1e20, "1e+20"),
        (1e15, "1e+15"),
        (123456789012345.0, "123456789012345"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-0.0, "-0"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_float8_output(value: float, expected: str) -> None:
    assert text(T.FLOAT8, value) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1.1", "1.1"),
        ("1e6", "1e+06"),
        ("123456.7", "123456.7"),
        ("16777217", "1.6777216e+07"),
        ("3.4e38", "3.4e+38"),
    ],
)
def test_float4_output_is_shortest_for_binary32(literal: str, expected: str) -> None:
    assert text(T.FLOAT4, T.parse_text(T.FLOAT4, literal)) == expected


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False))
def test_float8_output_round_trips(value: float) -> None:
    assert T.parse_text(T.FLOAT8, text(T.FLOAT8, value)) == value


@settings(max_examples=500, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float4_output_round_trips(value: float) -> None:
    again = T.parse_text(T.FLOAT4, text(T.FLOAT4, value))
    assert struct.pack("<f", again) == struct.pack("<f", value) or (value == 0 and again == 0)


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20
    )
)
def test_numeric_round_trips_with_its_scale(value: Decimal) -> None:
    out = text(T.NUMERIC, value)
    assert "E" not in out and "e" not in out
    assert T.parse_text(T.NUMERIC, out) == value
    if value.as_tuple().exponent < 0:  # type: ignore[operator]
        assert len(out.split(".")[1]) == -value.as_tuple().exponent  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integers_round_trip_and_respect_ranges(value: int) -> None:
    for t in (T.INT2, T.INT4, T.INT8):
        lo, hi, _ = T.INT_RANGES[t.oid]
        if lo <= value <= hi:
            assert T.parse_text(t, f" {value} ") == value
        else:
            with pytest.raises(
                NumericValueOutOfRange,
                match=f'value "{value}" is out of range for type {t.display}',
            ):
                T.parse_text(t, str(value))


@pytest.mark.parametrize(
    ("t", "literal", "message"),
    [
        (T.INT4, "1.5", 'invalid input syntax for type integer: "1.5"'),
        (T.INT4, "1_000", 'invalid input syntax for type integer: "1_000"'),
        (T.INT8, "", 'invalid input syntax for type bigint: ""'),
        (T.FLOAT8, "abc", 'invalid input syntax for type double precision: "abc"'),
        (T.NUMERIC, "1e", 'invalid input syntax for type numeric: "1e"'),
        (T.BOOL, "maybe", 'invalid input syntax for type boolean: "maybe"'),
        (T.BOOL, "o", 'invalid input syntax for type boolean: "o"'),
    ],
)
def test_invalid_input_is_22p02(t: T.SqlType, literal: str, message: str) -> None:
    with pytest.raises(InvalidTextRepresentation) as err:
        T.parse_text(t, literal)
    assert err.value.message == message and err.value.sqlstate == "22P02"


def test_input_accepts_postgres_spellings() -> None:
    assert [T.parse_text(T.BOOL, s) for s in ("t", "TRUE", " yes ", "on", "1", "of", "n", "0")] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert (
        math.isnan(T.parse_text(T.FLOAT8, "NaN"))
        and T.parse_text(T.FLOAT8, "-Infinity") == -math.inf
    )
    assert text(T.NUMERIC, T.parse_text(T.NUMERIC, "1.50e1")) == "15.0"
    assert text(T.NUMERIC, T.parse_text(T.NUMERIC, "1e2")) == "100"
    assert text(T.NUMERIC, T.parse_text(T.NUMERIC, "-0.00")) == "0.00"
    with pytest.raises(
        NumericValueOutOfRange, match='"1e400" is out of range for type double precision'
    ):
        T.parse_text(T.FLOAT8, "1e400")
    with pytest.raises(NumericValueOutOfRange, match='"1e-50" is out of range for type real'):
        T.parse_text(T.FLOAT4, "1e-50")


def test_numeric_modifier_rounds_half_away_from_zero_and_checks_precision() -> None:
    t = T.numeric(5, 2)
    assert T.round_numeric(Decimal("1.005"), t) == Decimal("1.01")
    assert T.round_numeric(Decimal("-1.005"), t) == Decimal("-1.01")
    assert str(T.round_numeric(Decimal("7"), t)) == "7.00"
    with pytest.raises(NumericValueOutOfRange) as err:
        T.round_numeric(Decimal("999.995"), t)
    assert (
        err.value.detail
        == "A field with precision 5, scale 2 must round to an absolute value less than 10^3."
    )


def test_casts_by_context() -> None:
    assert find_cast(T.INT4, T.INT8, CastContext.IMPLICIT) is not None
    assert find_cast(T.INT8, T.INT4, CastContext.IMPLICIT) is None
    assert find_cast(T.INT8, T.INT4, CastContext.ASSIGNMENT) is not None
    assert find_cast(T.BOOL, T.INT4, CastContext.ASSIGNMENT) is None
    assert find_cast(T.BOOL, T.INT4, CastContext.EXPLICIT) is not None
    assert find_cast(T.INT2, T.BOOL, CastContext.EXPLICIT) is None
    assert find_cast(T.INT4, T.TEXT, CastContext.ASSIGNMENT) is not None
    assert find_cast(T.TEXT, T.INT4, CastContext.ASSIGNMENT) is None


def test_cast_values() -> None:
    a, e = CastContext.ASSIGNMENT, CastContext.EXPLICIT
    assert cast_value(2.5, T.FLOAT8, T.INT4, a) == 2  # rint: half to even
    assert cast_value(Decimal("2.5"), T.NUMERIC, T.INT4, a) == 3  # numeric: half away from zero
    assert cast_value(Decimal("-2.5"), T.NUMERIC, T.INT4, a) == -3
    assert cast_value(0.1, T.FLOAT8, T.NUMERIC, a) == Decimal("0.1")
    assert cast_value(True, T.BOOL, T.TEXT, e) == "true"
    assert cast_value("abcdef", T.UNKNOWN, T.varchar(3), e) == "abc"
    assert cast_value("ab   ", T.TEXT, T.varchar(2), a) == "ab"
    with pytest.raises(QuorumError, match="value too long for type character varying\\(3\\)"):
        cast_value("abcd", T.TEXT, T.varchar(3), a)
    with pytest.raises(NumericValueOutOfRange, match="smallint out of range"):
        cast_value(40000, T.INT4, T.INT2, a)
    with pytest.raises(NumericValueOutOfRange, match="integer out of range"):
        cast_value(math.nan, T.FLOAT8, T.INT4, a)
    assert cast_value(None, T.INT4, T.INT8, a) is None


# ---- dates, times, intervals ---------------------------------------------------------------

from quorumdb.sql import types_datetime as DT  # noqa: E402
from quorumdb.sql.rowcodec import decode_row, encode_row  # noqa: E402
from quorumdb.sql.types_json import jsonb_from_text  # noqa: E402
from quorumdb.storage import keycode  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-2451545, max_value=2145031948))
def test_dates_round_trip_through_text(days: int) -> None:
    assert T.parse_text(T.DATE, text(T.DATE, days)) == days


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-211813488000000000, max_value=9223371331199999999))
def test_timestamps_round_trip_through_text(micros: int) -> None:
    assert T.parse_text(T.TIMESTAMP, text(T.TIMESTAMP, micros)) == micros


@pytest.mark.parametrize(
    ("y", "m", "d"), [(2000, 1, 1), (1970, 1, 1), (2024, 2, 29), (0, 12, 31), (-4713, 11, 24)]
)
def test_civil_days_agree_with_the_calendar(y: int, m: int, d: int) -> None:
    assert DT.civil_from_days(DT.days_from_civil(y, m, d)) == (y, m, d)
    assert DT.days_from_civil(2000, 1, 1) == 0


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1 day", "1 day"),
        ("-1 day +2 hours", "-1 days +02:00:00"),
        ("1 year 2 months 3 days 04:05:06.5", "1 year 2 mons 3 days 04:05:06.5"),
        ("1.5 months", "1 mon 15 days"),
        ("P1Y2M3DT4H5M6S", "1 year 2 mons 3 days 04:05:06"),
        ("@ 90 minutes ago", "-01:30:00"),
        ("0", "00:00:00"),
    ],
)
def test_interval_input_and_output(literal: str, expected: str) -> None:
    assert text(T.INTERVAL, T.parse_text(T.INTERVAL, literal)) == expected


def test_intervals_compare_by_span_like_postgres() -> None:
    month, days = DT.Interval(1, 0, 0), DT.Interval(0, 30, 0)
    assert month == days and hash(month) == hash(days)
    assert DT.Interval(0, 1, 0) > DT.Interval(0, 0, DT.USECS_PER_DAY - 1)
    assert keycode.encode_one(month) == keycode.encode_one(days)


@pytest.mark.parametrize(
    ("t", "literal", "sqlstate"),
    [
        (T.DATE, "2024-02-30", "22008"),
        (T.DATE, "nonsense", "22007"),
        (T.TIMESTAMP, "2024-13-01 00:00", "22008"),
        (T.DATE, "5874898-01-01", "22008"),
        (T.INTERVAL, "1 fortnight", "22007"),
        (T.TIME, "25:00", "22008"),
    ],
)
def test_datetime_input_errors(t: T.SqlType, literal: str, sqlstate: str) -> None:
    with pytest.raises(QuorumError) as err:
        T.parse_text(t, literal)
    assert err.value.sqlstate == sqlstate


def test_timestamptz_text_depends_on_the_zone() -> None:
    utc = T.parse_text(T.TIMESTAMPTZ, "2024-07-01 12:00:00+00")
    assert T.format_text(T.TIMESTAMPTZ, utc) == "2024-07-01 12:00:00+00"
    assert T.format_text(T.TIMESTAMPTZ, utc, "Europe/Paris") == "2024-07-01 14:00:00+02"
    assert T.text_encoder(T.TIMESTAMPTZ, 1, "Asia/Kolkata")(utc) == b"2024-07-01 17:30:00+05:30"
    paris = DT.zone("Europe/Paris")
    assert DT.parse_timestamp(T.TIMESTAMPTZ, "2024-07-01 14:00", paris) == utc


# ---- other types ------------------------------------------------------------------------------


def test_uuid_bytea_and_char_text_forms() -> None:
    u = T.parse_text(T.UUID, "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}")
    assert text(T.UUID, u) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert text(T.BYTEA, T.parse_text(T.BYTEA, "\\x0A1b")) == "\\x0a1b"
    assert T.parse_text(T.BYTEA, "a\\\\b\\001") == b"a\\b\x01"
    assert T.parse_text(T.bpchar(4), "ab") == "ab  "
    with pytest.raises(InvalidTextRepresentation):
        T.parse_text(T.UUID, "nope")


def test_arrays_quote_and_nest_like_postgres() -> None:
    texts = T.array_of(T.TEXT)
    value = T.parse_text(texts, '{a,"b c",NULL,"",\\"}')
    assert value == ("a", "b c", None, "", '"')
    assert text(texts, value) == '{a,"b c",NULL,"","\\""}'
    ints = T.array_of(T.INT4)
    assert T.parse_text(ints, "{{1,2},{3,4}}") == ((1, 2), (3, 4))
    with pytest.raises(InvalidTextRepresentation) as err:
        T.parse_text(ints, "{{1},{2,3}}")
    assert "matching dimensions" in (err.value.detail or "")


def test_jsonb_normalises_and_json_errors_have_postgres_details() -> None:
    doc = jsonb_from_text('{"bb": 1, "a": [1.50, null, true], "bb": 2}')
    assert text(T.JSONB, doc) == '{"a": [1.50, null, true], "bb": 2}'
    assert doc == jsonb_from_text('{"a": [1.5, null, true], "bb": 2.0}')
    for bad, detail in [
        ('{"a" 1}', 'Expected ":", but found "1".'),
        ("[1,]", 'Expected JSON value, but found "]".'),
        ("tru", 'Token "tru" is invalid.'),
        ("[1", "The input string ended unexpectedly."),
    ]:
        with pytest.raises(InvalidTextRepresentation) as err:
            T.parse_text(T.JSONB, bad)
        assert err.value.detail == detail


def test_rows_with_every_type_round_trip() -> None:
    row = (
        1,
        Decimal("1.50"),
        DT.Interval(1, -2, 3),
        jsonb_from_text('{"a": [1, "x"]}'),
        (1, None, 3),
        (("a", "b"), ("c", None)),
        b"\x00\xff",
        T.parse_text(T.TIMESTAMPTZ, "2024-01-01 00:00+00"),
    )
    assert decode_row(encode_row(row)) == row


def test_new_types_encode_as_ordered_keys() -> None:
    dates = sorted(T.parse_text(T.DATE, d) for d in ("2024-01-02", "1999-12-31", "0001-01-01 BC"))
    assert sorted(keycode.encode_one(d) for d in dates) == [keycode.encode_one(d) for d in dates]
    assert keycode.encode_one((1, 2)) < keycode.encode_one((1, 2, 0)) < keycode.encode_one((1, 3))
    assert keycode.encode_one(jsonb_from_text("[1.0]")) == keycode.encode_one(jsonb_from_text("[1]"))


@pytest.mark.parametrize(
    ("src", "dst", "value", "expected"),
    [
        (T.DATE, T.TIMESTAMP, 1, DT.USECS_PER_DAY),
        (T.TIMESTAMP, T.DATE, DT.USECS_PER_DAY + 5, 1),
        (T.TEXT, T.array_of(T.INT4), "{1,2}", (1, 2)),
        (T.array_of(T.INT4), T.array_of(T.NUMERIC), (1, None), (Decimal(1), None)),
        (T.JSONB, T.INT4, jsonb_from_text("42"), 42),
        (T.BPCHAR, T.TEXT, "ab  ", "ab"),
    ],
)
def test_new_casts(src: T.SqlType, dst: T.SqlType, value: object, expected: object) -> None:
    assert cast_value(value, src, dst, CastContext.EXPLICIT) == expected


def test_casts_that_depend_on_the_session_zone_take_it() -> None:
    cast = find_cast(T.TIMESTAMP, T.TIMESTAMPTZ, CastContext.IMPLICIT)
    assert cast is not None and cast.zoned
    local = T.parse_text(T.TIMESTAMP, "2024-07-01 12:00")
    assert cast.fn(local, DT.zone("Europe/Paris")) == local - 2 * 3600 * DT.USECS_PER_SEC  # type: ignore[misc]
