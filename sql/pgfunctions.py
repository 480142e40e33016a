"""The system information functions clients call: format_type, pg_get_indexdef,
pg_get_constraintdef, pg_get_userbyid, pg_table_is_visible, obj_description,
version(), pg_backend_pid(), set_config, ... and the reg* casts.

Functions that need the statement's catalog or session are registered with
``context="ctx"`` (they receive the `ExecContext`) and volatility "s", so
they are evaluated per row, never folded into a cached plan. Object ids are
those of `sql/pgcatalog.py`.

The casts ``x::regclass`` / ``::regtype`` / ``::regnamespace`` / ``::regproc``
/ ``::regrole`` are session values (`reg_cast`): from a number (an oid) they
give the object's name as text, which is what clients print; from text (a
name, or an oid written as digits) they give the oid (type oid), which is
what clients compare. PostgreSQL has one reg* type that is both; QuorumDB's
reg* casts pick by their input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quorumdb.storage.errors import QuorumError, UndefinedObject, UndefinedTable

from . import types as T
from .catalog import TableDef, quote_ident
from .functions import register_function
from .pgcatalog import (
    TYPE_NAMES,
    CatalogView,
    namespace_oid,
    server_version,
)

__all__ = ["format_type", "reg_cast", "REG_TYPES"]

OID, TEXT, BOOL, INT4, INT8 = T.OID, T.TEXT, T.BOOL, T.INT4, T.INT8
REG_TYPES = frozenset({"regclass", "regtype", "regnamespace", "regproc", "regprocedure", "regrole"})


def fn(name: str, args: tuple[Any, ...], result: Any, impl: Any, **options: Any) -> None:
    options.setdefault("volatility", "s")
    register_function(name, args, result, impl, **options)


def _view(ctx: Any) -> CatalogView:
    return CatalogView(ctx)


# ---- types ------------------------------------------------------------------------------------


def format_type(oid: int | None, typmod: int | None) -> str | None:
    """PostgreSQL's format_type(oid, typmod): the SQL name of a type, with its modifier."""
    if oid is None:
        return None
    if oid == 0:
        return "-"
    if oid in TYPE_NAMES:
        return TYPE_NAMES[oid][1]
    try:
        t = T.type_from_oid(int(oid), -1 if typmod is None else int(typmod))
    except (KeyError, QuorumError):
        return "???"
    return str(t)


fn("format_type", (OID, INT4), TEXT, format_type, strict=False, volatility="i")


def _type_is_visible(oid: int) -> bool:
    return True


fn("pg_type_is_visible", (OID,), BOOL, _type_is_visible)


# ---- relations ------------------------------------------------------------------------------


def _table_is_visible(ctx: Any, oid: int) -> bool | None:
    view = _view(ctx)
    relation = view.relation_by_oid(oid)
    if relation is None:
        entry = view.index_by_oid(oid)
        if entry is None:
            # pg_catalog and information_schema relations: pg_catalog is always visible.
            from .pgcatalog import tables

            return any(t.oid == oid and t.schema == "pg_catalog" for t in tables())
        relation = entry[2]
    return view.visible(relation)


fn("pg_table_is_visible", (OID,), BOOL, _table_is_visible, context="ctx")


def _columns_text(table: TableDef, positions: Iterable[int]) -> str:
    return ", ".join(quote_ident(table.columns[p].name) for p in positions)


def _indexdef(ctx: Any, oid: int, column: int = 0, pretty: bool = False) -> str | None:
    view = _view(ctx)
    entry = view.index_by_oid(oid)
    if entry is None:
        return None
    _oid, name, table, columns, unique, _primary = entry
    if column:
        return quote_ident(table.columns[columns[column - 1]].name) if column <= len(columns) else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    options = view.index_options(table, oid)
    keys = ", ".join(
        quote_ident(table.columns[p].name) + _ORDER_TEXT[o] for p, o in zip(columns, options, strict=True)
    )
    return (
        f"CREATE {kind} {quote_ident(name)} ON {quote_ident(table.schema)}."
        f"{quote_ident(table.name)} USING btree ({keys})"
    )


# pg_index.indoption (DESC 1, NULLS FIRST 2) as pg_get_indexdef prints it: only what is not
# the default for the direction.
_ORDER_TEXT = {0: "", 1: " DESC NULLS LAST", 2: " NULLS FIRST", 3: " DESC"}


fn("pg_get_indexdef", (OID,), TEXT, _indexdef, context="ctx")
fn("pg_get_indexdef", (OID, INT4, BOOL), TEXT, _indexdef, context="ctx")

_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _constraintdef(ctx: Any, oid: int, pretty: bool = False) -> str | None:
    view = _view(ctx)
    con = view.constraint_by_oid(oid)
    if con is None:
        return None
    if con.kind == "p":
        return f"PRIMARY KEY ({_columns_text(con.table, con.columns)})"
    if con.kind == "u":
        return f"UNIQUE ({_columns_text(con.table, con.columns)})"
    if con.kind == "c":
        inner = _unwrap(str(con.check))
        return f"CHECK ({inner})" if pretty else f"CHECK (({inner}))"
    ref = con.ref_table
    assert ref is not None
    text = (
        f"FOREIGN KEY ({_columns_text(con.table, con.columns)}) REFERENCES "
        f"{quote_ident(ref.name)}({_columns_text(ref, con.ref_columns)})"
    )
    if con.on_update not in ("a", " "):
        text += f" ON UPDATE {_ACTIONS[con.on_update]}"
    if con.on_delete not in ("a", " "):
        text += f" ON DELETE {_ACTIONS[con.on_delete]}"
    return text


fn("pg_get_constraintdef", (OID,), TEXT, _constraintdef, context="ctx")
fn("pg_get_constraintdef", (OID, BOOL), TEXT, _constraintdef, context="ctx")


def _unwrap(expr: str) -> str:
    """`expr` without one pair of parentheses around all of it."""
    text = expr.strip()
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i < len(text) - 1:
            return text  # "(a) AND (b)": the first parenthesis closes early
    return text[1:-1]


def _get_expr(expr: str, relation: int, pretty: bool = False) -> str:
    return expr  # expressions are stored as SQL text (pg_attrdef.adbin, pg_constraint.conbin)


fn("pg_get_expr", (TEXT, OID), TEXT, _get_expr)
fn("pg_get_expr", (TEXT, OID, BOOL), TEXT, _get_expr)


def _viewdef(ctx: Any, oid: int, pretty: bool = False) -> str | None:
    relation = _view(ctx).relation_by_oid(oid)
    sql = getattr(relation, "sql", None)
    return f" {sql};" if sql is not None else None


fn("pg_get_viewdef", (OID,), TEXT, _viewdef, context="ctx")
fn("pg_get_viewdef", (OID, BOOL), TEXT, _viewdef, context="ctx")


def _serial_sequence(ctx: Any, table_name: str, column: str) -> str | None:
    view = _view(ctx)
    schema, _, name = table_name.rpartition(".")
    table = view.catalog.get(name.strip('"'), schema.strip('"') or None)
    if table is None:
        raise UndefinedTable(f'relation "{table_name}" does not exist')
    index = table.index_of.get(column)
    if index is None:
        raise QuorumError(
            f'column "{column}" of relation "{table.name}" does not exist', sqlstate="42703"
        )
    sequence = view.catalog.sequences_by_id.get(getattr(table.columns[index], "sequence", 0))
    return f"{sequence.schema}.{sequence.name}" if sequence is not None else None


fn("pg_get_serial_sequence", (TEXT, TEXT), TEXT, _serial_sequence, context="ctx")


def _partition_ancestors(oid: int) -> list[tuple[object, ...]]:
    return [(oid,)]


fn("pg_partition_ancestors", (OID,), OID, _partition_ancestors, returns_set=True)


def _no(*args: object) -> bool:
    return False


def _yes(*args: object) -> bool:
    return True


def _null(*args: object) -> None:
    return None


def _zero(*args: object) -> int:
    return 0


fn("pg_relation_is_publishable", (OID,), BOOL, _no)
fn("pg_get_triggerdef", (OID,), TEXT, _null)  # there are no triggers (pg_trigger is empty)
fn("pg_get_triggerdef", (OID, BOOL), TEXT, _null)
fn("pg_get_functiondef", (OID,), TEXT, _null)
fn("pg_get_function_arguments", (OID,), TEXT, _null)
fn("pg_get_function_result", (OID,), TEXT, _null)
fn("pg_get_statisticsobjdef_columns", (OID,), TEXT, _null)
fn("obj_description", (OID,), TEXT, _null)
fn("obj_description", (OID, TEXT), TEXT, _null)
fn("col_description", (OID, INT4), TEXT, _null)
fn("shobj_description", (OID, TEXT), TEXT, _null)
for _size in ("pg_table_size", "pg_relation_size", "pg_total_relation_size", "pg_indexes_size"):
    fn(_size, (OID,), INT8, _zero)
fn("pg_database_size", (TEXT,), INT8, _zero)
for _privilege in ("has_table_privilege", "has_schema_privilege", "has_database_privilege",
                   "has_sequence_privilege", "has_column_privilege", "has_function_privilege"):  # fmt: skip
    fn(_privilege, (TEXT, TEXT), BOOL, _yes)
    fn(_privilege, (OID, TEXT), BOOL, _yes)
    fn(_privilege, (TEXT, TEXT, TEXT), BOOL, _yes)


# ---- roles, sessions, the server ----------------------------------------------------------------


def _userbyid(ctx: Any, oid: int) -> str:
    name = _view(ctx).role_name(oid)
    return name if name is not None else f"unknown (OID={oid})"


fn("pg_get_userbyid", (OID,), TEXT, _userbyid, context="ctx")


def _encoding_to_char(encoding: int) -> str:
    return "UTF8" if encoding == 6 else ""


fn("pg_encoding_to_char", (INT4,), TEXT, _encoding_to_char, volatility="i")
fn("pg_char_to_encoding", (TEXT,), INT4, lambda name: 6 if name.upper() in ("UTF8", "UTF-8") else -1)


def _backend_pid(ctx: Any) -> int:
    return int(getattr(ctx.session, "backend_pid", 0))


fn("pg_backend_pid", (), INT4, _backend_pid, context="ctx")
fn("version", (), TEXT, lambda: server_version())
fn("pg_is_in_recovery", (), BOOL, _no)
fn("inet_server_port", (), INT4, _null)
fn("inet_server_addr", (), TEXT, _null)


def _set_config(ctx: Any, name: str, value: str, is_local: bool) -> str:
    session = ctx.session
    session.settings.set(name, (value,), local=is_local, in_block=getattr(session, "_in_block", False))
    return str(session.settings.get(name))


fn("set_config", (TEXT, TEXT, BOOL), TEXT, _set_config, context="ctx", volatility="v")


def _current_schemas(ctx: Any, implicit: bool) -> tuple[str, ...]:
    path = tuple(ctx.session.catalog(ctx.txn).search_path)
    return ("pg_catalog", *path) if implicit else path


fn("current_schemas", (BOOL,), T.array_of(T.TEXT), _current_schemas, context="ctx")


# ---- reg* casts ---------------------------------------------------------------------------------


def reg_cast(session: Any, target: str, value: object) -> object:
    """``value::regclass`` and friends (see the module docstring); `session` is the running
    statement's session (its current transaction gives the catalog)."""
    if value is None:
        return None
    txn = session._txn
    view = _SessionView(session, txn)
    if isinstance(value, int):
        return _reg_name(view, target, value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return _reg_oid(view, target, text)


class _SessionView(CatalogView):
    def __init__(self, session: Any, txn: Any) -> None:
        self.session = session
        self.txn = txn
        self.catalog = session.catalog(txn)
        self.superuser = getattr(session, "superuser", "quorumdb")


def _reg_name(view: CatalogView, target: str, oid: int) -> str:
    if target == "regclass":
        relation = view.relation_by_oid(oid)
        if relation is None:
            entry = view.index_by_oid(oid)
            if entry is not None:
                return quote_ident(entry[1])
            from .pgcatalog import tables

            for table in tables():
                if table.oid == oid:
                    return table.name
            return str(oid)
        return quote_ident(relation.name) if view.visible(relation) else (
            f"{quote_ident(relation.schema)}.{quote_ident(relation.name)}"
        )
    if target == "regtype":
        return format_type(oid, -1) or str(oid)
    if target == "regnamespace":
        for schema_oid, name in view.schemas():
            if schema_oid == oid:
                return quote_ident(name)
        return str(oid)
    if target == "regrole":
        return view.role_name(oid) or str(oid)
    return str(oid)


def _reg_oid(view: CatalogView, target: str, text: str) -> int:
    if target == "regclass":
        schema, _, name = text.rpartition(".")
        name = name.strip('"') if name.startswith('"') else name.lower()
        schema = schema.strip('"') if schema.startswith('"') else schema.lower()
        relation = view.catalog.lookup(name, schema or None)
        if relation is not None and hasattr(relation, "oid"):
            return int(relation.oid)
        for oid, index_name, table, *_ in view.indexes():
            if index_name == name and (not schema or table.schema == schema):
                return oid
        from .pgcatalog import lookup

        virtual = lookup(schema or None, name)
        if virtual is not None:
            return virtual.oid
        raise UndefinedTable(f'relation "{text}" does not exist')
    if target == "regtype":
        try:
            names = tuple(part.strip('"') for part in text.lower().split("."))
            return T.type_from_name(names).oid
        except QuorumError:
            for oid, (name, display, *_rest) in TYPE_NAMES.items():
                if text in (name, display):
                    return oid
            raise
    if target == "regnamespace":
        if text in ("pg_catalog", "public", "information_schema"):
            return namespace_oid(text)
        schema = view.catalog.schemas.get(text)
        if schema is None:
            raise QuorumError(f'schema "{text}" does not exist', sqlstate="3F000")
        return namespace_oid(text, schema.id)
    if target == "regrole":
        for role in view.roles():
            if role.name == text:
                return role.oid
        raise UndefinedObject(f'role "{text}" does not exist')
    raise QuorumError(f"cannot cast to {target}", sqlstate="42846")



def bind_reg_cast(binder: Any, node: Any) -> Any:
    """Bind ``operand::regclass`` (and the other object-identifier casts) for the binder;
    None when the binder's own cast applies (regtype from text). See the module docstring."""
    from .bound import SessionValue

    target = node.type.names[-1]
    if len(node.type.names) == 2 and node.type.names[0] != "pg_catalog":
        return None
    arg = binder.bind(node.operand)
    numeric = arg.type.is_numeric and arg.type.oid != T.REGTYPE.oid
    if target == "regtype" and not numeric:
        return None
    if not numeric and arg.type.oid not in (T.TEXT.oid, T.UNKNOWN.oid, T.VARCHAR.oid):
        raise QuorumError(f"cannot cast type {arg.type} to {target}", sqlstate="42846")
    return SessionValue(T.TEXT if numeric else T.OID, "::" + target, (arg,))


def _to_reg(target: str) -> Any:
    """to_regclass(text) etc.: the oid of the named object, or NULL if there is none."""

    def lookup(ctx: Any, name: str) -> int | None:
        try:
            return _reg_oid(_view(ctx), target, name.strip())
        except QuorumError:
            return None

    return lookup


for _target in ("regclass", "regtype", "regnamespace", "regrole", "regproc"):
    fn(f"to_{_target}", (TEXT,), OID, _to_reg(_target), context="ctx")
