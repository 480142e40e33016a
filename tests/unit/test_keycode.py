"""keycode: the byte order of encoded keys is the SQL order of the values."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.storage import keycode

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False)
texts = st.text()
blobs = st.binary()
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: abs(d.adjusted()) < 1000 if not d.is_zero() else True
)


def _key(value):
    # SQL order with NULL last
    return (value is None, value)


@pytest.mark.parametrize("strategy", [ints, floats, texts, blobs, decimals, st.booleans()])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_scalar_order_is_preserved(strategy, data):
    a = data.draw(st.one_of(st.none(), strategy))
    b = data.draw(st.one_of(st.none(), strategy))
    ea, eb = keycode.encode_one(a), keycode.encode_one(b)
    if _key(a) < _key(b):
        assert ea < eb
    elif _key(a) > _key(b):
        assert ea > eb
    else:
        assert ea == eb


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), ints), st.one_of(st.none(), texts)), min_size=2))
def test_composite_order_is_preserved(rows):
    by_value = sorted(rows, key=lambda r: tuple(_key(v) for v in r))
    by_bytes = sorted(rows, key=keycode.encode)
    assert [keycode.encode(r) for r in by_value] == [keycode.encode(r) for r in by_bytes]


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.one_of(st.none(), ints, texts, blobs, st.booleans(), floats)))
def test_roundtrip(values):
    assert keycode.decode(keycode.encode(values)) == values


@settings(max_examples=200, deadline=None)
@given(decimals)
def test_decimal_roundtrip_normalises(d):
    (back,) = keycode.decode(keycode.encode_one(d))
    assert back == d


@settings(max_examples=200, deadline=None)
@given(st.tuples(ints, texts), st.one_of(ints, texts, blobs))
def test_prefix_range_contains_exactly_the_extensions(prefix, extra):
    start, end = keycode.prefix_range(keycode.encode(prefix))
    longer = keycode.encode(prefix + (extra,))
    assert start <= longer and (end is None or longer < end)


def test_text_with_nul_bytes_and_prefixes():
    values = ["", "\x00", "\x00\x00", "a", "a\x00", "a\x00b", "ab", "b"]
    assert sorted(values) == sorted(values, key=keycode.encode_one)


def test_equal_decimals_encode_equal():
    assert keycode.encode_one(Decimal("1.50")) == keycode.encode_one(Decimal("1.5"))
    assert keycode.encode_one(Decimal("-0.00")) == keycode.encode_one(Decimal("0"))


def test_nan_sorts_last_among_floats():
    assert keycode.encode_one(math.inf) < keycode.encode_one(math.nan) < keycode.encode_one(None)


def test_out_of_range_integer_is_refused():
    with pytest.raises(keycode.NumericValueOutOfRange):
        keycode.encode_one(2**63)


@pytest.mark.parametrize("strategy", [ints, floats, texts, blobs, decimals, st.booleans()])
@pytest.mark.parametrize("option", [0, 1, 2, 3])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_ordered_encoding_follows_the_option(strategy, option, data):
    # option: keycode.DESC (1) | keycode.NULLS_FIRST (2), as pg_index.indoption
    values = data.draw(st.lists(st.one_of(st.none(), strategy), max_size=8))
    descending, nulls_first = bool(option & keycode.DESC), bool(option & keycode.NULLS_FIRST)
    present = sorted((v for v in values if v is not None), reverse=descending)
    nulls = [None] * (len(values) - len(present))
    expected = nulls + present if nulls_first else present + nulls
    # a second element after each one: the order must be decided by the first
    by_key = sorted(values, key=lambda v: keycode.encode_ordered((v, 0), (option, 0)))
    assert [keycode.encode_one(v) for v in by_key] == [keycode.encode_one(v) for v in expected]
    for v in values:
        assert keycode.decode(keycode.encode_ordered((v, "x"), (option, 0))) == (
            keycode.decode(keycode.encode((v, "x")))
        )
