"""CREATE TABLE: columns (types, NOT NULL, DEFAULT, SERIAL, identity) and constraints
(PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY), built into a `TableDef`.

`_TableBuilder` holds a definition under construction; ALTER TABLE ADD COLUMN
and ADD CONSTRAINT (sql/ddl_alter.py) reuse `add_column` and `add_constraint`
on the existing table's definition. Expressions are validated by binding them
as written (so errors point into the statement) and stored as SQL text.
Names PostgreSQL derives are derived the same way (sql/ddl.py `choose_name`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from quorumdb.storage.errors import (
    DatatypeMismatch,
    DuplicateColumn,
    DuplicateObject,
    DuplicateTable,
    FeatureNotSupported,
    QuorumError,
    UndefinedColumn,
)

from . import ast
from . import ddl_ast as D
from . import types as T
from .binder import BindContext, Binder, coerce
from .bound import Const
from .casts import CastContext
from .catalog import (
    CheckDef,
    ColumnInfo,
    ForeignKeyDef,
    IndexDef,
    IndexName,
    SequenceDef,
    TableDef,
    put_relation,
    regclass_text,
)
from .ddl import (
    DdlContext,
    check_name_free,
    choose_name,
    lock_table_for_ddl,
    relation_names,
    resolve_table,
)
from .ddl_objects import sequence_def
from .locks import LockMode
from .scope import Scope, pos

__all__ = ["create_table", "add_column", "add_constraint", "finish_table", "check_default"]

_SERIAL = {
    "serial": T.INT4,
    "serial4": T.INT4,
    "bigserial": T.INT8,
    "serial8": T.INT8,
    "smallserial": T.INT2,
    "serial2": T.INT2,
}
_INTEGER_OIDS = (T.INT2.oid, T.INT4.oid, T.INT8.oid)


# ---- CREATE TABLE ---------------------------------------------------------------------------


@dataclass
class _TableBuilder:
    """A table definition under construction (CREATE TABLE, ALTER TABLE ADD ...)."""

    table: TableDef
    schema: str
    new_names: set[str] = field(default_factory=set)  # relation names this statement takes
    sequences: list[SequenceDef] = field(default_factory=list)


def _column_type(column: D.ColumnDef) -> tuple[T.SqlType, bool]:
    """(type, is_serial) of a column definition."""
    names = column.type.names
    if len(names) == 1 and names[0] in _SERIAL and not column.type.array:
        return _SERIAL[names[0]], True
    position = pos(column.type.location)
    if column.type.array:
        return T.type_from_name(names, column.type.modifiers, position, array=True), False
    return T.type_from_name(names, column.type.modifiers, position), False


def create_table(stmt: D.CreateTable, ctx: DdlContext) -> str:
    catalog = ctx.catalog
    name = stmt.table.name
    schema = catalog.creation_schema(stmt.table.schema, pos(stmt.table.location))
    if not check_name_free(ctx, schema, name):
        if stmt.if_not_exists:
            ctx.notice(f'relation "{name}" already exists, skipping', "42P07")
            return "CREATE TABLE"
        raise DuplicateTable(f'relation "{name}" already exists')
    seen: set[str] = set()
    for c in stmt.columns:
        if c.name in seen:
            raise DuplicateColumn(f'column "{c.name}" specified more than once')
        seen.add(c.name)
    table_id = ctx.next_id()
    builder = _TableBuilder(TableDef(table_id, name, (), (), f"{name}_pkey", schema), schema)
    builder.new_names.add(name)
    for column in stmt.columns:
        add_column(ctx, builder, column)
    for column in stmt.columns:
        for constraint in column.constraints:
            if constraint.kind in ("primary", "unique", "check", "foreign"):
                add_constraint(ctx, builder, constraint, column.name, creating=True)
    for constraint in stmt.constraints:
        add_constraint(ctx, builder, constraint, None, creating=True)
    finish_table(ctx, builder)
    return "CREATE TABLE"


def add_column(ctx: DdlContext, builder: _TableBuilder, column: D.ColumnDef) -> None:
    """Append a column (with its NOT NULL, DEFAULT, SERIAL and identity) to the builder."""
    table = builder.table
    sql_type, serial = _column_type(column)
    info = ColumnInfo(column.name, sql_type)
    kinds = [c.kind for c in column.constraints]
    if "default" in kinds and ("identity" in kinds or serial):
        what = "identity" if "identity" in kinds else "serial"
        raise QuorumError(
            f'multiple default values specified for column "{column.name}" of table "{table.name}"'
            if what == "serial"
            else f'both default and identity specified for column "{column.name}" of table '
            f'"{table.name}"',
            sqlstate="42601",
        )
    for constraint in column.constraints:
        if constraint.kind == "not_null":
            info = replace(info, not_null=True)
        elif constraint.kind == "default":
            assert constraint.expr is not None and constraint.expr_text is not None
            check_default(info, constraint.expr)
            info = replace(info, default=constraint.expr_text)
        elif constraint.kind == "identity":
            if sql_type.oid not in _INTEGER_OIDS:
                raise QuorumError(
                    "identity column type must be smallint, integer, or bigint", sqlstate="22023"
                )
            seq = _owned_sequence(ctx, builder, column.name, sql_type, constraint.sequence)
            info = replace(info, not_null=True, identity=constraint.identity, sequence=seq.id)
    if serial:
        seq = _owned_sequence(ctx, builder, column.name, sql_type, None)
        info = replace(info, not_null=True, sequence=seq.id)
    if info.sequence:
        seq = next(s for s in builder.sequences if s.id == info.sequence)
        info = replace(info, default=f"nextval('{regclass_text(seq)}')")
    if "primary" in kinds:
        info = replace(info, not_null=True)
    builder.table = replace(table, columns=(*table.columns, info))


def check_default(column: ColumnInfo, expr: ast.Expr) -> None:
    """Bind the DEFAULT as written (positions point into the statement) to validate it."""
    context = BindContext(None)
    binder = Binder(Scope.EMPTY, context, aggregates_allowed="DEFAULT expressions")
    e = binder.bind(expr)

    def mismatch() -> QuorumError:
        return DatatypeMismatch(
            f'column "{column.name}" is of type {column.type.base} '
            f"but default expression is of type {e.type.base}",
            hint="You will need to rewrite or cast the expression.",
        )

    if e.type.oid == T.UNKNOWN.oid and not isinstance(e, Const):
        binder.coerce_literal(e, column.type, ast.leftmost_location(expr), mismatch)
    else:
        coerce(
            e,
            column.type,
            CastContext.ASSIGNMENT,
            mismatch,
            ast.leftmost_location(expr),
            context.fold_errors,
        )
    context.raise_deferred()


def _owned_sequence(
    ctx: DdlContext,
    builder: _TableBuilder,
    column: str,
    sql_type: T.SqlType,
    options: D.SequenceOptions | None,
) -> SequenceDef:
    taken = relation_names(ctx.catalog, builder.schema, builder.new_names)
    name = choose_name(builder.table.name, column, "seq", taken)
    seq = sequence_def(
        ctx.next_id(),
        name,
        builder.schema,
        options or D.SequenceOptions(),
        sql_type.oid,
        (builder.table.id, column),
    )
    if not check_name_free(ctx, builder.schema, name):  # pragma: no cover - chosen free
        raise DuplicateTable(f'relation "{name}" already exists')
    builder.new_names.add(name)
    builder.sequences.append(seq)
    return seq


def _only_column(expr: ast.Expr | None) -> str | None:
    """The column an expression mentions if it mentions exactly one (PostgreSQL names
    a table CHECK t_col_check then, else t_check)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, ast.ColumnName):
            if node.parts[-1] not in found:
                found.append(node.parts[-1])
            return
        if isinstance(node, tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
                walk(getattr(node, name))

    walk(expr)
    return found[0] if len(found) == 1 else None


def _column_positions(
    table: TableDef, names: tuple[str, ...], constraint: str, location: int = -1
) -> tuple[int, ...]:
    positions: list[int] = []
    for n in names:
        i = table.index_of.get(n)
        if i is None:
            raise UndefinedColumn(
                f'column "{n}" named in key does not exist', position=pos(location)
            )
        if i in positions:
            raise DuplicateColumn(
                f'column "{n}" appears twice in {constraint} constraint', position=pos(location)
            )
        positions.append(i)
    return tuple(positions)


def add_constraint(
    ctx: DdlContext,
    builder: _TableBuilder,
    constraint: D.Constraint,
    column: str | None,
    creating: bool = False,
) -> None:
    """Add a PRIMARY KEY, UNIQUE, CHECK or FOREIGN KEY to the builder's definition
    (rows, if any, are validated and indexed by the caller: sql/ddl_build.py)."""
    table = builder.table
    names = constraint.columns or ((column,) if column else ())
    taken_constraints = table.constraint_names()
    if constraint.kind in ("primary", "unique") and constraint.name is not None:
        if constraint.name in builder.new_names or not check_name_free(
            ctx, builder.schema, constraint.name
        ):
            raise DuplicateTable(f'relation "{constraint.name}" already exists')
    if constraint.name is not None and constraint.name in taken_constraints:
        if creating and constraint.kind == "check":
            raise DuplicateObject(f'check constraint "{constraint.name}" already exists')
        raise DuplicateObject(
            f'constraint "{constraint.name}" for relation "{table.name}" already exists'
        )
    if constraint.kind == "primary":
        if table.primary_key:
            raise QuorumError(
                f'multiple primary keys for table "{table.name}" are not allowed',
                sqlstate="42P16",
                position=pos(constraint.location) if creating else None,
            )
        positions = _column_positions(table, names, "primary key", constraint.location)
        name = constraint.name or choose_name(
            table.name, "", "pkey", relation_names(ctx.catalog, builder.schema, builder.new_names)
        )
        _take_relation_name(ctx, builder, name)
        columns = list(table.columns)
        for i in positions:
            columns[i] = replace(columns[i], not_null=True)
        builder.table = replace(table, columns=tuple(columns), primary_key=positions, pkey_name=name)
    elif constraint.kind == "unique":
        positions = _column_positions(table, names, "unique", constraint.location)
        name = constraint.name or choose_name(
            table.name,
            "_".join(table.columns[i].name for i in positions),
            "key",
            relation_names(ctx.catalog, builder.schema, builder.new_names),
        )
        _take_relation_name(ctx, builder, name)
        index = IndexDef(ctx.next_id(), name, positions, True, ctx.next_id(), constraint=True)
        builder.table = replace(table, indexes=(*table.indexes, index))
    elif constraint.kind == "check":
        assert constraint.expr is not None and constraint.expr_text is not None
        first = column or _only_column(constraint.expr)
        name = constraint.name or choose_name(table.name, first or "", "check", taken_constraints)
        builder.table = replace(table, checks=(*table.checks, CheckDef(name, constraint.expr_text)))
        _validate_check(builder.table, constraint.expr)
    elif constraint.kind == "foreign":
        builder.table = replace(
            table,
            foreign_keys=(*table.foreign_keys, _foreign_key(ctx, builder, constraint, names)),
        )
    else:  # pragma: no cover - the parser only builds the kinds above
        raise FeatureNotSupported(f"constraint {constraint.kind} is not supported")


def _take_relation_name(ctx: DdlContext, builder: _TableBuilder, name: str) -> None:
    if name in builder.new_names or not check_name_free(ctx, builder.schema, name):
        raise DuplicateTable(f'relation "{name}" already exists')
    builder.new_names.add(name)


def _validate_check(table: TableDef, expr: ast.Expr) -> None:
    from .planner import table_scope

    binder = Binder(
        table_scope(table, ast.TableName(table.name)),
        BindContext(None),
        aggregates_allowed="check constraints",
    )
    binder.bind_condition(expr, "CHECK")


def _foreign_key(
    ctx: DdlContext, builder: _TableBuilder, constraint: D.Constraint, names: tuple[str, ...]
) -> ForeignKeyDef:
    table = builder.table
    assert constraint.ref_table is not None
    ref = constraint.ref_table
    found = ctx.catalog.lookup(ref.name, ref.schema)
    itself = (isinstance(found, TableDef) and found.id == table.id) or (
        found is None and ref.name == table.name and ref.schema in (None, builder.schema)
    )
    if itself:
        parent = table  # a table referencing itself (perhaps being created)
    else:
        parent = resolve_table(ctx, ast.TableName(ref.name, ref.schema))  # PostgreSQL: no position
        lock_table_for_ddl(ctx, parent, LockMode.SHARE)
    for n in names:
        if n not in table.index_of:
            raise UndefinedColumn(
                f'column "{n}" referenced in foreign key constraint does not exist',
                position=pos(constraint.location),
            )
    positions = tuple(table.index_of[n] for n in names)
    if constraint.ref_columns:
        ref_positions: tuple[int, ...] = tuple(
            _ref_column(parent, n) for n in constraint.ref_columns
        )
    else:
        if not parent.primary_key:
            raise QuorumError(
                f'there is no primary key for referenced table "{parent.name}"', sqlstate="42830"
            )
        ref_positions = parent.primary_key
    if len(ref_positions) != len(positions):
        raise QuorumError(
            "number of referencing and referenced columns for foreign key disagree",
            sqlstate="42830",
        )
    wanted = set(ref_positions)
    if set(parent.primary_key) != wanted and not any(
        i.unique and set(i.columns) == wanted for i in parent.indexes
    ):
        raise QuorumError(
            f'there is no unique constraint matching given keys for referenced table "{parent.name}"',
            sqlstate="42830",
        )
    name = constraint.name or choose_name(
        table.name,
        "_".join(table.columns[i].name for i in positions),
        "fkey",
        table.constraint_names(),
    )
    for mine, theirs in zip(positions, ref_positions, strict=True):
        a, b = table.columns[mine].type, parent.columns[theirs].type
        if a.category != b.category or (a.is_numeric and _integer(a) != _integer(b)):
            raise DatatypeMismatch(
                f'foreign key constraint "{name}" cannot be implemented',
                detail=f'Key columns "{table.columns[mine].name}" and "{parent.columns[theirs].name}" '
                f"are of incompatible types: {a.base} and {b.base}.",
            )
    return ForeignKeyDef(
        name, positions, parent.id, ref_positions, constraint.on_delete, constraint.on_update
    )


def _integer(t: T.SqlType) -> bool:
    return t.oid in _INTEGER_OIDS


def _ref_column(parent: TableDef, name: str) -> int:
    i = parent.index_of.get(name)
    if i is None:
        raise UndefinedColumn(f'column "{name}" referenced in foreign key constraint does not exist')
    return i


def finish_table(ctx: DdlContext, builder: _TableBuilder) -> None:
    """Write a new table's definition, index names and owned sequences."""
    table = builder.table
    put_relation(ctx.txn, table)
    if table.primary_key:
        put_relation(ctx.txn, IndexName(table.pkey_name, table.schema, table.id))
    for index in table.indexes:
        put_relation(ctx.txn, IndexName(index.name, table.schema, table.id))
    for seq in builder.sequences:
        put_relation(ctx.txn, seq)
