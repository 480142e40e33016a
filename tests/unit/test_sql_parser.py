"""The pglast adapter: statements become our AST; failures become QuorumErrors with positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.sql import ast, ddl_ast
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
    assert isinstance(create, ddl_ast.CreateTable)
    assert [c.name for c in create.columns] == ["a", "b", "c"]
    assert create.columns[1].type == ast.TypeName(("pg_catalog", "varchar"), (10,))
    assert create.constraints[0].kind == "primary" and create.constraints[0].columns == ("b", "a")
    assert create.columns[0].constraints[0].kind == "not_null"
    insert = one("INSERT INTO t (a, b) VALUES (1, 'x'), (2, DEFAULT)")
    assert isinstance(insert, ast.Insert) and isinstance(insert.source, ast.Values)
    assert insert.columns == (("a", 15), ("b", 18))
    assert isinstance(insert.source.rows[1][1], ast.Default)
    assert one("DROP TABLE IF EXISTS a, public.b") == ddl_ast.DropObjects(
        "table", (ast.TableName("a"), ast.TableName("b", "public")), if_exists=True
    )
    assert one("SAVEPOINT s") == ast.Savepoint("s")
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
        ("SELECT a FROM t GROUP BY ROLLUP (a)", "GROUPING SETS, ROLLUP and CUBE"),
        ("SELECT (1, 2) = (1, 2)", "row constructors"),
        ("SELECT * FROM t ORDER BY a FETCH FIRST 1 ROW WITH TIES", "FETCH ... WITH TIES"),
        ("CREATE INDEX i ON t ((a + 1))", "indexes on expressions"),
        ("CREATE TABLE t (a int, EXCLUDE (a WITH =))", "EXCLUDE constraints"),
        ("SELECT * FROM ROWS FROM (f(), g())", "ROWS FROM"),
        ("PREPARE TRANSACTION 'x'", "two-phase commit"),
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


def test_query_syntax_becomes_the_ast() -> None:
    stmt = one(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT DISTINCT ON (a.x) a.x, sum(b.y) FILTER (WHERE b.y > 0), "
        "rank() OVER (PARTITION BY a.x ORDER BY b.y DESC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) "
        "FROM a LEFT JOIN b USING (id), LATERAL (SELECT 1) AS s(c), generate_series(1, 2) g "
        "WHERE a.x = ANY (ARRAY[1, 2]) AND EXISTS (SELECT 1) ORDER BY 1 FETCH FIRST 2 ROWS ONLY"
    )
    assert isinstance(stmt, ast.Select)
    assert stmt.with_ is not None and stmt.with_.recursive
    cte = stmt.with_.ctes[0]
    assert cte.columns == ("n",) and isinstance(cte.query, ast.SetOperation) and cte.query.all
    assert len(stmt.distinct_on) == 1
    join, lateral, function = stmt.from_
    assert isinstance(join, ast.Join) and join.kind == "left" and join.using == ("id",)
    assert isinstance(lateral, ast.SubqueryRef) and lateral.lateral and lateral.column_aliases == ("c",)
    assert isinstance(function, ast.FunctionRef) and function.alias == "g"
    agg = stmt.items[1].expr
    assert isinstance(agg, ast.FuncCall) and agg.filter is not None
    window = stmt.items[2].expr
    assert isinstance(window, ast.FuncCall) and window.over is not None
    assert window.over.frame_mode == "rows" and window.over.start is not None
    assert window.over.start.kind == "preceding" and window.over.end.kind == "current row"  # type: ignore[union-attr]
    assert isinstance(stmt.where, ast.BoolOp)
    any_, exists = stmt.where.args
    assert isinstance(any_, ast.Quantified) and isinstance(any_.array, ast.ArrayExpr)
    assert isinstance(exists, ast.SubLink) and exists.kind == "exists"
    assert stmt.limit is not None


def test_write_extensions_become_the_ast() -> None:
    insert = one(
        "INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b "
        "WHERE t.b < 5 RETURNING *, a AS x"
    )
    assert isinstance(insert, ast.Insert) and insert.on_conflict is not None
    assert insert.on_conflict.columns == ("a",) and insert.on_conflict.action == "update"
    assert [i.name for i in insert.returning] == [None, "x"]
    update = one("UPDATE t SET b = u.b FROM u WHERE t.a = u.a RETURNING t.b")
    assert isinstance(update, ast.Update) and len(update.from_) == 1 and update.returning
    delete = one("DELETE FROM t USING u WHERE t.a = u.a")
    assert isinstance(delete, ast.Delete) and len(delete.using) == 1
    explain = one("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF) SELECT 1")
    assert isinstance(explain, ast.Explain) and explain.analyze and not explain.timing
    assert explain.summary is False
