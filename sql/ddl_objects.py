"""CREATE SCHEMA, CREATE/ALTER SEQUENCE and CREATE [OR REPLACE] VIEW.

Sequence options are validated as PostgreSQL does (bounds of the data type,
MINVALUE < MAXVALUE, START within them) by `sequence_def`, which SERIAL and
identity columns use too; a sequence's values live in sql/sequences.py.
A view's query is planned once here to validate it and find its columns and
what it reads (sql/views.py).
"""

from __future__ import annotations

from quorumdb.storage.errors import DuplicateTable, QuorumError, UndefinedColumn, UndefinedTable

from . import ast, keys
from . import ddl_ast as D
from . import types as T
from .catalog import SchemaDef, SequenceDef, ViewDef, put_relation
from .ddl import DdlContext, check_name_free, lock_table_for_ddl, resolve_table
from .locks import LockMode
from .scope import pos
from .sequences import sequence_bounds, type_bounds

__all__ = ["create_schema", "sequence_def", "create_sequence", "alter_sequence", "create_view"]

_INTEGER_OIDS = (T.INT2.oid, T.INT4.oid, T.INT8.oid)


# ---- schemas ----------------------------------------------------------------------------------


def create_schema(stmt: D.CreateSchema, ctx: DdlContext) -> str:
    name = stmt.name
    if name.startswith("pg_"):
        raise QuorumError(
            f'unacceptable schema name "{name}"',
            sqlstate="42939",
            detail='The prefix "pg_" is reserved for system schemas.',
        )
    key = keys.schema_key(name)
    ctx.txn.lock(key)
    if name in ("public", "pg_catalog", "information_schema") or ctx.txn.get_latest(key) is not None:
        if stmt.if_not_exists:
            ctx.notice(f'schema "{name}" already exists, skipping', "42P06")
            return "CREATE SCHEMA"
        raise QuorumError(f'schema "{name}" already exists', sqlstate="42P06")
    ctx.txn.put(key, SchemaDef(ctx.next_id(), name).encode())
    return "CREATE SCHEMA"


# ---- sequences ----------------------------------------------------------------------------------


def sequence_def(
    seq_id: int,
    name: str,
    schema: str,
    options: D.SequenceOptions,
    type_oid: int = T.INT8.oid,
    owned_by: tuple[int, str] | None = None,
    base: SequenceDef | None = None,
) -> SequenceDef:
    """A validated sequence definition from options (over `base`'s, for ALTER)."""
    if options.type is not None:
        seq_type = T.type_from_name(options.type.names, options.type.modifiers)
        if seq_type.oid not in _INTEGER_OIDS:
            raise QuorumError(
                "sequence type must be smallint, integer, or bigint", sqlstate="22023"
            )
        type_oid = seq_type.oid
    elif base is not None:
        type_oid = base.type_oid
    increment = options.increment if options.increment is not None else (base.increment if base else 1)
    if increment == 0:
        raise QuorumError("INCREMENT must not be zero", sqlstate="22023")
    low, high = sequence_bounds(type_oid, increment)
    type_low, type_high = type_bounds(type_oid)
    if options.min_value is not None:
        low = options.min_value
    elif base is not None and not options.no_min and options.type is None and options.increment is None:
        low = base.min_value
    if options.max_value is not None:
        high = options.max_value
    elif base is not None and not options.no_max and options.type is None and options.increment is None:
        high = base.max_value
    type_name = {T.INT2.oid: "smallint", T.INT4.oid: "integer"}.get(type_oid, "bigint")
    for value, label in ((low, "MINVALUE"), (high, "MAXVALUE")):
        if not type_low <= value <= type_high:
            raise QuorumError(
                f"{label} ({value}) is out of range for sequence data type {type_name}",
                sqlstate="22023",
            )
    if low >= high:
        raise QuorumError(
            f"MINVALUE ({low}) must be less than MAXVALUE ({high})", sqlstate="22023"
        )
    if options.start is not None:
        start = options.start
    elif base is not None:
        start = base.start
    else:
        start = low if increment > 0 else high
    if start < low:
        raise QuorumError(
            f"START value ({start}) cannot be less than MINVALUE ({low})", sqlstate="22023"
        )
    if start > high:
        raise QuorumError(
            f"START value ({start}) cannot be greater than MAXVALUE ({high})", sqlstate="22023"
        )
    cache = options.cache if options.cache is not None else (base.cache if base else 1)
    if cache < 1:
        raise QuorumError(f"CACHE ({cache}) must be greater than zero", sqlstate="22023")
    cycle = options.cycle if options.cycle is not None else (base.cycle if base else False)
    return SequenceDef(
        seq_id, name, schema, type_oid, start, increment, low, high, cache, cycle, owned_by
    )


def _owner(ctx: DdlContext, schema: str, owned_by: tuple[str, ...]) -> tuple[int, str] | None:
    if not owned_by:
        return None
    if len(owned_by) < 2:
        raise QuorumError("invalid OWNED BY option", sqlstate="42601",
                          hint="Specify OWNED BY table.column or OWNED BY NONE.")
    *table_parts, column = owned_by
    table = resolve_table(
        ctx, ast.TableName(table_parts[-1], table_parts[0] if len(table_parts) == 2 else None)
    )
    if table.schema != schema:
        raise QuorumError(
            "sequence must be in same schema as table it is linked to", sqlstate="55000"
        )
    if column not in table.index_of:
        raise UndefinedColumn(f'column "{column}" of relation "{table.name}" does not exist')
    return table.id, column


def create_sequence(stmt: D.CreateSequence, ctx: DdlContext) -> str:
    name = stmt.name.name
    schema = ctx.catalog.creation_schema(stmt.name.schema, pos(stmt.name.location))
    if not check_name_free(ctx, schema, name):
        if stmt.if_not_exists:
            ctx.notice(f'relation "{name}" already exists, skipping', "42P07")
            return "CREATE SEQUENCE"
        raise DuplicateTable(f'relation "{name}" already exists')
    owner = _owner(ctx, schema, stmt.options.owned_by or ())
    seq = sequence_def(ctx.next_id(), name, schema, stmt.options, owned_by=owner)
    put_relation(ctx.txn, seq)
    return "CREATE SEQUENCE"


def alter_sequence(stmt: D.AlterSequence, ctx: DdlContext) -> str:
    found = ctx.catalog.lookup(stmt.name.name, stmt.name.schema)
    if not isinstance(found, SequenceDef):
        if found is None and stmt.if_exists:
            ctx.notice(f'relation "{stmt.name.name}" does not exist, skipping')
            return "ALTER SEQUENCE"
        if found is None:
            raise UndefinedTable(f'relation "{stmt.name.name}" does not exist')
        raise QuorumError(f'"{stmt.name.name}" is not a sequence', sqlstate="42809")
    ctx.txn.lock(keys.rel_key(found.schema, found.name))
    options = stmt.options
    owner = found.owned_by
    if options.owned_by is not None:
        owner = _owner(ctx, found.schema, options.owned_by)
    seq = sequence_def(found.id, found.name, found.schema, options, owned_by=owner, base=found)
    if seq != found:
        put_relation(ctx.txn, seq)
        ctx.db.counters.forget(seq.id)
    if options.restart is not None or options.restart_to_start:
        value = options.restart if options.restart is not None else seq.start
        if not seq.min_value <= value <= seq.max_value:
            raise QuorumError(
                f"RESTART value ({value}) cannot be "
                + (f"less than MINVALUE ({seq.min_value})" if value < seq.min_value
                   else f"greater than MAXVALUE ({seq.max_value})"),
                sqlstate="22023",
            )
        ctx.db.counters.restart(seq, value)
    return "ALTER SEQUENCE"


# ---- views ---------------------------------------------------------------------------------------


def create_view(stmt: D.CreateView, ctx: DdlContext) -> str:
    from .views import plan_view

    name = stmt.name.name
    schema = ctx.catalog.creation_schema(stmt.name.schema, pos(stmt.name.location))
    key = keys.rel_key(schema, name)
    ctx.txn.lock(key)
    existing = ctx.catalog.lookup(name, schema)
    columns, depends_on = plan_view(stmt.query, stmt.columns, ctx.catalog)
    for table_id in depends_on:
        table = ctx.catalog.tables_by_id.get(table_id)
        if table is not None:
            lock_table_for_ddl(ctx, table, LockMode.SHARE)
    if existing is not None:
        if not stmt.replace or not isinstance(existing, ViewDef):
            if isinstance(existing, ViewDef) or not stmt.replace:
                raise DuplicateTable(f'relation "{name}" already exists')
            raise QuorumError(f'"{name}" is not a view', sqlstate="42809")
        if len(columns) < len(existing.columns):
            raise QuorumError("cannot drop columns from view", sqlstate="42P16")
        for old, new in zip(existing.columns, columns, strict=False):
            if old != new:
                raise QuorumError(
                    f'cannot change name of view column "{old}" to "{new}"',
                    sqlstate="42P16",
                    hint="Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead.",
                )
        view_id = existing.id
    else:
        view_id = ctx.next_id()
    view = ViewDef(view_id, name, schema, stmt.query_text, columns, depends_on)
    put_relation(ctx.txn, view)
    return "CREATE VIEW"
