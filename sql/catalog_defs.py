"""Catalog definitions: the values a catalog key holds, and their encodings.

Each object is a frozen, slotted dataclass that encodes itself as msgpack
(`encode`, `decode`/`from_raw`); `sql/catalog.py` stores them under
`keys.rel_key(schema, name)` (tables, views, sequences and index names share
one namespace per schema, as in pg_class) and builds a `Catalog` from them.
Fields derived from others (`TableDef.prefix`, `index_of`, `referenced_by`,
`references`, `IndexDef.prefix`) are computed, never stored.

Encodings only ever gain optional trailing fields, so definitions written by
an older version still decode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgpack

from quorumdb.storage import keycode

from . import keys
from . import types as T
from .types import SqlType

__all__ = [
    "FIRST_TABLE_OID",
    "NO_ACTION",
    "RESTRICT",
    "CASCADE",
    "SET_NULL",
    "SET_DEFAULT",
    "ColumnInfo",
    "IndexDef",
    "CheckDef",
    "ForeignKeyDef",
    "TableDef",
    "ViewDef",
    "SequenceDef",
    "IndexName",
    "SchemaDef",
    "Relation",
    "quote_ident",
    "regclass_text",
    "decode_relation",
]

_SIMPLE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")

FIRST_TABLE_OID = 16384  # PostgreSQL's first OID for user objects; oid = this + id

# Foreign key actions, as pg_constraint.confdeltype spells them.
NO_ACTION, RESTRICT, CASCADE, SET_NULL, SET_DEFAULT = "a", "r", "c", "n", "d"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A column. `default` is the SQL text of its DEFAULT expression (evaluated on
    the leader at INSERT time). `sequence` is the id of the sequence a SERIAL or
    identity column draws from (its default is nextval of it, whatever it is named
    now); `identity` is "", "always" or "by default"."""

    name: str
    type: SqlType
    not_null: bool = False
    default: str | None = None
    identity: str = ""
    sequence: int = 0

    def encode(self) -> list[Any]:
        return [
            self.name,
            self.type.oid,
            self.type.typmod,
            self.not_null,
            self.default,
            self.identity,
            self.sequence,
        ]

    @classmethod
    def decode(cls, raw: list[Any]) -> ColumnInfo:
        name, oid, typmod, not_null, *rest = raw
        default = rest[0] if rest else None
        identity = rest[1] if len(rest) > 1 else ""
        sequence = rest[2] if len(rest) > 2 else 0
        return cls(name, T.type_from_oid(oid, typmod), not_null, default, identity, sequence)

    @property
    def has_default(self) -> bool:
        return self.default is not None or self.sequence != 0


@dataclass(frozen=True, slots=True)
class IndexDef:
    """A secondary index: entries (see keys.py) map column values to row keys.

    `constraint` marks the index of a UNIQUE constraint (dropped with it).
    Rows with a NULL in any column never conflict in a unique index.
    `options` is empty (every column ascending, NULLs last) or one
    pg_index.indoption per column (keycode.DESC | keycode.NULLS_FIRST), which
    the entry keys are encoded in."""

    id: int
    name: str
    columns: tuple[int, ...]
    unique: bool
    data_id: int
    constraint: bool = False
    options: tuple[int, ...] = ()
    prefix: bytes = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", keys.index_prefix(self.data_id))

    def values(self, row: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(row[i] for i in self.columns)

    def entry_key(self, row: tuple[object, ...], row_suffix: bytes) -> bytes:
        return keys.index_entry_key(self.prefix, self.values(row), row_suffix, self.options)

    def value_prefix(self, values: tuple[object, ...]) -> bytes:
        """Entries whose leading columns equal `values` share this prefix."""
        return keys.index_value_prefix(self.prefix, values, self.options)

    def option(self, k: int) -> int:
        """The order flags of the k-th column (0: ascending, NULLs last)."""
        return self.options[k] if k < len(self.options) else 0

    @property
    def key_range(self) -> tuple[bytes, bytes | None]:
        return keycode.prefix_range(self.prefix)

    def encode(self) -> list[Any]:
        raw = [self.id, self.name, list(self.columns), self.unique, self.data_id, self.constraint]
        return raw + [list(self.options)] if self.options else raw

    @classmethod
    def decode(cls, raw: list[Any]) -> IndexDef:
        id_, name, columns, unique, data_id, constraint, *options = raw
        return cls(id_, name, tuple(columns), unique, data_id, constraint,
                   tuple(options[0]) if options else ())  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckDef:
    """CHECK (expr): `expr` is SQL text over the table's columns."""

    name: str
    expr: str


@dataclass(frozen=True, slots=True)
class ForeignKeyDef:
    """FOREIGN KEY (columns) REFERENCES ref_table (ref_columns) with its actions
    (pg_constraint letters: a no action, r restrict, c cascade, n set null, d set default)."""

    name: str
    columns: tuple[int, ...]
    ref_table: int
    ref_columns: tuple[int, ...]
    on_delete: str = NO_ACTION
    on_update: str = NO_ACTION

    def encode(self) -> list[Any]:
        return [
            self.name,
            list(self.columns),
            self.ref_table,
            list(self.ref_columns),
            self.on_delete,
            self.on_update,
        ]

    @classmethod
    def decode(cls, raw: list[Any]) -> ForeignKeyDef:
        name, columns, ref_table, ref_columns, on_delete, on_update = raw
        return cls(name, tuple(columns), ref_table, tuple(ref_columns), on_delete, on_update)


@dataclass(frozen=True, slots=True)
class TableDef:
    """A table. `primary_key` holds column positions in key order; () means the
    rows are keyed by a hidden row id. Rows live under `data_id` (see keys.py).
    Derived lookups are computed once; `referenced_by` (the foreign keys of other
    tables that point here) is filled in by the `Catalog` that holds the table."""

    id: int
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[int, ...]
    pkey_name: str
    schema: str = "public"
    data_id: int = 0  # 0: the same as id
    indexes: tuple[IndexDef, ...] = ()
    checks: tuple[CheckDef, ...] = ()
    foreign_keys: tuple[ForeignKeyDef, ...] = ()
    prefix: bytes = field(init=False, compare=False, repr=False)
    index_of: dict[str, int] = field(init=False, compare=False, repr=False)
    referenced_by: tuple[tuple[TableDef, ForeignKeyDef], ...] = field(
        init=False, compare=False, repr=False
    )
    references: tuple[tuple[ForeignKeyDef, TableDef], ...] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not self.data_id:
            object.__setattr__(self, "data_id", self.id)
        object.__setattr__(self, "prefix", keys.table_prefix(self.data_id))
        object.__setattr__(self, "index_of", {c.name: i for i, c in enumerate(self.columns)})
        object.__setattr__(self, "referenced_by", ())
        object.__setattr__(self, "references", ())

    kind = "table"

    @property
    def oid(self) -> int:
        return FIRST_TABLE_OID + self.id

    @property
    def key_range(self) -> tuple[bytes, bytes | None]:
        return keycode.prefix_range(self.prefix)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def index(self, name: str) -> IndexDef | None:
        for index in self.indexes:
            if index.name == name:
                return index
        return None

    def unique_keys(self) -> list[tuple[str, tuple[int, ...], IndexDef | None]]:
        """(name, columns, index) of the primary key (index None) and every unique index."""
        out: list[tuple[str, tuple[int, ...], IndexDef | None]] = []
        if self.primary_key:
            out.append((self.pkey_name, self.primary_key, None))
        out.extend((i.name, i.columns, i) for i in self.indexes if i.unique)
        return out

    def constraint_names(self) -> set[str]:
        names = {c.name for c in self.checks} | {f.name for f in self.foreign_keys}
        names |= {i.name for i in self.indexes if i.constraint}
        if self.primary_key:
            names.add(self.pkey_name)
        return names

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "kind": "table",
                "id": self.id,
                "name": self.name,
                "schema": self.schema,
                "data": self.data_id,
                "columns": [c.encode() for c in self.columns],
                "pk": list(self.primary_key),
                "pkey": self.pkey_name,
                "indexes": [i.encode() for i in self.indexes],
                "checks": [[c.name, c.expr] for c in self.checks],
                "fks": [f.encode() for f in self.foreign_keys],
            }
        )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> TableDef:
        return cls(
            raw["id"],
            raw["name"],
            tuple(ColumnInfo.decode(c) for c in raw["columns"]),
            tuple(raw["pk"]),
            raw["pkey"],
            raw.get("schema", "public"),
            raw.get("data", 0),
            tuple(IndexDef.decode(i) for i in raw.get("indexes", ())),
            tuple(CheckDef(n, e) for n, e in raw.get("checks", ())),
            tuple(ForeignKeyDef.decode(f) for f in raw.get("fks", ())),
        )

    @classmethod
    def decode(cls, data: bytes) -> TableDef:
        return cls.from_raw(msgpack.unpackb(data))


@dataclass(frozen=True, slots=True)
class ViewDef:
    """CREATE VIEW name (columns) AS sql. `depends_on` lists the ids of the tables
    and views the query reads (DROP ... RESTRICT refuses to drop them)."""

    id: int
    name: str
    schema: str
    sql: str
    columns: tuple[str, ...]
    depends_on: tuple[int, ...] = ()

    kind = "view"

    @property
    def oid(self) -> int:
        return FIRST_TABLE_OID + self.id

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "kind": "view",
                "id": self.id,
                "name": self.name,
                "schema": self.schema,
                "sql": self.sql,
                "columns": list(self.columns),
                "deps": list(self.depends_on),
            }
        )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> ViewDef:
        return cls(
            raw["id"],
            raw["name"],
            raw["schema"],
            raw["sql"],
            tuple(raw["columns"]),
            tuple(raw["deps"]),
        )


@dataclass(frozen=True, slots=True)
class SequenceDef:
    """A sequence's definition; its state (the replicated high-water mark) lives
    under `keys.counter_key(id)` and is managed by sql/sequences.py.
    `owned_by` = (table id, column name) for SERIAL and identity columns."""

    id: int
    name: str
    schema: str
    type_oid: int = T.INT8.oid
    start: int = 1
    increment: int = 1
    min_value: int = 1
    max_value: int = (1 << 63) - 1
    cache: int = 1
    cycle: bool = False
    owned_by: tuple[int, str] | None = None

    kind = "sequence"

    @property
    def oid(self) -> int:
        return FIRST_TABLE_OID + self.id

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "kind": "sequence",
                "id": self.id,
                "name": self.name,
                "schema": self.schema,
                "type": self.type_oid,
                "start": self.start,
                "inc": self.increment,
                "min": self.min_value,
                "max": self.max_value,
                "cache": self.cache,
                "cycle": self.cycle,
                "owned": list(self.owned_by) if self.owned_by else None,
            }
        )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> SequenceDef:
        owned = raw.get("owned")
        return cls(
            raw["id"],
            raw["name"],
            raw["schema"],
            raw["type"],
            raw["start"],
            raw["inc"],
            raw["min"],
            raw["max"],
            raw["cache"],
            raw["cycle"],
            (owned[0], owned[1]) if owned else None,
        )


@dataclass(frozen=True, slots=True)
class IndexName:
    """The namespace entry of an index: the id of the table that holds it."""

    name: str
    schema: str
    table: int

    kind = "index"
    id = -1  # an index name is no object of its own: its table is

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {"kind": "index", "name": self.name, "schema": self.schema, "table": self.table}
        )


@dataclass(frozen=True, slots=True)
class SchemaDef:
    id: int
    name: str

    def encode(self) -> bytes:
        return msgpack.packb({"id": self.id, "name": self.name})  # type: ignore[no-any-return]


Relation = TableDef | ViewDef | SequenceDef | IndexName


def quote_ident(name: str) -> str:
    """An identifier as SQL text (quoted unless it is plain lower case)."""
    if _SIMPLE_IDENT.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def regclass_text(relation: SequenceDef) -> str:
    """The relation's qualified name as the text of a regclass literal (quotes doubled)."""
    return f"{quote_ident(relation.schema)}.{quote_ident(relation.name)}".replace("'", "''")


def decode_relation(data: bytes) -> Relation:
    raw = msgpack.unpackb(data)
    kind = raw.get("kind", "table")
    if kind == "table":
        return TableDef.from_raw(raw)
    if kind == "view":
        return ViewDef.from_raw(raw)
    if kind == "sequence":
        return SequenceDef.from_raw(raw)
    return IndexName(raw["name"], raw["schema"], raw["table"])
