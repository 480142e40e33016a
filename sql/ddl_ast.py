"""Syntax trees of the schema statements (DDL), built by sql/ddl_parser.py.

Like `sql.ast` (which holds queries, DML and transaction control), nodes are
frozen, slotted dataclasses and purely syntactic: names are unresolved and
``location`` is a 0-based character offset (-1 if unknown). Expressions that
end up in the catalog (DEFAULT, CHECK, a view's query) also carry their SQL
text, deparsed by the parser, because the catalog stores text and re-parses
it when a table or view is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ast import Expr, Statement, TableName, TypeName

__all__ = [
    "Constraint",
    "ColumnDef",
    "CreateTable",
    "DropObjects",
    "CreateIndex",
    "AlterCommand",
    "AlterTable",
    "Rename",
    "Truncate",
    "CreateView",
    "SequenceOptions",
    "CreateSequence",
    "AlterSequence",
    "CreateSchema",
    "Maintenance",
    "RefusedDatabase",
]


@dataclass(frozen=True, slots=True)
class SequenceOptions:
    """CREATE/ALTER SEQUENCE options and GENERATED ... AS IDENTITY (...): None = not given."""

    type: TypeName | None = None
    start: int | None = None
    increment: int | None = None
    min_value: int | None = None  # NO MINVALUE: no_min
    max_value: int | None = None
    no_min: bool = False
    no_max: bool = False
    cache: int | None = None
    cycle: bool | None = None
    restart: int | None = None  # ALTER SEQUENCE ... RESTART WITH n
    restart_to_start: bool = False  # ALTER SEQUENCE ... RESTART
    owned_by: tuple[str, ...] | None = None  # ("t", "col") or () for OWNED BY NONE


@dataclass(frozen=True, slots=True)
class Constraint:
    """One column or table constraint.

    `kind`: "primary", "unique", "check", "foreign", "not_null", "null",
    "default" or "identity". `columns` are the constrained columns of a table
    constraint (a column constraint leaves them empty: the column itself).
    """

    kind: str
    name: str | None = None
    columns: tuple[str, ...] = ()
    expr: Expr | None = None  # CHECK / DEFAULT
    expr_text: str | None = None
    ref_table: TableName | None = None  # FOREIGN KEY ... REFERENCES
    ref_columns: tuple[str, ...] = ()
    on_delete: str = "a"  # pg_constraint letters: a r c n d
    on_update: str = "a"
    identity: str = ""  # "always" / "by default"
    sequence: SequenceOptions | None = None
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: TypeName
    constraints: tuple[Constraint, ...] = ()
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class CreateTable(Statement):
    table: TableName
    columns: tuple[ColumnDef, ...]
    constraints: tuple[Constraint, ...] = ()
    if_not_exists: bool = False
    location: int = field(default=-1, compare=False)


@dataclass(frozen=True, slots=True)
class DropObjects(Statement):
    """DROP TABLE/INDEX/VIEW/SEQUENCE/SCHEMA name, ... [CASCADE]."""

    kind: str  # "table", "index", "view", "sequence", "schema"
    names: tuple[TableName, ...]
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True, slots=True)
class CreateIndex(Statement):
    name: str | None
    table: TableName
    columns: tuple[tuple[str, int], ...]  # (column, location)
    unique: bool = False
    if_not_exists: bool = False
    options: tuple[int, ...] = ()  # pg_index.indoption per column; empty: all ASC NULLS LAST


@dataclass(frozen=True, slots=True)
class AlterCommand:
    """One ALTER TABLE action.

    `action`: "add_column", "drop_column", "set_default", "drop_default",
    "set_not_null", "drop_not_null", "add_constraint", "drop_constraint".
    """

    action: str
    column: str | None = None
    definition: ColumnDef | None = None
    constraint: Constraint | None = None
    default: Expr | None = None
    default_text: str | None = None
    if_exists: bool = False  # DROP COLUMN/CONSTRAINT IF EXISTS, ADD COLUMN IF NOT EXISTS
    cascade: bool = False


@dataclass(frozen=True, slots=True)
class AlterTable(Statement):
    table: TableName
    commands: tuple[AlterCommand, ...]
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class Rename(Statement):
    """ALTER TABLE t RENAME TO u / RENAME COLUMN a TO b / RENAME CONSTRAINT c TO d,
    ALTER INDEX/VIEW/SEQUENCE ... RENAME TO, ALTER SCHEMA s RENAME TO.

    `kind`: "table", "column", "constraint", "index", "view", "sequence", "schema".
    """

    kind: str
    target: TableName
    old: str | None
    new: str
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class Truncate(Statement):
    tables: tuple[TableName, ...]
    restart_identity: bool = False
    cascade: bool = False


@dataclass(frozen=True, slots=True)
class CreateView(Statement):
    name: TableName
    columns: tuple[str, ...]
    query: Statement
    query_text: str
    replace: bool = False


@dataclass(frozen=True, slots=True)
class CreateSequence(Statement):
    name: TableName
    options: SequenceOptions
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class AlterSequence(Statement):
    name: TableName
    options: SequenceOptions
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class CreateSchema(Statement):
    name: str
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class Maintenance(Statement):
    """VACUUM / ANALYZE: accepted, nothing to do (GC runs on its own; no statistics)."""

    tag: str


@dataclass(frozen=True, slots=True)
class RefusedDatabase(Statement):
    """CREATE/DROP DATABASE: a QuorumDB cluster serves exactly one database."""

    tag: str
