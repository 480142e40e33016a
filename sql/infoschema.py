"""information_schema: the SQL-standard views of the catalog (tables, columns, schemata,
constraints, views, sequences), computed like pg_catalog's (sql/pgcatalog.py).

Values follow PostgreSQL's information_schema: ``data_type`` is the standard
spelling ("integer", "character varying", "ARRAY"), ``udt_name`` the
internal one ("int4", "_int4"), yes/no columns hold 'YES'/'NO', and only
what the current user may see is listed (here: everything).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import types as T
from .catalog import SequenceDef, TableDef, ViewDef
from .pgcatalog import CatalogView, default_text, virtual
from .types import SqlType

__all__: list[str] = []

Row = tuple[object, ...]
TEXT, INT4 = T.TEXT, T.INT4
SCHEMA = "information_schema"


def _data_type(t: SqlType) -> str:
    if t.element is not None:
        return "ARRAY"
    return t.base.display


def _lengths(t: SqlType) -> tuple[object, object, object, object, object]:
    """(character_maximum_length, numeric_precision, radix, numeric_scale, datetime_precision)."""
    oid = t.oid
    if oid in (T.VARCHAR.oid, T.BPCHAR.oid):
        return (t.typmod - 4 if t.typmod >= 0 else None), None, None, None, None
    if oid in T.INT_RANGES:
        bits = {T.INT2.oid: 16, T.INT4.oid: 32, T.INT8.oid: 64}[oid]
        return None, bits, 2, 0, None
    if oid == T.FLOAT4.oid:
        return None, 24, 2, None, None
    if oid == T.FLOAT8.oid:
        return None, 53, 2, None, None
    if oid == T.NUMERIC.oid:
        if t.typmod >= 0:
            precision, scale = T.numeric_typmod(t)
            return None, precision, 10, scale, None
        return None, None, 10, None, None
    if oid in (T.TIMESTAMP.oid, T.TIMESTAMPTZ.oid, T.TIME.oid):
        return None, None, None, None, t.typmod if t.typmod >= 0 else 6
    if oid == T.DATE.oid:
        return None, None, None, None, 0
    return None, None, None, None, None


@virtual(SCHEMA, "schemata", 13_101, [
    ("catalog_name", TEXT), ("schema_name", TEXT), ("schema_owner", TEXT),
    ("default_character_set_catalog", TEXT), ("default_character_set_schema", TEXT),
    ("default_character_set_name", TEXT), ("sql_path", TEXT),
])  # fmt: skip
def _schemata(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for _oid, name in view.schemas():
        yield database, name, view.superuser, None, None, None, None


@virtual(SCHEMA, "tables", 13_102, [
    ("table_catalog", TEXT), ("table_schema", TEXT), ("table_name", TEXT), ("table_type", TEXT),
    ("self_referencing_column_name", TEXT), ("reference_generation", TEXT),
    ("user_defined_type_catalog", TEXT), ("user_defined_type_schema", TEXT),
    ("user_defined_type_name", TEXT), ("is_insertable_into", TEXT), ("is_typed", TEXT),
    ("commit_action", TEXT),
])  # fmt: skip
def _tables(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for relation in view.relations():
        if isinstance(relation, SequenceDef):
            continue
        kind = "BASE TABLE" if isinstance(relation, TableDef) else "VIEW"
        insertable = "YES" if kind == "BASE TABLE" else "NO"
        yield (database, relation.schema, relation.name, kind, None, None, None, None, None,
               insertable, "NO", None)  # fmt: skip


@virtual(SCHEMA, "columns", 13_103, [
    ("table_catalog", TEXT), ("table_schema", TEXT), ("table_name", TEXT), ("column_name", TEXT),
    ("ordinal_position", INT4), ("column_default", TEXT), ("is_nullable", TEXT),
    ("data_type", TEXT), ("character_maximum_length", INT4), ("character_octet_length", INT4),
    ("numeric_precision", INT4), ("numeric_precision_radix", INT4), ("numeric_scale", INT4),
    ("datetime_precision", INT4), ("interval_type", TEXT), ("interval_precision", INT4),
    ("character_set_catalog", TEXT), ("character_set_schema", TEXT),
    ("character_set_name", TEXT), ("collation_catalog", TEXT), ("collation_schema", TEXT),
    ("collation_name", TEXT), ("domain_catalog", TEXT), ("domain_schema", TEXT),
    ("domain_name", TEXT), ("udt_catalog", TEXT), ("udt_schema", TEXT), ("udt_name", TEXT),
    ("is_identity", TEXT), ("identity_generation", TEXT), ("is_generated", TEXT),
    ("generation_expression", TEXT), ("is_updatable", TEXT),
])  # fmt: skip
def _columns(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for relation in view.relations():
        if isinstance(relation, TableDef):
            for i, column in enumerate(relation.columns):
                t = column.type
                length, precision, radix, scale, dt_precision = _lengths(t)
                nullable = not (column.not_null or i in relation.primary_key)
                identity = {"always": "ALWAYS", "by default": "BY DEFAULT"}.get(column.identity)
                octets = length * 4 if isinstance(length, int) else (1073741824 if t.category == "S" else None)
                yield (
                    database, relation.schema, relation.name, column.name, i + 1,
                    default_text(view, column), "YES" if nullable else "NO", _data_type(t),
                    length, octets, precision, radix, scale, dt_precision, None, None, None,
                    None, None, None, None, None, None, None, None, database, "pg_catalog",
                    t.name, "YES" if identity else "NO", identity, "NEVER", None, "YES",
                )  # fmt: skip
        elif isinstance(relation, ViewDef):
            for i, name in enumerate(relation.columns):
                yield (
                    database, relation.schema, relation.name, name, i + 1, None, "YES", "text",
                    None, 1073741824, None, None, None, None, None, None, None, None, None, None,
                    None, None, None, None, None, database, "pg_catalog", "text", "NO", None,
                    "NEVER", None, "NO",
                )  # fmt: skip


@virtual(SCHEMA, "table_constraints", 13_104, [
    ("constraint_catalog", TEXT), ("constraint_schema", TEXT), ("constraint_name", TEXT),
    ("table_catalog", TEXT), ("table_schema", TEXT), ("table_name", TEXT),
    ("constraint_type", TEXT), ("is_deferrable", TEXT), ("initially_deferred", TEXT),
    ("enforced", TEXT), ("nulls_distinct", TEXT),
])  # fmt: skip
def _table_constraints(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    kinds = {"p": "PRIMARY KEY", "u": "UNIQUE", "c": "CHECK", "f": "FOREIGN KEY"}
    for con in view.all_constraints():
        table = con.table
        yield (database, table.schema, con.name, database, table.schema, table.name,
               kinds[con.kind], "NO", "NO", "YES", "YES" if con.kind in "pu" else None)  # fmt: skip


@virtual(SCHEMA, "key_column_usage", 13_105, [
    ("constraint_catalog", TEXT), ("constraint_schema", TEXT), ("constraint_name", TEXT),
    ("table_catalog", TEXT), ("table_schema", TEXT), ("table_name", TEXT), ("column_name", TEXT),
    ("ordinal_position", INT4), ("position_in_unique_constraint", INT4),
])  # fmt: skip
def _key_column_usage(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for con in view.all_constraints():
        if con.kind == "c":
            continue
        table = con.table
        for k, position in enumerate(con.columns):
            yield (database, table.schema, con.name, database, table.schema, table.name,
                   table.columns[position].name, k + 1, k + 1 if con.kind == "f" else None)  # fmt: skip


@virtual(SCHEMA, "views", 13_106, [
    ("table_catalog", TEXT), ("table_schema", TEXT), ("table_name", TEXT),
    ("view_definition", TEXT), ("check_option", TEXT), ("is_updatable", TEXT),
    ("is_insertable_into", TEXT),
])  # fmt: skip
def _views(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for relation in view.relations():
        if isinstance(relation, ViewDef):
            yield database, relation.schema, relation.name, relation.sql, "NONE", "NO", "NO"


@virtual(SCHEMA, "sequences", 13_107, [
    ("sequence_catalog", TEXT), ("sequence_schema", TEXT), ("sequence_name", TEXT),
    ("data_type", TEXT), ("numeric_precision", INT4), ("numeric_precision_radix", INT4),
    ("numeric_scale", INT4), ("start_value", TEXT), ("minimum_value", TEXT),
    ("maximum_value", TEXT), ("increment", TEXT), ("cycle_option", TEXT),
])  # fmt: skip
def _sequences(view: CatalogView) -> Iterable[Row]:
    database = view.session.database
    for relation in view.relations():
        if isinstance(relation, SequenceDef):
            t = T.type_from_oid(relation.type_oid)
            _, precision, radix, scale, _ = _lengths(t)
            yield (database, relation.schema, relation.name, t.display, precision, radix, scale,
                   str(relation.start), str(relation.min_value), str(relation.max_value),
                   str(relation.increment), "YES" if relation.cycle else "NO")  # fmt: skip
