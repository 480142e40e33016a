"""The pglast adapter: statements become our AST; failures become QuorumErrors with positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.sql import ast
from quorumdb.sql.errors import FeatureNotSupported, QuorumError, SyntaxErrorSQL
from quorumdb.sql.parser import parse


def one(sql: str) -> ast.Statement:
    (stmt,) = parse(sql)
    return stmt


def test_select_is_converted_with_locations() -> None:
    stmt = one("SELECT a + 1 AS b FROM t WHERE id = $1 ORDER BY b DESC NULLS LAST LIMIT 3")
    assert isinstance(stmt, ast.Select)
    item = stmt.items[0]
    assert item.name == "b"
    assert item.expr == ast.BinaryOp("+", ast.ColumnName(("a",)), ast.Literal("int", 1))
    assert item.expr.location == 9  # the operator, as PostgreSQL reports it
    assert stmt.from_ == (ast.TableName("t"),)
    assert stmt.where == ast.BinaryOp("=", ast.ColumnName(("id",)), ast.Param(1))
    assert stmt.order_by == (
        ast.SortKey(ast.ColumnName(("b",)), descending=True, nulls_first=False),
    )
    assert stmt.limit == ast.Literal("int", 3)


def test_literals_keep_their_kind() -> None:
    stmt = one("SELECT 0, -7, 2147483648, 99999999999999999999, 1.50, 'x', '', true, false, NULL")
    assert isinstance(stmt, ast.Select)
    kinds = [(i.expr.kind, i.expr.value) for i in stmt.items]  # type: ignore[attr-defined]
    assert kinds == [
        ("int", 0),
        ("int", -7),
        ("int", 2147483648),
        ("numeric", "99999999999999999999"),
        ("numeric", "1.50"),
        ("string", "x"),
        ("string", ""),
        ("bool", True),
        ("bool", False),
        ("null", None),
    ]


def test_ddl_dml_and_utility_statements() -> None:
    create = one(
        "CREATE TABLE t (a int NOT NULL, b varchar(10), c numeric(8, 2), PRIMARY KEY (b, a))"
    )
    assert isinstance(create, ast.CreateTable)
    assert [c.name for c in create.columns] == ["a", "b", "c"]
    assert create.columns[1].type == ast.TypeName(("pg_catalog", "varchar"), (10,))
    assert create.primary_key == ("b", "a") and create.columns[0].not_null
    insert = one("INSERT INTO t (a, b) VALUES (1, 'x'), (2, DEFAULT)")
    assert isinstance(insert, ast.Insert) and isinstance(insert.source, ast.Values)
    assert insert.columns == (("a", 15), ("b", 18))
    assert isinstance(insert.source.rows[1][1], ast.Default)
    assert one("DROP TABLE IF EXISTS a, public.b") == ast.DropTable(
        (ast.TableName("a"), ast.TableName("b", "public")), if_exists=True
    )
    assert one("START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY") == ast.Begin(
        "serializable", True, "START TRANSACTION"
    )
    assert isinstance(one("END"), ast.Commit) and isinstance(one("ABORT"), ast.Rollback)
    assert one("SET datestyle = iso, mdy") == ast.SetVariable("datestyle", ("iso", "mdy"))
    assert one("SHOW transaction isolation level") == ast.ShowVariable("transaction_isolation")


def test_several_statements_and_empty_strings() -> None:
    assert len(parse("SELECT 1; SELECT 2;; ")) == 2
    assert parse("") == ()
    assert parse(" ; -- only a comment") == ()


def test_syntax_errors_carry_postgres_positions() -> None:
    with pytest.raises(SyntaxErrorSQL) as err:
        parse("SELECT 1 FRO x")
    assert err.value.message == 'syntax error at or near "x"'
    assert err.value.position == 14
    with pytest.raises(SyntaxErrorSQL) as err:
        parse("SELECT * FROM t WHERE")
    assert err.value.message == "syntax error at end of input"
    assert err.value.position == 22


def test_positions_count_characters_not_bytes() -> None:
    with pytest.raises(SyntaxErrorSQL) as err:
        parse("SELECT 'héllo' FRO x")
    assert err.value.position == 20
    stmt = one("SELECT 'é', zz")
    assert stmt.items[1].expr.location == 12  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM a JOIN b ON true", "JOIN"),
        ("SELECT 1 UNION SELECT 2", "UNION"),
        ("SELECT (SELECT 1)", "subqueries"),
        ("CREATE INDEX i ON t (a)", "CREATE INDEX"),
        ("CREATE TABLE t (a int UNIQUE)", "UNIQUE constraints"),
        ("INSERT INTO t VALUES (1) RETURNING *", "RETURNING"),
        ("SAVEPOINT s", "SAVEPOINT"),
        ("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "CREATE FUNCTION"),
    ],
)
def test_unsupported_constructs_are_named(sql: str, construct: str) -> None:
    with pytest.raises(FeatureNotSupported) as err:
        parse(sql)
    assert err.value.sqlstate == "0A000"
    assert err.value.message.startswith(construct)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("SELECT FROM WHERE ()*,;'\"$1=+-<>|:ab.é\n")), max_size=40
    )
)
def test_any_input_gives_statements_or_a_quorum_error(sql: str) -> None:
    try:
        parse(sql)
    except QuorumError:
        pass
