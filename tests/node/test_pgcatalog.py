"""pg_catalog, information_schema and the system information functions (real SQL layer).

psql's own queries are checked against PostgreSQL 15 in tests/clients/test_psql.py;
these tests pin the values the catalog derives from our definitions.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from serverthread import LocalDatabase, ServerThread


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection]:
    local = LocalDatabase()
    with ServerThread(local.open) as srv, psycopg.connect(
        srv.dsn(user="alice", dbname="shop", application_name="catalog-test"), autocommit=True
    ) as c:
        c.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, "
            "price numeric(8,2) DEFAULT 0, tags text[])"
        )
        c.execute("CREATE INDEX items_name ON items (name)")
        c.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, item int REFERENCES items (id), "
            "qty int CHECK (qty > 0))"
        )
        yield c


def one(conn: psycopg.Connection, sql: str, *params: object) -> object:
    row = conn.execute(sql, params or None).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_session_functions(conn):
    assert one(conn, "SELECT current_user") == "alice"
    assert one(conn, "SELECT current_database()") == "shop"
    assert one(conn, "SELECT current_schema()") == "public"
    assert one(conn, "SELECT version()").startswith("PostgreSQL 15")
    assert one(conn, "SELECT pg_backend_pid()") == conn.info.backend_pid
    assert one(conn, "SELECT current_setting('application_name')") == "catalog-test"
    assert one(conn, "SELECT set_config('application_name', 'renamed', false)") == "renamed"
    assert one(conn, "SHOW application_name") == "renamed"


def test_pg_class_namespace_and_visibility(conn):
    rows = conn.execute(
        "SELECT c.relname, c.relkind, n.nspname, pg_catalog.pg_get_userbyid(c.relowner) "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("items", "r", "public", "quorumdb"),
        ("items_name", "i", "public", "quorumdb"),
        ("items_pkey", "i", "public", "quorumdb"),
        ("orders", "r", "public", "quorumdb"),
        ("orders_pkey", "i", "public", "quorumdb"),
    ]
    assert one(conn, "SELECT 'items'::regclass::oid = (SELECT oid FROM pg_class WHERE relname = 'items')")


def test_attributes_types_and_defaults(conn):
    rows = conn.execute(
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "(SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d "
        " WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) "
        "FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'items'::regclass AND a.attnum > 0 "
        "ORDER BY a.attnum"
    ).fetchall()
    assert rows == [
        ("id", "integer", True, None),
        ("name", "character varying(20)", True, None),
        ("price", "numeric(8,2)", False, "0"),
        ("tags", "text[]", False, None),
    ]


def test_indexes_and_constraints(conn):
    indexes = conn.execute(
        "SELECT c.relname, i.indisprimary, pg_catalog.pg_get_indexdef(i.indexrelid) "
        "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'items'::regclass ORDER BY 1"
    ).fetchall()
    assert indexes == [
        ("items_name", False, "CREATE INDEX items_name ON public.items USING btree (name)"),
        ("items_pkey", True, "CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)"),
    ]
    constraints = conn.execute(
        "SELECT conname, contype, pg_catalog.pg_get_constraintdef(oid, true) "
        "FROM pg_catalog.pg_constraint WHERE conrelid = 'orders'::regclass ORDER BY 1"
    ).fetchall()
    assert constraints == [
        ("orders_item_fkey", "f", "FOREIGN KEY (item) REFERENCES items(id)"),
        ("orders_pkey", "p", "PRIMARY KEY (id)"),
        ("orders_qty_check", "c", "CHECK (qty > 0)"),
    ]


def test_information_schema(conn):
    assert conn.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'public' ORDER BY table_name"
    ).fetchall() == [("public", "items", "BASE TABLE"), ("public", "orders", "BASE TABLE")]
    assert conn.execute(
        "SELECT column_name, data_type, is_nullable, character_maximum_length, "
        "numeric_precision, numeric_scale, udt_name, column_default "
        "FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position"
    ).fetchall() == [
        ("id", "integer", "NO", None, 32, 0, "int4", None),
        ("name", "character varying", "NO", 20, None, None, "varchar", None),
        ("price", "numeric", "YES", None, 8, 2, "numeric", "0"),
        ("tags", "ARRAY", "YES", None, None, None, "_text", None),
    ]
    schemata = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
    assert {"public", "pg_catalog", "information_schema"} <= schemata


def test_databases_roles_settings_and_activity(conn):
    assert one(conn, "SELECT datname FROM pg_catalog.pg_database") == "shop"
    assert conn.execute(
        "SELECT rolname, rolsuper, rolcanlogin FROM pg_catalog.pg_roles ORDER BY 1"
    ).fetchall() == [("quorumdb", True, True)]
    assert one(conn, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'DateStyle'") == "ISO, MDY"
    activity = conn.execute(
        "SELECT pid, usename, datname, application_name, state, query "
        "FROM pg_catalog.pg_stat_activity"
    ).fetchall()
    me = [row for row in activity if row[0] == conn.info.backend_pid]
    assert len(me) == 1
    assert me[0][1:5] == ("alice", "shop", "renamed", "active")
    assert "pg_stat_activity" in me[0][5]


def test_type_lookup_as_drivers_do(conn):
    row = conn.execute(
        "SELECT t.typname, t.oid::regtype::text, t.typarray FROM pg_type t "
        "WHERE t.oid = to_regtype(%s)",
        ("numeric",),
    ).fetchone()
    assert row == ("numeric", "numeric", 1231)
    assert one(conn, "SELECT to_regclass('no_such_table')") is None
    # asyncpg's type introspection names a missing element or base type (oid 0) "-".
    int4_elem = "SELECT typelem::regtype::text, format_type(0, NULL) FROM pg_type WHERE typname = 'int4'"
    assert one(conn, int4_elem) == ("-", "-")
