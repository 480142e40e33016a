"""The parser adapter: SQL text -> `sql.ast`, via pglast (PostgreSQL's own parser).

This is the only module that imports pglast. It calls
`pglast.parser.parse_sql_json`, which runs libpg_query's raw parser and
returns JSON (about 20x faster than building pglast's Python node objects),
and converts the JSON dicts into our AST.

Invariants:

* Every parse failure is a `SyntaxErrorSQL` (42601) with PostgreSQL's message
  and its 1-based character position.
* Every construct the AST cannot express raises `FeatureNotSupported` (0A000)
  naming the construct (and its position when known); no other exception
  escapes for any input string.
* AST locations are character offsets: libpg_query reports node locations
  as byte offsets, which differ for non-ASCII text, so they are mapped here.

pglast's JSON leaves out fields that hold their default value (0, false, an
empty list), so every lookup here has a default.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from typing import Any

from pglast.parser import ParseError, parse_sql_json

from quorumdb.storage.errors import FeatureNotSupported, QuorumError, SyntaxErrorSQL

from . import ast

__all__ = ["parse"]

J = dict[str, Any]

_STATEMENT_NAMES = {
    "IndexStmt": "CREATE INDEX",
    "AlterTableStmt": "ALTER TABLE",
    "TruncateStmt": "TRUNCATE",
    "CopyStmt": "COPY",
    "ViewStmt": "CREATE VIEW",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "CreateSchemaStmt": "CREATE SCHEMA",
    "CreatedbStmt": "CREATE DATABASE",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "PrepareStmt": "PREPARE",
    "ExecuteStmt": "EXECUTE",
    "DeallocateStmt": "DEALLOCATE",
    "DiscardStmt": "DISCARD",
    "DeclareCursorStmt": "DECLARE CURSOR",
    "FetchStmt": "FETCH",
    "ClosePortalStmt": "CLOSE",
    "LockStmt": "LOCK",
    "MergeStmt": "MERGE",
    "VacuumStmt": "VACUUM",
    "DoStmt": "DO",
    "CallStmt": "CALL",
    "RenameStmt": "ALTER ... RENAME",
    "CommentStmt": "COMMENT",
    "GrantStmt": "GRANT",
}
_EXPR_NAMES = {
    "SubLink": "subqueries",
    "A_Indirection": "subscripts and field selection",
    "A_ArrayExpr": "arrays",
    "RowExpr": "row constructors",
    "CollateClause": "COLLATE",
    "MinMaxExpr": "GREATEST/LEAST",
    "GroupingFunc": "GROUPING",
    "XmlExpr": "XML",
    "JsonObjectConstructor": "JSON constructors",
}
_SVF_NAMES = {
    "SVFOP_CURRENT_USER": "current_user",
    "SVFOP_USER": "current_user",
    "SVFOP_SESSION_USER": "session_user",
    "SVFOP_CURRENT_ROLE": "current_user",
    "SVFOP_CURRENT_CATALOG": "current_database",
    "SVFOP_CURRENT_SCHEMA": "current_schema",
}


def _camel_words(name: str) -> str:
    name = name.removesuffix("Stmt")
    return " ".join(re.findall(r"[A-Z][a-z]*", name)).upper() or name


def parse(sql: str) -> tuple[ast.Statement, ...]:
    """Parse a query string holding zero or more statements."""
    try:
        tree = json.loads(parse_sql_json(sql))
    except ParseError as exc:
        message, index = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
        # pglast reports the error cursor as a 0-based *character* offset (unlike node
        # locations, which are byte offsets), and None at the end of the input.
        if isinstance(index, int):
            position: int | None = index + 1
        else:
            position = len(sql) + 1 if "end of input" in message else None
        raise SyntaxErrorSQL(message, position=position) from None
    converter = _Converter(_Locations(sql))
    try:
        return tuple(converter.statement(raw["stmt"]) for raw in tree.get("stmts", ()))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # A parse tree shape this adapter does not know: refuse it cleanly.
        raise FeatureNotSupported(
            f"this statement is not supported ({type(exc).__name__}: {exc})"
        ) from exc


class _Locations:
    """Maps libpg_query's byte offsets to character offsets."""

    def __init__(self, sql: str) -> None:
        self._starts: list[int] | None = None
        if not sql.isascii():
            starts, offset = [], 0
            for ch in sql:
                starts.append(offset)
                offset += len(ch.encode())
            self._starts = starts

    def char(self, byte_offset: int) -> int:
        if self._starts is None or byte_offset < 0:
            return byte_offset
        return bisect_right(self._starts, byte_offset) - 1


def _one(node: J) -> tuple[str, J]:
    """(kind, fields) of a JSON node like {"ColumnRef": {...}}."""
    ((kind, body),) = node.items()
    return kind, body


def _strings(items: list[J]) -> tuple[str, ...]:
    return tuple(item["String"]["sval"] for item in items)


class _Converter:
    def __init__(self, locations: _Locations) -> None:
        self._locations = locations

    def loc(self, body: J) -> int:
        return self._locations.char(body.get("location", 0))

    def unsupported(self, what: str, body: J | None = None) -> FeatureNotSupported:
        position = None
        if body is not None and body.get("location", 0) >= 0 and "location" in body:
            position = self.loc(body) + 1
        first = what.split(" ", 1)[0]
        verb = "are" if first.endswith("s") or " and " in what else "is"
        return FeatureNotSupported(f"{what} {verb} not supported", position=position)

    # ---- statements ----------------------------------------------------------

    def statement(self, node: J) -> ast.Statement:
        kind, body = _one(node)
        method = getattr(self, "stmt_" + kind, None)
        if method is None:
            raise self.unsupported(_STATEMENT_NAMES.get(kind) or _camel_words(kind))
        return method(body)

    def stmt_SelectStmt(self, body: J) -> ast.Select | ast.Values:
        op = body.get("op", "SETOP_NONE")
        if op != "SETOP_NONE":
            raise self.unsupported(op.removeprefix("SETOP_"))
        if "withClause" in body:
            raise self.unsupported("WITH")
        if "intoClause" in body:
            raise self.unsupported("SELECT INTO")
        if "lockingClause" in body:
            raise self.unsupported("SELECT FOR UPDATE/SHARE")
        if "windowClause" in body:
            raise self.unsupported("WINDOW")
        if body.get("limitOption") == "LIMIT_OPTION_WITH_TIES":
            raise self.unsupported("FETCH ... WITH TIES")
        order_by = tuple(self.sort_key(s["SortBy"]) for s in body.get("sortClause", ()))
        limit = self.expr(body["limitCount"]) if "limitCount" in body else None
        offset = self.expr(body["limitOffset"]) if "limitOffset" in body else None
        if "valuesLists" in body:
            rows = tuple(
                tuple(self.expr(e) for e in row["List"].get("items", ()))
                for row in body["valuesLists"]
            )
            return ast.Values(rows, order_by, limit, offset)
        distinct = "distinctClause" in body
        if distinct and any(body["distinctClause"]):
            raise self.unsupported("DISTINCT ON")
        having = self.expr(body["havingClause"]) if "havingClause" in body else None
        return ast.Select(
            items=tuple(self.select_item(t["ResTarget"]) for t in body.get("targetList", ())),
            from_=tuple(self.from_item(f) for f in body.get("fromClause", ())),
            where=self.expr(body["whereClause"]) if "whereClause" in body else None,
            group_by=tuple(self.group_item(g) for g in body.get("groupClause", ())),
            having=having,
            order_by=order_by,
            limit=limit,
            offset=offset,
            distinct=distinct,
        )

    def select_item(self, body: J) -> ast.SelectItem:
        if "indirection" in body:
            raise self.unsupported("subscripts and field selection", body)
        return ast.SelectItem(self.expr(body["val"]), body.get("name"), self.loc(body))

    def group_item(self, node: J) -> ast.Expr:
        kind, body = _one(node)
        if kind == "GroupingSet":
            raise self.unsupported("GROUPING SETS, ROLLUP and CUBE", body)
        return self.expr(node)

    def from_item(self, node: J) -> ast.TableName:
        kind, body = _one(node)
        if kind == "RangeVar":
            return self.table_name(body)
        names = {
            "JoinExpr": "JOIN",
            "RangeSubselect": "subqueries in FROM",
            "RangeFunction": "functions in FROM",
        }
        raise self.unsupported(names.get(kind, str(kind)), body)

    def table_name(self, body: J) -> ast.TableName:
        if "catalogname" in body:
            raise self.unsupported("cross-database references", body)
        if body.get("relpersistence", "p") == "t":
            raise self.unsupported("temporary tables", body)
        alias = body.get("alias")
        if alias is not None and "colnames" in alias:
            raise self.unsupported("aliases for columns in FROM", body)
        return ast.TableName(
            body["relname"],
            body.get("schemaname"),
            alias["aliasname"] if alias else None,
            self.loc(body),
        )

    def sort_key(self, body: J) -> ast.SortKey:
        direction = body.get("sortby_dir", "SORTBY_DEFAULT")
        if direction == "SORTBY_USING":
            raise self.unsupported("ORDER BY ... USING", body)
        nulls = body.get("sortby_nulls", "SORTBY_NULLS_DEFAULT")
        return ast.SortKey(
            self.expr(body["node"]),
            descending=direction == "SORTBY_DESC",
            nulls_first=None if nulls == "SORTBY_NULLS_DEFAULT" else nulls == "SORTBY_NULLS_FIRST",
        )

    def _no_returning(self, body: J) -> None:
        if "returningList" in body or "returningClause" in body:
            raise self.unsupported("RETURNING")
        if "withClause" in body:
            raise self.unsupported("WITH")

    def stmt_InsertStmt(self, body: J) -> ast.Insert:
        self._no_returning(body)
        if "onConflictClause" in body:
            raise self.unsupported("ON CONFLICT", body["onConflictClause"])
        if body.get("override", "OVERRIDING_NOT_SET") != "OVERRIDING_NOT_SET":
            raise self.unsupported("OVERRIDING")
        columns = []
        for target in body.get("cols", ()):
            t = target["ResTarget"]
            if "indirection" in t:
                raise self.unsupported("subscripts and field selection", t)
            columns.append((t["name"], self.loc(t)))
        source = (
            self.stmt_SelectStmt(body["selectStmt"]["SelectStmt"]) if "selectStmt" in body else None
        )
        return ast.Insert(self.table_name(body["relation"]), tuple(columns), source)

    def stmt_UpdateStmt(self, body: J) -> ast.Update:
        self._no_returning(body)
        if "fromClause" in body:
            raise self.unsupported("UPDATE ... FROM")
        assignments = []
        for target in body.get("targetList", ()):
            t = target["ResTarget"]
            if "indirection" in t:
                raise self.unsupported("subscripts and field selection", t)
            if _one(t["val"])[0] == "MultiAssignRef":
                raise self.unsupported("multiple-column assignment", t)
            assignments.append(ast.Assignment(t["name"], self.expr(t["val"]), self.loc(t)))
        where = self.expr(body["whereClause"]) if "whereClause" in body else None
        return ast.Update(self.table_name(body["relation"]), tuple(assignments), where)

    def stmt_DeleteStmt(self, body: J) -> ast.Delete:
        self._no_returning(body)
        if "usingClause" in body:
            raise self.unsupported("DELETE ... USING")
        where = self.expr(body["whereClause"]) if "whereClause" in body else None
        return ast.Delete(self.table_name(body["relation"]), where)

    def stmt_CreateStmt(self, body: J) -> ast.CreateTable:
        for key, what in (
            ("inhRelations", "INHERITS"),
            ("partspec", "PARTITION BY"),
            ("partbound", "PARTITION OF"),
            ("ofTypename", "OF type"),
            ("options", "WITH options"),
            ("tablespacename", "TABLESPACE"),
        ):
            if key in body:
                raise self.unsupported(what)
        table = self.table_name(body["relation"])
        columns: list[ast.ColumnDef] = []
        primary_key: tuple[str, ...] | None = None
        pk_location = -1
        constraint_name = None
        pk_locations: list[int] = []  # every PRIMARY KEY, column or table constraint, in text order
        for element in body.get("tableElts", ()):
            kind, e = _one(element)
            if kind == "ColumnDef":
                column, locations = self.column_def(e, table.name)
                columns.append(column)
                pk_locations.extend(locations)
            elif kind == "Constraint":
                contype = e["contype"]
                if contype != "CONSTR_PRIMARY":
                    raise self.unsupported(_constraint_name(contype), e)
                if "including" in e:
                    raise self.unsupported("INCLUDE", e)
                pk_locations.append(self.loc(e))
                primary_key = _strings(e.get("keys", []))
                pk_location = self.loc(e)
                constraint_name = e.get("conname")
            else:
                raise self.unsupported("LIKE in CREATE TABLE", e)
        if len(pk_locations) > 1:
            raise QuorumError(
                f'multiple primary keys for table "{table.name}" are not allowed',
                sqlstate="42P16",
                position=pk_locations[1] + 1,
            )
        return ast.CreateTable(
            table,
            tuple(columns),
            primary_key,
            pk_location,
            constraint_name,
            bool(body.get("if_not_exists")),
        )

    def column_def(self, body: J, table: str) -> tuple[ast.ColumnDef, list[int]]:
        """The column, and the locations of its PRIMARY KEY constraints."""
        if "collClause" in body:
            raise self.unsupported("COLLATE", body)
        not_null: bool | None = None
        pk_locations: list[int] = []
        name = body["colname"]
        for c in body.get("constraints", ()):
            con = c["Constraint"]
            contype = con["contype"]
            if contype in ("CONSTR_NOTNULL", "CONSTR_NULL"):
                wanted = contype == "CONSTR_NOTNULL"
                if not_null is not None and not_null != wanted:
                    raise SyntaxErrorSQL(
                        f'conflicting NULL/NOT NULL declarations for column "{name}" of table "{table}"',
                        position=self.loc(con) + 1,
                    )
                not_null = wanted
            elif contype == "CONSTR_PRIMARY":
                pk_locations.append(self.loc(con))
            else:
                raise self.unsupported(_constraint_name(contype), con)
        column = ast.ColumnDef(
            name,
            self.type_name(body["typeName"]),
            bool(not_null),
            bool(pk_locations),
            self.loc(body),
        )
        return column, pk_locations

    def type_name(self, body: J) -> ast.TypeName:
        if body.get("setof") or body.get("pct_type"):
            raise self.unsupported("SETOF and %TYPE", body)
        modifiers = []
        for m in body.get("typmods", ()):
            kind, mb = _one(m)
            if kind != "A_Const" or "ival" not in mb:
                raise SyntaxErrorSQL(
                    "type modifiers must be simple constants", position=self.loc(mb) + 1
                )
            modifiers.append(mb["ival"].get("ival", 0))
        return ast.TypeName(
            _strings(body["names"]), tuple(modifiers), "arrayBounds" in body, self.loc(body)
        )

    def stmt_DropStmt(self, body: J) -> ast.DropTable:
        if body.get("removeType") != "OBJECT_TABLE":
            raise self.unsupported("DROP " + body.get("removeType", "").removeprefix("OBJECT_"))
        tables = []
        for obj in body.get("objects", ()):
            parts = _strings(obj["List"]["items"])
            if len(parts) > 2:
                raise self.unsupported("cross-database references")
            tables.append(ast.TableName(parts[-1], parts[0] if len(parts) == 2 else None))
        return ast.DropTable(
            tuple(tables), bool(body.get("missing_ok")), body.get("behavior") == "DROP_CASCADE"
        )

    def stmt_TransactionStmt(self, body: J) -> ast.Statement:
        kind = body["kind"]
        if body.get("chain"):
            raise self.unsupported("AND CHAIN")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            isolation, read_only = self.transaction_modes(body.get("options", ()))
            tag = "BEGIN" if kind == "TRANS_STMT_BEGIN" else "START TRANSACTION"
            return ast.Begin(isolation, read_only, tag)
        if kind == "TRANS_STMT_COMMIT":
            return ast.Commit()
        if kind == "TRANS_STMT_ROLLBACK":
            return ast.Rollback()
        if kind in ("TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"):
            raise self.unsupported("SAVEPOINT")
        raise self.unsupported("two-phase commit")

    def transaction_modes(self, options: Any) -> tuple[str | None, bool | None]:
        isolation: str | None = None
        read_only: bool | None = None
        for option in options:
            d = option["DefElem"]
            arg = d.get("arg", {}).get("A_Const", {})
            if d["defname"] == "transaction_isolation":
                isolation = arg["sval"]["sval"]
            elif d["defname"] == "transaction_read_only":
                read_only = bool(arg.get("ival", {}).get("ival", 0))
            elif d["defname"] == "transaction_deferrable":
                pass  # DEFERRABLE only matters for SERIALIZABLE READ ONLY; accepted and ignored
        return isolation, read_only

    def stmt_VariableSetStmt(self, body: J) -> ast.Statement:
        kind = body["kind"]
        local = bool(body.get("is_local"))
        if kind == "VAR_SET_VALUE":
            return ast.SetVariable(
                body["name"], tuple(self.setting_value(a) for a in body.get("args", ())), local
            )
        if kind == "VAR_SET_DEFAULT":
            return ast.SetVariable(body["name"], None, local)
        if kind == "VAR_RESET":
            return ast.ResetVariable(body["name"])
        if kind == "VAR_RESET_ALL":
            return ast.ResetVariable(None)
        if kind == "VAR_SET_MULTI" and body["name"] in ("TRANSACTION", "SESSION CHARACTERISTICS"):
            isolation, read_only = self.transaction_modes(body.get("args", ()))
            return ast.SetTransaction(isolation, read_only, body["name"] != "TRANSACTION")
        raise self.unsupported("SET " + body.get("name", "FROM CURRENT"))

    def setting_value(self, node: J) -> str:
        kind, body = _one(node)
        if kind == "A_Const":
            literal = self.constant(body)
            if literal.value is None:
                return "null"
            return str(literal.value).lower() if literal.kind == "bool" else str(literal.value)
        raise self.unsupported("this form of SET", body)

    def stmt_VariableShowStmt(self, body: J) -> ast.ShowVariable:
        return ast.ShowVariable(body["name"])

    def stmt_ExplainStmt(self, body: J) -> ast.Explain:
        for option in body.get("options", ()):
            name = option["DefElem"]["defname"]
            if name not in ("costs", "verbose"):
                raise self.unsupported(f"EXPLAIN option {name.upper()}")
        return ast.Explain(self.statement(body["query"]))

    # ---- expressions -----------------------------------------------------------

    def expr(self, node: J) -> ast.Expr:
        kind, body = _one(node)
        method = getattr(self, "expr_" + kind, None)
        if method is None:
            raise self.unsupported(_EXPR_NAMES.get(kind, kind), body)
        return method(body)

    def constant(self, body: J) -> ast.Literal:
        location = self.loc(body)
        if body.get("isnull"):
            return ast.Literal("null", None, location)
        if "ival" in body:
            return ast.Literal("int", body["ival"].get("ival", 0), location)
        if "fval" in body:
            text = body["fval"]["fval"]
            if text.lstrip("-").isdigit():
                value = int(text)
                if -(1 << 63) <= value < (1 << 63):
                    return ast.Literal("int", value, location)
            return ast.Literal("numeric", text, location)
        if "sval" in body:
            return ast.Literal("string", body["sval"].get("sval", ""), location)
        if "boolval" in body:
            return ast.Literal("bool", bool(body["boolval"].get("boolval", False)), location)
        raise self.unsupported("bit-string constants", body)

    def expr_A_Const(self, body: J) -> ast.Expr:
        return self.constant(body)

    def expr_ColumnRef(self, body: J) -> ast.Expr:
        fields = body["fields"]
        location = self.loc(body)
        if "A_Star" in fields[-1]:
            table = _strings(fields[:-1])
            if len(table) > 1:
                raise self.unsupported("schema names in t.*", body)
            return ast.Star(table[0] if table else None, location)
        return ast.ColumnName(_strings(fields), location)

    def expr_ParamRef(self, body: J) -> ast.Expr:
        return ast.Param(body.get("number", 0), self.loc(body))

    def expr_TypeCast(self, body: J) -> ast.Expr:
        type_name = self.type_name(body["typeName"])
        if type_name.array:
            raise self.unsupported("arrays", body)
        return ast.Cast(self.expr(body["arg"]), type_name, self.loc(body))

    def expr_A_Expr(self, body: J) -> ast.Expr:
        kind = body["kind"]
        name = _strings(body["name"])[-1]
        location = self.loc(body)
        left = self.expr(body["lexpr"]) if "lexpr" in body else None
        if kind == "AEXPR_OP":
            right = self.expr(body["rexpr"])
            if left is None:
                return ast.UnaryOp(name, right, location)
            return ast.BinaryOp(name, left, right, location)
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE"):
            rkind, rbody = _one(body["rexpr"])
            if rkind == "FuncCall" and _strings(rbody["funcname"])[-1] == "like_escape":
                raise self.unsupported("LIKE ... ESCAPE", body)
            return ast.BinaryOp(name, left, self.expr(body["rexpr"]), location)  # type: ignore[arg-type]
        if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            op = "is distinct from" if kind == "AEXPR_DISTINCT" else "is not distinct from"
            return ast.BinaryOp(op, left, self.expr(body["rexpr"]), location)  # type: ignore[arg-type]
        if kind == "AEXPR_NULLIF":
            return ast.NullIf(left, self.expr(body["rexpr"]), location)  # type: ignore[arg-type]
        if kind == "AEXPR_IN":
            rexpr = body["rexpr"]
            if "List" not in rexpr:
                raise self.unsupported("IN with a subquery", body)
            items = tuple(self.expr(e) for e in rexpr["List"].get("items", ()))
            return ast.InList(left, items, name == "<>", location)  # type: ignore[arg-type]
        if kind in (
            "AEXPR_BETWEEN",
            "AEXPR_NOT_BETWEEN",
            "AEXPR_BETWEEN_SYM",
            "AEXPR_NOT_BETWEEN_SYM",
        ):
            low, high = (self.expr(e) for e in body["rexpr"]["List"]["items"])
            return ast.Between(
                left,  # type: ignore[arg-type]
                low,
                high,
                negated="NOT" in kind,
                symmetric=kind.endswith("_SYM"),
                location=location,
            )
        names = {"AEXPR_OP_ANY": "ANY", "AEXPR_OP_ALL": "ALL", "AEXPR_SIMILAR": "SIMILAR TO"}
        raise self.unsupported(names.get(kind, str(kind)), body)

    def expr_BoolExpr(self, body: J) -> ast.Expr:
        args = tuple(self.expr(a) for a in body["args"])
        location = self.loc(body)
        if body["boolop"] == "NOT_EXPR":
            return ast.Not(args[0], location)
        return ast.BoolOp("and" if body["boolop"] == "AND_EXPR" else "or", args, location)

    def expr_NullTest(self, body: J) -> ast.Expr:
        if body.get("argisrow"):
            raise self.unsupported("row constructors", body)
        return ast.IsNull(
            self.expr(body["arg"]), body["nulltesttype"] == "IS_NOT_NULL", self.loc(body)
        )

    def expr_BooleanTest(self, body: J) -> ast.Expr:
        test = body["booltesttype"]  # IS_TRUE, IS_NOT_FALSE, IS_UNKNOWN ...
        negated = test.startswith("IS_NOT_")
        word = test.removeprefix("IS_NOT_" if negated else "IS_").lower()
        return ast.BooleanTest(self.expr(body["arg"]), word, negated, self.loc(body))

    def expr_FuncCall(self, body: J) -> ast.Expr:
        names = _strings(body["funcname"])
        if len(names) == 2 and names[0] == "pg_catalog":
            names = names[1:]
        if len(names) != 1:
            raise self.unsupported("functions with a schema", body)
        if "over" in body:
            raise self.unsupported("window functions", body)
        if "agg_filter" in body:
            raise self.unsupported("FILTER", body)
        if "agg_order" in body or body.get("agg_within_group"):
            raise self.unsupported("ordered-set aggregates", body)
        if body.get("func_variadic"):
            raise self.unsupported("VARIADIC", body)
        args = tuple(self.expr(a) for a in body.get("args", ()))
        return ast.FuncCall(
            names[0],
            args,
            bool(body.get("agg_star")),
            bool(body.get("agg_distinct")),
            self.loc(body),
        )

    def expr_SQLValueFunction(self, body: J) -> ast.Expr:
        name = _SVF_NAMES.get(body["op"])
        if name is None:
            raise self.unsupported(body["op"].removeprefix("SVFOP_").replace("_", " "), body)
        return ast.FuncCall(name, (), location=self.loc(body))

    def expr_CaseExpr(self, body: J) -> ast.Expr:
        whens = tuple(
            (self.expr(w["CaseWhen"]["expr"]), self.expr(w["CaseWhen"]["result"]))
            for w in body["args"]
        )
        operand = self.expr(body["arg"]) if "arg" in body else None
        default = self.expr(body["defresult"]) if "defresult" in body else None
        return ast.Case(operand, whens, default, self.loc(body))

    def expr_CoalesceExpr(self, body: J) -> ast.Expr:
        return ast.Coalesce(tuple(self.expr(a) for a in body["args"]), self.loc(body))

    def expr_SetToDefault(self, body: J) -> ast.Expr:
        return ast.Default(self.loc(body))


def _constraint_name(contype: str) -> str:
    return {
        "CONSTR_UNIQUE": "UNIQUE constraints",
        "CONSTR_CHECK": "CHECK constraints",
        "CONSTR_FOREIGN": "FOREIGN KEY constraints",
        "CONSTR_DEFAULT": "DEFAULT",
        "CONSTR_IDENTITY": "identity columns",
        "CONSTR_GENERATED": "generated columns",
        "CONSTR_EXCLUSION": "EXCLUDE constraints",
        "CONSTR_ATTR_DEFERRABLE": "DEFERRABLE",
        "CONSTR_ATTR_NOT_DEFERRABLE": "DEFERRABLE",
        "CONSTR_ATTR_DEFERRED": "DEFERRABLE",
        "CONSTR_ATTR_IMMEDIATE": "DEFERRABLE",
    }.get(contype, contype)
