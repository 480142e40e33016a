"""Syntax of the statements that serve clients rather than queries: COPY, cursors,
SQL-level prepared statements, DISCARD and roles.

Two halves, kept together because they change together:

* AST nodes (frozen dataclasses deriving from `ast.Statement`), executed by
  `sql/client.py` (cursors, PREPARE/EXECUTE, DISCARD), `sql/copy.py` and
  `sql/roles.py`;
* `ClientStatements`, a mixin of the parser's `_Converter`
  (`sql/parser.py` derives from it), turning pglast's JSON for these
  statements into the nodes. It relies on the converter's `statement`,
  `expr`, `table_name`, `type_name`, `loc` and `unsupported`, and imports
  nothing from pglast: `sql/parser.py` stays the only module that does.

Invariants: every option the nodes cannot express is refused here with
PostgreSQL's message and SQLSTATE (42601 for a conflicting or unknown COPY
option, 0A000 for COPY to or from a server file), so executors only see
well-formed values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from quorumdb.storage.errors import FeatureNotSupported, QuorumError, SyntaxErrorSQL

from . import ast

__all__ = [
    "CopyOptions",
    "Copy",
    "DeclareCursor",
    "Fetch",
    "ClosePortal",
    "Prepare",
    "ExecutePrepared",
    "Deallocate",
    "Discard",
    "RoleOptions",
    "CreateRole",
    "AlterRole",
    "DropRole",
    "ClientStatements",
    "FETCH_ALL",
    "HANDLERS",
    "register",
]

J = dict[str, Any]
FETCH_ALL = (1 << 63) - 1  # what the grammar puts in howMany for FETCH ALL

# Statement type -> async handler(session, stmt) -> StatementResult. Filled in by the
# modules that run them (sql/cursors.py, sql/copy.py, sql/roles.py); sql/client.py
# dispatches to them and imports those modules so that they are registered.
HANDLERS: dict[type, Callable[[Any, Any], Awaitable[Any]]] = {}


def register(statement: type, handler: Callable[[Any, Any], Awaitable[Any]]) -> None:
    HANDLERS[statement] = handler


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """COPY's options after validation. `null` defaults by format (\\N or empty)."""

    format: str = "text"  # "text" or "csv"
    header: bool = False
    header_match: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'
    escape: str = '"'
    force_quote: tuple[str, ...] | None = None  # None: no FORCE_QUOTE; () with `*`
    force_quote_all: bool = False
    force_not_null: tuple[str, ...] = ()
    force_null: tuple[str, ...] = ()
    freeze: bool = False


@dataclass(frozen=True, slots=True)
class Copy(ast.Statement):
    """COPY table [(columns)] FROM STDIN / TO STDOUT, or COPY (query) TO STDOUT."""

    table: ast.TableName | None
    columns: tuple[str, ...]
    query: ast.Statement | None
    is_from: bool
    options: CopyOptions
    where: ast.Expr | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class DeclareCursor(ast.Statement):
    name: str
    query: ast.Statement
    hold: bool = False
    binary: bool = False
    scroll: bool = False


@dataclass(frozen=True, slots=True)
class Fetch(ast.Statement):
    """FETCH/MOVE. `direction`: forward, backward, absolute, relative; `count` FETCH_ALL for ALL."""

    name: str
    direction: str = "forward"
    count: int = 1
    move: bool = False


@dataclass(frozen=True, slots=True)
class ClosePortal(ast.Statement):
    name: str | None  # None: CLOSE ALL


@dataclass(frozen=True, slots=True)
class Prepare(ast.Statement):
    name: str
    param_types: tuple[ast.TypeName, ...]
    statement: ast.Statement


@dataclass(frozen=True, slots=True)
class ExecutePrepared(ast.Statement):
    name: str
    params: tuple[ast.Expr, ...]


@dataclass(frozen=True, slots=True)
class Deallocate(ast.Statement):
    name: str | None  # None: DEALLOCATE ALL


@dataclass(frozen=True, slots=True)
class Discard(ast.Statement):
    target: str  # "all", "plans", "sequences", "temp"


@dataclass(frozen=True, slots=True)
class RoleOptions:
    """The options given in CREATE/ALTER ROLE; None means "not mentioned"."""

    login: bool | None = None
    superuser: bool | None = None
    createdb: bool | None = None
    createrole: bool | None = None
    inherit: bool | None = None
    replication: bool | None = None
    bypassrls: bool | None = None
    connection_limit: int | None = None
    password: str | None = None
    password_given: bool = False  # PASSWORD NULL sets password None with this True
    valid_until: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRole(ast.Statement):
    name: str
    options: RoleOptions
    user: bool = False  # CREATE USER: LOGIN by default


@dataclass(frozen=True, slots=True)
class AlterRole(ast.Statement):
    name: str
    options: RoleOptions
    rename_to: str | None = None


@dataclass(frozen=True, slots=True)
class DropRole(ast.Statement):
    names: tuple[str, ...]
    if_exists: bool = False


_ROLE_FLAGS = {
    "canlogin": "login",
    "superuser": "superuser",
    "createdb": "createdb",
    "createrole": "createrole",
    "inherit": "inherit",
    "isreplication": "replication",
    "bypassrls": "bypassrls",
}
_COPY_BOOL_WORDS = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}


def _def_value(elem: J) -> object:
    """The argument of a DefElem: str, bool, int, a list of names, or None."""
    arg = elem.get("arg")
    if arg is None:
        return None
    ((kind, body),) = arg.items()
    if kind == "String":
        return body.get("sval", "")
    if kind == "Boolean":
        return bool(body.get("boolval"))
    if kind == "Integer":
        return int(body.get("ival", 0))
    if kind == "A_Star":
        return "*"
    if kind == "List":
        return tuple(item["String"]["sval"] for item in body.get("items", ()))
    if kind == "Float":
        return body.get("fval", "0")
    raise FeatureNotSupported(f"option value {kind} is not supported")


class ClientStatements:
    """Converters for the statements above; mixed into the parser's `_Converter`."""

    # Provided by the converter this is mixed into.
    statement: Any
    expr: Any
    table_name: Any
    type_name: Any
    loc: Any
    unsupported: Any

    # ---- COPY ----------------------------------------------------------------------

    def stmt_CopyStmt(self, body: J) -> Copy:
        is_from = bool(body.get("is_from"))
        if "filename" in body or body.get("is_program"):
            raise QuorumError(
                "COPY to or from a file is not supported",
                sqlstate="0A000",
                hint="Use COPY ... FROM STDIN or TO STDOUT (psql: \\copy).",
            )
        table = self.table_name(body["relation"]) if "relation" in body else None
        query = self.statement(body["query"]) if "query" in body else None
        columns = tuple(item["String"]["sval"] for item in body.get("attlist", ()))
        where = self.expr(body["whereClause"]) if "whereClause" in body else None
        options = copy_options(body.get("options", ()), is_from)
        return Copy(table, columns, query, is_from, options, where)

    # ---- cursors -------------------------------------------------------------------

    def stmt_DeclareCursorStmt(self, body: J) -> DeclareCursor:
        options = body.get("options", 0)
        if options & 0x2:  # CURSOR_OPT_SCROLL
            raise FeatureNotSupported("scrollable cursors are not supported")
        return DeclareCursor(
            body["portalname"],
            self.statement(body["query"]),
            hold=bool(options & 0x20),
            binary=bool(options & 0x1),
        )

    def stmt_FetchStmt(self, body: J) -> Fetch:
        direction = body.get("direction", "FETCH_FORWARD").removeprefix("FETCH_").lower()
        count = int(body.get("howMany", 0))
        if direction == "forward" and "howMany" not in body:
            count = 0
        return Fetch(body.get("portalname", ""), direction, count, bool(body.get("ismove")))

    def stmt_ClosePortalStmt(self, body: J) -> ClosePortal:
        return ClosePortal(body.get("portalname"))

    # ---- PREPARE / EXECUTE / DEALLOCATE / DISCARD -----------------------------------------

    def stmt_PrepareStmt(self, body: J) -> Prepare:
        types = tuple(self.type_name(t["TypeName"]) for t in body.get("argtypes", ()))
        return Prepare(body["name"], types, self.statement(body["query"]))

    def stmt_ExecuteStmt(self, body: J) -> ExecutePrepared:
        return ExecutePrepared(body["name"], tuple(self.expr(p) for p in body.get("params", ())))

    def stmt_DeallocateStmt(self, body: J) -> Deallocate:
        return Deallocate(None if body.get("isall") else body.get("name"))

    def stmt_DiscardStmt(self, body: J) -> Discard:
        return Discard(body.get("target", "DISCARD_ALL").removeprefix("DISCARD_").lower())

    # ---- roles ------------------------------------------------------------------------

    def stmt_CreateRoleStmt(self, body: J) -> CreateRole:
        kind = body.get("stmt_type", "ROLESTMT_ROLE")
        if kind == "ROLESTMT_GROUP":
            raise FeatureNotSupported("CREATE GROUP is not supported")
        return CreateRole(
            body["role"], role_options(body.get("options", ())), user=kind == "ROLESTMT_USER"
        )

    def stmt_AlterRoleStmt(self, body: J) -> AlterRole:
        spec = body["role"]
        if spec.get("roletype") != "ROLESPEC_CSTRING":
            raise FeatureNotSupported("ALTER ROLE CURRENT_USER is not supported")
        return AlterRole(spec["rolename"], role_options(body.get("options", ())))

    def stmt_DropRoleStmt(self, body: J) -> DropRole:
        names = []
        for node in body.get("roles", ()):
            spec = node["RoleSpec"]
            if spec.get("roletype") != "ROLESPEC_CSTRING":
                raise FeatureNotSupported("DROP ROLE CURRENT_USER is not supported")
            names.append(spec["rolename"])
        return DropRole(tuple(names), bool(body.get("missing_ok")))


def copy_options(elems: Any, is_from: bool) -> CopyOptions:
    """Validate COPY's option list as PostgreSQL's ProcessCopyOptions does."""
    seen: set[str] = set()
    values: dict[str, Any] = {}
    for node in elems:
        elem = node["DefElem"]
        name = elem["defname"]
        if name in seen:
            raise SyntaxErrorSQL("conflicting or redundant options")
        seen.add(name)
        value = _def_value(elem)
        if name == "format":
            fmt = str(value).lower()
            if fmt == "binary":
                raise FeatureNotSupported("COPY BINARY is not supported")
            if fmt not in ("text", "csv"):
                raise QuorumError(f'COPY format "{value}" not recognized', sqlstate="22023")
            values["format"] = fmt
        elif name in ("header", "freeze"):
            if value is None:
                flag: bool | str = True
            elif isinstance(value, bool):
                flag = value
            elif str(value).lower() == "match" and name == "header":
                flag = "match"
            elif str(value).lower() in _COPY_BOOL_WORDS:
                flag = _COPY_BOOL_WORDS[str(value).lower()]
            else:
                raise QuorumError(f"{name} requires a Boolean value", sqlstate="22023")
            if flag == "match":
                if not is_from:
                    raise FeatureNotSupported("cannot use \"match\" with HEADER in COPY TO")
                values["header"] = True
                values["header_match"] = True
            else:
                values[name] = bool(flag)
        elif name in ("delimiter", "null", "quote", "escape"):
            if not isinstance(value, str):
                raise QuorumError(f"{name} requires a string value", sqlstate="22023")
            values[name] = value
        elif name == "force_quote":
            if value == "*":
                values["force_quote_all"] = True
                values["force_quote"] = ()
            else:
                values["force_quote"] = tuple(value)  # type: ignore[arg-type]
        elif name in ("force_not_null", "force_null"):
            values[name] = tuple(value)  # type: ignore[arg-type]
        elif name == "encoding":
            if str(value).upper().replace("-", "") not in ("UTF8", "UNICODE"):
                raise FeatureNotSupported("COPY supports only the UTF8 encoding")
        else:
            raise SyntaxErrorSQL(f'option "{name}" not recognized')
    csv = values.get("format", "text") == "csv"
    values.setdefault("delimiter", "," if csv else "\t")
    values.setdefault("null", "" if csv else "\\N")
    delimiter = values["delimiter"]
    if len(delimiter) != 1 or ord(delimiter) > 127:
        raise FeatureNotSupported("COPY delimiter must be a single one-byte character")
    if delimiter in "\r\n":
        raise QuorumError(
            "COPY delimiter cannot be newline or carriage return", sqlstate="22023"
        )
    if "\r" in values["null"] or "\n" in values["null"]:
        raise QuorumError(
            "COPY null representation cannot use newline or carriage return", sqlstate="22023"
        )
    if not csv:
        if delimiter in "\\.abcdefghijklmnopqrstuvwxyz0123456789":
            raise QuorumError(f'COPY delimiter cannot be "{delimiter}"', sqlstate="22023")
        for option in ("quote", "escape", "force_quote", "force_not_null", "force_null"):
            if option in values:
                raise FeatureNotSupported(f"COPY {option} available only in CSV mode")
    else:
        quote = values.setdefault("quote", '"')
        values.setdefault("escape", quote)
        if len(quote) != 1 or len(values["escape"]) != 1:
            raise FeatureNotSupported("COPY quote and escape must be single one-byte characters")
        if delimiter == quote:
            raise QuorumError(
                "COPY delimiter and quote must be different", sqlstate="22023"
            )
        if delimiter in values["null"] or quote in values["null"]:
            raise QuorumError(
                "CSV quote character must not appear in the NULL specification"
                if quote in values["null"]
                else "COPY delimiter must not appear in the NULL specification",
                sqlstate="22023",
            )
        if "force_quote" in values and is_from:
            raise FeatureNotSupported("COPY force quote only available using COPY TO")
        for option in ("force_not_null", "force_null"):
            if option in values and not is_from:
                raise FeatureNotSupported(f"COPY {option} only available using COPY FROM")
    if values.get("freeze") and not is_from:
        raise FeatureNotSupported("COPY FREEZE only available using COPY FROM")
    return CopyOptions(**values)


def role_options(elems: Any) -> RoleOptions:
    """CREATE/ALTER ROLE's DefElems -> RoleOptions (42601 on a repeated option)."""
    seen: set[str] = set()
    values: dict[str, Any] = {}
    for node in elems:
        elem = node["DefElem"]
        name = elem["defname"]
        if name in seen:
            raise SyntaxErrorSQL("conflicting or redundant options")
        seen.add(name)
        value = _def_value(elem)
        if name in _ROLE_FLAGS:
            values[_ROLE_FLAGS[name]] = bool(value)
        elif name == "password":
            values["password"] = value
            values["password_given"] = True
        elif name == "connectionlimit":
            values["connection_limit"] = int(value)  # type: ignore[call-overload]
        elif name == "validUntil":
            values["valid_until"] = str(value)
        elif name in ("rolemembers", "addroleto", "adminmembers", "sysid"):
            raise FeatureNotSupported("role membership is not supported")
        else:
            raise FeatureNotSupported(f"role option {name} is not supported")
    return RoleOptions(**values)
