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

from pglast import parse_sql as parse_sql_objects
from pglast.parser import ParseError, parse_sql_json
from pglast.stream import RawStream
from pglast.visitors import Visitor

from quorumdb.storage.errors import FeatureNotSupported, SyntaxErrorSQL

from . import ast
from .clientsyntax import ClientStatements
from .ddl_parser import DdlStatements

__all__ = ["parse", "rename_column_refs"]

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
    "NamedArgExpr": "named arguments",
}
_SVF_NAMES = {
    "SVFOP_CURRENT_DATE": "current_date",
    "SVFOP_CURRENT_TIMESTAMP": "current_timestamp",
    "SVFOP_CURRENT_TIMESTAMP_N": "current_timestamp",
    "SVFOP_LOCALTIMESTAMP": "localtimestamp",
    "SVFOP_LOCALTIMESTAMP_N": "localtimestamp",
    "SVFOP_CURRENT_TIME": "current_time",
    "SVFOP_CURRENT_TIME_N": "current_time",
    "SVFOP_LOCALTIME": "localtime",
    "SVFOP_LOCALTIME_N": "localtime",
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
    converter = _Converter(_Locations(sql), sql)
    try:
        return tuple(
            converter.top_statement(i, raw["stmt"]) for i, raw in enumerate(tree.get("stmts", ()))
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # A parse tree shape this adapter does not know: refuse it cleanly.
        raise FeatureNotSupported(
            f"this statement is not supported ({type(exc).__name__}: {exc})"
        ) from exc


def rename_column_refs(expr_text: str, old: str, new: str) -> str:
    """`expr_text` (a stored CHECK expression) with column `old` called `new`."""
    (raw,) = parse_sql_objects("SELECT " + expr_text)
    target = raw.stmt.targetList[0].val  # type: ignore[union-attr]

    class Renamer(Visitor):  # type: ignore[misc]
        def visit_ColumnRef(self, ancestors: Any, node: Any) -> None:
            last = node.fields[-1]
            if getattr(last, "sval", None) == old:
                last.sval = new

    Renamer()(target)
    return str(RawStream()(target))


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


def _path_to(node: Any, target: J, path: list[str | int]) -> list[str | int] | None:
    """The attribute/index path from `node` to the JSON object `target` (by identity),
    skipping the {"Kind": {...}} wrappers that pglast's node objects do not have."""
    if node is target:
        return path
    if isinstance(node, dict):
        if len(node) == 1:
            ((kind, body),) = node.items()
            if kind[:1].isupper() and isinstance(body, dict):
                return path if body is target else _path_to(body, target, path)
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                found = _path_to(value, target, [*path, key])
                if found is not None:
                    return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _path_to(value, target, [*path, i])
            if found is not None:
                return found
    return None


class _Converter(DdlStatements, ClientStatements):
    def __init__(self, locations: _Locations, sql: str = "") -> None:
        self._locations = locations
        self._sql = sql
        self._index = 0  # the statement being converted, and its JSON (for `deparse`)
        self._root: J = {}
        self._objects: Any = None  # pglast's node objects of `sql`, parsed on first `deparse`

    def top_statement(self, index: int, node: J) -> ast.Statement:
        self._index, self._root = index, node
        return self.statement(node)

    def _object_of(self, target: J) -> Any:
        """pglast's node object for a JSON node of the current statement (same path)."""
        path = _path_to(self._root, target, [])
        if path is None:
            raise ValueError("expression not found in its statement")
        if self._objects is None:
            self._objects = parse_sql_objects(self._sql)
        obj = self._objects[self._index].stmt
        for step in path:
            if isinstance(step, int):
                obj = obj[step]
            else:  # pglast appends "_" to names that are Python keywords ("def")
                obj = getattr(obj, step) if hasattr(obj, step) else getattr(obj, step + "_")
        return obj

    def deparse(self, node: J) -> str:
        """The SQL text of an expression (a DEFAULT, a CHECK), via pglast's deparser."""
        return str(RawStream()(self._object_of(node)))

    def deparse_query(self, body: J) -> str:
        """The SQL text of a query (a view's body); `body` is a SelectStmt's fields."""
        return str(RawStream()(self._object_of(body)))

    def loc(self, body: J) -> int:
        return self._locations.char(body.get("location", 0))

    def unsupported(self, what: str, body: J | None = None) -> FeatureNotSupported:
        position = None
        if body is not None and body.get("location", 0) >= 0 and "location" in body:
            position = self.loc(body) + 1
        words = what.split(" ")
        plural = " and " in what or any(w.endswith("s") and w.islower() for w in (words[0], words[-1]))
        verb = "are" if plural else "is"
        return FeatureNotSupported(f"{what} {verb} not supported", position=position)

    # ---- statements ----------------------------------------------------------

    def statement(self, node: J) -> ast.Statement:
        kind, body = _one(node)
        method = getattr(self, "stmt_" + kind, None)
        if method is None:
            raise self.unsupported(_STATEMENT_NAMES.get(kind) or _camel_words(kind))
        return method(body)

    def stmt_SelectStmt(self, body: J) -> ast.Query:
        op = body.get("op", "SETOP_NONE")
        with_ = self.with_clause(body["withClause"]) if "withClause" in body else None
        if op != "SETOP_NONE":
            if "lockingClause" in body:
                raise self.unsupported("SELECT FOR UPDATE/SHARE")
            if body.get("limitOption") == "LIMIT_OPTION_WITH_TIES":
                raise self.unsupported("FETCH ... WITH TIES")
            return ast.SetOperation(
                op.removeprefix("SETOP_").lower(),
                bool(body.get("all")),
                self.stmt_SelectStmt(body["larg"]),
                self.stmt_SelectStmt(body["rarg"]),
                tuple(self.sort_key(s["SortBy"]) for s in body.get("sortClause", ())),
                self.expr(body["limitCount"]) if "limitCount" in body else None,
                self.expr(body["limitOffset"]) if "limitOffset" in body else None,
                with_,
            )
        if "intoClause" in body:
            raise self.unsupported("SELECT INTO")
        locking = tuple(
            self.locking_clause(c["LockingClause"]) for c in body.get("lockingClause", ())
        )
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
            if locking:
                raise self.unsupported("FOR UPDATE/SHARE on VALUES")
            if with_ is not None:
                raise self.unsupported("WITH before VALUES")
            return ast.Values(rows, order_by, limit, offset)
        distinct = "distinctClause" in body
        distinct_on: tuple[ast.Expr, ...] = ()
        if distinct and any(body["distinctClause"]):
            distinct_on = tuple(self.expr(e) for e in body["distinctClause"])
        windows = tuple(
            self.window_spec(w["WindowDef"], defines=True) for w in body.get("windowClause", ())
        )
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
            distinct_on=distinct_on,
            windows=windows,
            with_=with_,
            locking=locking,
        )

    def locking_clause(self, body: J) -> ast.LockingClause:
        """FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE [OF tables] [NOWAIT | SKIP LOCKED]."""
        strength = {
            "LCS_FORUPDATE": "update",
            "LCS_FORNOKEYUPDATE": "no key update",
            "LCS_FORSHARE": "share",
            "LCS_FORKEYSHARE": "key share",
        }[body["strength"]]
        wait = {"LockWaitBlock": "block", "LockWaitError": "nowait", "LockWaitSkip": "skip"}[
            body.get("waitPolicy", "LockWaitBlock")
        ]
        rels = [r["RangeVar"] for r in body.get("lockedRels", ())]
        return ast.LockingClause(
            strength, tuple(r["relname"] for r in rels), wait, tuple(self.loc(r) for r in rels)
        )

    def with_clause(self, body: J) -> ast.With:
        ctes = []
        for node in body.get("ctes", ()):
            cte = node["CommonTableExpr"]
            if "search_clause" in cte or "cycle_clause" in cte:
                raise self.unsupported("SEARCH and CYCLE", cte)
            materialized = {"CTEMaterializeAlways": True, "CTEMaterializeNever": False}.get(
                cte.get("ctematerialized", "")
            )
            ctes.append(
                ast.CommonTable(
                    cte["ctename"],
                    _strings(cte.get("aliascolnames", [])),
                    self.statement(cte["ctequery"]),
                    materialized,
                    self.loc(cte),
                )
            )
        return ast.With(tuple(ctes), bool(body.get("recursive")))

    def window_spec(self, body: J, defines: bool = False) -> ast.WindowSpec:
        """A WINDOW clause entry (`defines`) or the OVER clause of a call."""
        options = body.get("frameOptions", 0)
        if defines:
            name, ref = body.get("name"), body.get("refname")
        else:
            name, ref = None, body.get("name") or body.get("refname")
        mode = "range"
        start = end = None
        exclude = None
        if options & 0x1:  # FRAMEOPTION_NONDEFAULT
            mode = "rows" if options & 0x4 else ("groups" if options & 0x8 else "range")
            start = self.frame_bound(options, body.get("startOffset"), start=True)
            end = self.frame_bound(options, body.get("endOffset"), start=False)
            if options & 0x8000:
                exclude = "current row"
            elif options & 0x10000:
                exclude = "group"
            elif options & 0x20000:
                exclude = "ties"
        return ast.WindowSpec(
            name,
            ref,
            tuple(self.expr(e) for e in body.get("partitionClause", ())),
            tuple(self.sort_key(s["SortBy"]) for s in body.get("orderClause", ())),
            mode,
            start,
            end,
            exclude,
            self.loc(body),
        )

    def frame_bound(self, options: int, offset: J | None, start: bool) -> ast.FrameBound:
        # FRAMEOPTION_{START,END}_* bits, in PostgreSQL's order.
        bits = (
            (0x20, 0x200, 0x800, 0x2000, 0x80)
            if start
            else (0x40, 0x400, 0x1000, 0x4000, 0x100)
        )
        unbounded_preceding, current_row, preceding, following, unbounded_following = bits
        if options & unbounded_preceding:
            return ast.FrameBound("unbounded preceding")
        if options & unbounded_following:
            return ast.FrameBound("unbounded following")
        if options & preceding:
            return ast.FrameBound("preceding", self.expr(offset) if offset else None)
        if options & following:
            return ast.FrameBound("following", self.expr(offset) if offset else None)
        if options & current_row or not start:
            return ast.FrameBound("current row")
        return ast.FrameBound("unbounded preceding")

    def select_item(self, body: J) -> ast.SelectItem:
        if "indirection" in body:
            raise self.unsupported("subscripts and field selection", body)
        return ast.SelectItem(self.expr(body["val"]), body.get("name"), self.loc(body))

    def group_item(self, node: J) -> ast.Expr:
        kind, body = _one(node)
        if kind == "GroupingSet":
            raise self.unsupported("GROUPING SETS, ROLLUP and CUBE", body)
        return self.expr(node)

    def from_item(self, node: J) -> ast.FromItem:
        kind, body = _one(node)
        if kind == "RangeVar":
            return self.table_name(body)
        if kind == "JoinExpr":
            return self.join(body)
        if kind == "RangeSubselect":
            alias = body.get("alias")
            return ast.SubqueryRef(
                self.statement(body["subquery"]),  # type: ignore[arg-type]
                alias["aliasname"] if alias else None,
                _strings(alias.get("colnames", [])) if alias else (),
                bool(body.get("lateral")),
                self.loc(alias) if alias and "location" in alias else -1,
            )
        if kind == "RangeFunction":
            return self.function_ref(body)
        names = {"RangeTableSample": "TABLESAMPLE", "RangeTableFunc": "XMLTABLE"}
        raise self.unsupported(names.get(kind, str(kind)), body)

    def join(self, body: J) -> ast.Join:
        if "alias" in body or "join_using_alias" in body:
            raise self.unsupported("aliases for joins", body)
        kind = {
            "JOIN_INNER": "inner",
            "JOIN_LEFT": "left",
            "JOIN_RIGHT": "right",
            "JOIN_FULL": "full",
        }.get(body.get("jointype", "JOIN_INNER"))
        if kind is None:
            raise self.unsupported(body.get("jointype", "this join"), body)
        natural = bool(body.get("isNatural"))
        using = _strings(body.get("usingClause", []))
        on = self.expr(body["quals"]) if "quals" in body else None
        if kind == "inner" and on is None and not using and not natural:
            kind = "cross"
        return ast.Join(
            kind,
            self.from_item(body["larg"]),
            self.from_item(body["rarg"]),
            on,
            using,
            natural,
            self.loc(body) if "location" in body else -1,
        )

    def function_ref(self, body: J) -> ast.FunctionRef:
        functions = body.get("functions", ())
        if body.get("is_rowsfrom") or len(functions) != 1:
            raise self.unsupported("ROWS FROM", body)
        if "coldeflist" in body:
            raise self.unsupported("column definition lists", body)
        items = functions[0]["List"]["items"]
        if len(items) > 1 and items[1]:
            raise self.unsupported("column definition lists", body)
        kind, call = _one(items[0])
        if kind != "FuncCall":
            raise self.unsupported("this expression in FROM", call)
        func = self.expr_FuncCall(call)
        assert isinstance(func, ast.FuncCall)
        alias = body.get("alias")
        return ast.FunctionRef(
            func,
            alias["aliasname"] if alias else None,
            _strings(alias.get("colnames", [])) if alias else (),
            bool(body.get("ordinality")),
            bool(body.get("lateral")),
            func.location,
        )

    def table_name(self, body: J) -> ast.TableName:
        if "catalogname" in body:
            raise self.unsupported("cross-database references", body)
        if body.get("relpersistence", "p") == "t":
            raise self.unsupported("temporary tables", body)
        alias = body.get("alias")
        return ast.TableName(
            body["relname"],
            body.get("schemaname"),
            alias["aliasname"] if alias else None,
            self.loc(body),
            _strings(alias.get("colnames", [])) if alias else (),
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

    def returning(self, body: J) -> tuple[ast.SelectItem, ...]:
        targets = body.get("returningList") or body.get("returningClause", {}).get("exprs", ())
        return tuple(self.select_item(t["ResTarget"]) for t in targets)

    def dml_with(self, body: J) -> ast.With | None:
        return self.with_clause(body["withClause"]) if "withClause" in body else None

    def assignments(self, targets: Any) -> tuple[ast.Assignment, ...]:
        result = []
        for target in targets:
            t = target["ResTarget"]
            if "indirection" in t:
                raise self.unsupported("subscripts and field selection", t)
            if _one(t["val"])[0] == "MultiAssignRef":
                raise self.unsupported("multiple-column assignment", t)
            result.append(ast.Assignment(t["name"], self.expr(t["val"]), self.loc(t)))
        return tuple(result)

    def on_conflict(self, body: J) -> ast.OnConflict:
        infer = body.get("infer", {})
        columns = []
        for elem in infer.get("indexElems", ()):
            e = elem["IndexElem"]
            if "name" not in e:
                raise self.unsupported("expressions in ON CONFLICT", body)
            columns.append(e["name"])
        action = "update" if body.get("action") == "ONCONFLICT_UPDATE" else "nothing"
        return ast.OnConflict(
            tuple(columns),
            infer.get("conname"),
            action,
            self.assignments(body.get("targetList", ())),
            self.expr(body["whereClause"]) if "whereClause" in body else None,
            self.expr(infer["whereClause"]) if "whereClause" in infer else None,
            self.loc(body),
        )

    def stmt_InsertStmt(self, body: J) -> ast.Insert:
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
        return ast.Insert(
            self.table_name(body["relation"]),
            tuple(columns),
            source,
            self.returning(body),
            self.on_conflict(body["onConflictClause"]) if "onConflictClause" in body else None,
            self.dml_with(body),
        )

    def stmt_UpdateStmt(self, body: J) -> ast.Update:
        assignments = self.assignments(body.get("targetList", ()))
        where = self.expr(body["whereClause"]) if "whereClause" in body else None
        return ast.Update(
            self.table_name(body["relation"]),
            assignments,
            where,
            tuple(self.from_item(f) for f in body.get("fromClause", ())),
            self.returning(body),
            self.dml_with(body),
        )

    def stmt_DeleteStmt(self, body: J) -> ast.Delete:
        where = self.expr(body["whereClause"]) if "whereClause" in body else None
        return ast.Delete(
            self.table_name(body["relation"]),
            where,
            tuple(self.from_item(f) for f in body.get("usingClause", ())),
            self.returning(body),
            self.dml_with(body),
        )

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
        if kind == "TRANS_STMT_SAVEPOINT":
            return ast.Savepoint(body["savepoint_name"])
        if kind == "TRANS_STMT_RELEASE":
            return ast.ReleaseSavepoint(body["savepoint_name"])
        if kind == "TRANS_STMT_ROLLBACK_TO":
            return ast.RollbackToSavepoint(body["savepoint_name"])
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
        flags: dict[str, bool] = {}
        for option in body.get("options", ()):
            d = option["DefElem"]
            name = d["defname"]
            value = True
            if "arg" in d:
                kind, arg = _one(d["arg"])
                word = str(arg.get("sval", arg.get("ival", arg.get("boolval", "")))).lower()
                if name == "format":
                    if word != "text":
                        raise self.unsupported(f"EXPLAIN (FORMAT {word.upper()})")
                    continue
                value = word not in ("off", "false", "0", "no")
            if name not in ("analyze", "timing", "summary", "costs", "verbose", "buffers"):
                raise self.unsupported(f"EXPLAIN option {name.upper()}")
            flags[name] = value
        return ast.Explain(
            self.statement(body["query"]),
            analyze=flags.get("analyze", False),
            timing=flags.get("timing", True),
            summary=flags.get("summary"),
        )

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
        location = self.loc(body)
        if location < 0:  # a typed literal (date '2020-01-01'): the type name's position
            location = type_name.location
        return ast.Cast(self.expr(body["arg"]), type_name, location)

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
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE", "AEXPR_SIMILAR"):
            # The pattern of LIKE ... ESCAPE / SIMILAR TO is a call of like_escape /
            # similar_to_escape, as in PostgreSQL's own parse tree.
            return ast.BinaryOp(name, left, self.expr(body["rexpr"]), location)  # type: ignore[arg-type]
        if kind in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
            return ast.Quantified(
                name,
                left,  # type: ignore[arg-type]
                self.expr(body["rexpr"]),
                kind == "AEXPR_OP_ALL",
                location,
            )
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
        raise self.unsupported(str(kind), body)

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
        if body.get("agg_within_group"):
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
            self.expr(body["agg_filter"]) if "agg_filter" in body else None,
            tuple(self.sort_key(s["SortBy"]) for s in body.get("agg_order", ())),
            self.window_spec(body["over"]) if "over" in body else None,
            body.get("funcformat") == "COERCE_SQL_SYNTAX",
        )

    def expr_SubLink(self, body: J) -> ast.Expr:
        kind = body["subLinkType"]
        query = self.statement(body["subselect"])
        location = self.loc(body)
        if kind == "EXISTS_SUBLINK":
            return ast.SubLink("exists", query, location=location)  # type: ignore[arg-type]
        if kind == "EXPR_SUBLINK":
            return ast.SubLink("scalar", query, location=location)  # type: ignore[arg-type]
        if kind == "ARRAY_SUBLINK":
            return ast.SubLink("array", query, location=location)  # type: ignore[arg-type]
        if kind in ("ANY_SUBLINK", "ALL_SUBLINK"):
            operand = self.expr(body["testexpr"])
            op = _strings(body["operName"])[-1] if "operName" in body else "="
            return ast.SubLink(
                "any" if kind == "ANY_SUBLINK" else "all",
                query,  # type: ignore[arg-type]
                operand,
                op,
                location,
            )
        raise self.unsupported("this kind of subquery", body)

    def expr_A_ArrayExpr(self, body: J) -> ast.Expr:
        return ast.ArrayExpr(tuple(self.expr(e) for e in body.get("elements", ())), self.loc(body))

    def expr_A_Indirection(self, body: J) -> ast.Expr:
        result = self.expr(body["arg"])
        for item in body["indirection"]:
            kind, ib = _one(item)
            if kind != "A_Indices" or ib.get("is_slice") or "uidx" not in ib:
                raise self.unsupported("array slices and field selection", body)
            result = ast.Subscript(result, self.expr(ib["uidx"]), ast.leftmost_location(result))
        return result

    def expr_MinMaxExpr(self, body: J) -> ast.Expr:
        op = "greatest" if body["op"] == "IS_GREATEST" else "least"
        return ast.MinMax(op, tuple(self.expr(a) for a in body["args"]), self.loc(body))

    def expr_CollateClause(self, body: J) -> ast.Expr:
        name = _strings(body["collname"])
        if name[-1] not in ("C", "POSIX", "default"):
            raise self.unsupported(f'collation "{name[-1]}"', body)
        return self.expr(body["arg"])

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
