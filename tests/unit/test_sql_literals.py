"""sql/literals.py: which numbers of a simple query become parameters, and of what type."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quorumdb.sql import types as T
from quorumdb.sql.literals import parameterize


def test_numbers_become_typed_parameters_in_order() -> None:
    assert parameterize(
        "UPDATE pgbench_accounts SET abalance = abalance + -4049 WHERE aid = 70183;"
    ) == (
        "UPDATE pgbench_accounts SET abalance = abalance + -$1 WHERE aid = $2;",
        (4049, 70183),
        (T.INT4, T.INT4),
    )


@pytest.mark.parametrize(
    ("literal", "value", "type_"),
    [
        ("2147483647", 2147483647, T.INT4),
        ("2147483648", 2147483648, T.INT8),
        ("9223372036854775807", 9223372036854775807, T.INT8),
        ("9223372036854775808", Decimal("9223372036854775808"), T.NUMERIC),
        ("1.50", Decimal("1.50"), T.NUMERIC),
        (".5", Decimal("0.5"), T.NUMERIC),
        ("1e3", Decimal("1000"), T.NUMERIC),
    ],
)
def test_a_literal_gets_the_type_postgresql_gives_it(literal: str, value: object, type_) -> None:  # type: ignore[no-untyped-def]
    found = parameterize(f"SELECT x FROM t WHERE y = {literal}")
    assert found is not None
    assert found[0] == "SELECT x FROM t WHERE y = $1"
    assert found[1] == (value,) and str(found[1][0]) == str(value)
    assert found[2] == (type_,)


def test_strings_and_identifiers_stay() -> None:
    assert parameterize("SELECT t1.c2, 'a5' FROM t1 WHERE \"x 5\" = 'it''s 7' AND n = 7") == (
        "SELECT t1.c2, 'a5' FROM t1 WHERE \"x 5\" = 'it''s 7' AND n = $1",
        (7,),
        (T.INT4,),
    )


def test_column_positions_stay() -> None:
    found = parameterize(
        "SELECT a, 5 FROM t WHERE b > 6 GROUP BY 1, (2) ORDER BY 2 DESC, 1 LIMIT 3"
    )
    assert found is not None
    assert (
        found[0] == "SELECT a, $1 FROM t WHERE b > $2 GROUP BY 1, (2) ORDER BY 2 DESC, 1 LIMIT $3"
    )
    assert found[1] == (5, 6, 3)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 -- a comment",
        "SELECT /* 1 */ 2",
        "SELECT $1",
        "SELECT $$5$$",
        "SELECT E'\\' 5 '",  # a prefixed string: escapes we do not lex
        "SELECT x'1f'",
        "SELECT U&'5'",
        "SELECT 5; SELECT 6",
        "SELECT 1abc",
        "SELECT 1..2",
        "SELECT DISTINCT ON (1) a FROM t",
        "SELECT -2147483648",  # folded into an integer by PostgreSQL's parser
        "SELECT 2 * -9223372036854775808",
        "BEGIN",
        "SET work_mem = 5",
        "EXPLAIN SELECT 5",
        "WITH q AS (SELECT 5) SELECT * FROM q",
        "SELECT 'no numbers'",
        "SELECT 'unterminated",
        "SELECT \u0663",  # a digit to Python, not to PostgreSQL
        "SELECT\u00a05",  # a no-break space is not whitespace to PostgreSQL
        "SELECT " + "1 + " * 2000 + "1",  # too long to be worth a template
    ],
)
def test_anything_unusual_is_left_alone(sql: str) -> None:
    assert parameterize(sql) is None
