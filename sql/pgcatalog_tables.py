"""The pg_catalog relations, defined over `CatalogView` (registry: sql/pgcatalog.py).

Each `@virtual` function yields the rows of one relation, in PostgreSQL's
column order, for the columns clients read: pg_namespace, pg_class,
pg_attribute, pg_attrdef, pg_index, pg_constraint (the primary key, unique
indexes, checks and foreign keys of every table), pg_type, pg_am,
pg_database, pg_roles/pg_authid/pg_user, pg_settings, pg_stat_activity (this
node's sessions), pg_proc (the function library), pg_tablespace,
pg_sequence, and the catalogs that are always empty here (policies,
publications, inheritance, triggers, rules, ...), which psql still queries.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import types as T
from .catalog import SequenceDef, TableDef, ViewDef
from .pgcatalog import (
    _KNOWN_TYPE_OIDS,
    _TABLES,
    BOOL,
    BTREE_AM,
    CHAR,
    DATABASE_OID,
    FLOAT4,
    HEAP_AM,
    INFORMATION_SCHEMA_OID,
    INT2,
    INT2_ARRAY,
    INT4,
    INT8,
    NAME,
    OID,
    OID_ARRAY,
    PG_CATALOG_OID,
    TEXT,
    TEXT_ARRAY,
    TIMESTAMPTZ,
    TYPE_NAMES,
    CatalogView,
    attrdef_oid,
    default_text,
    empty,
    virtual,
)
from .roles import BOOTSTRAP_OID
from .settings import SETTINGS
from .types import SqlType

__all__: list[str] = []

Row = tuple[object, ...]


# ---- pg_catalog: namespaces, classes, attributes ----------------------------------------------


@virtual("pg_catalog", "pg_namespace", 2615, [
    ("oid", OID), ("nspname", NAME), ("nspowner", OID), ("nspacl", TEXT_ARRAY),
])  # fmt: skip
def _pg_namespace(view: CatalogView) -> Iterable[Row]:
    for oid, name in view.schemas():
        yield oid, name, BOOTSTRAP_OID, None


_CLASS_COLUMNS = [
    ("oid", OID), ("relname", NAME), ("relnamespace", OID), ("reltype", OID),
    ("reloftype", OID), ("relowner", OID), ("relam", OID), ("relfilenode", OID),
    ("reltablespace", OID), ("relpages", INT4), ("reltuples", FLOAT4), ("relallvisible", INT4),
    ("reltoastrelid", OID), ("relhasindex", BOOL), ("relisshared", BOOL),
    ("relpersistence", CHAR), ("relkind", CHAR), ("relnatts", INT2), ("relchecks", INT2),
    ("relhasrules", BOOL), ("relhastriggers", BOOL), ("relhassubclass", BOOL),
    ("relrowsecurity", BOOL), ("relforcerowsecurity", BOOL), ("relispopulated", BOOL),
    ("relreplident", CHAR), ("relispartition", BOOL), ("relrewrite", OID),
    ("relfrozenxid", INT8), ("relminmxid", INT8), ("relacl", TEXT_ARRAY),
    ("reloptions", TEXT_ARRAY), ("relpartbound", TEXT),
]  # fmt: skip


def _class_row(
    oid: int, name: str, namespace: int, kind: str, am: int, natts: int, *,
    checks: int = 0, has_index: bool = False, triggers: bool = False,
) -> Row:  # fmt: skip
    return (
        oid, name, namespace, 0, 0, BOOTSTRAP_OID, am, oid, 0, 0, -1.0, 0, 0, has_index,
        False, "p", kind, natts, checks, False, triggers, False, False, False, True,
        "d" if kind in ("r", "m") else "n", False, 0, 0, 0, None, None, None,
    )  # fmt: skip


@virtual("pg_catalog", "pg_class", 1259, _CLASS_COLUMNS)
def _pg_class(view: CatalogView) -> Iterable[Row]:
    for relation in view.relations():
        ns = view.namespace_of(relation.schema)
        if isinstance(relation, TableDef):
            yield _class_row(
                relation.oid, relation.name, ns, "r", HEAP_AM, len(relation.columns),
                checks=len(relation.checks),
                has_index=bool(relation.primary_key or relation.indexes),
                triggers=bool(relation.foreign_keys or relation.referenced_by),
            )  # fmt: skip
        elif isinstance(relation, ViewDef):
            yield _class_row(relation.oid, relation.name, ns, "v", 0, len(relation.columns))
        else:
            yield _class_row(relation.oid, relation.name, ns, "S", 0, 3)
    for oid, name, table, columns, _unique, _primary in view.indexes():
        yield _class_row(oid, name, view.namespace_of(table.schema), "i", BTREE_AM, len(columns))
    for virtual_table in _TABLES.values():
        ns = PG_CATALOG_OID if virtual_table.schema == "pg_catalog" else INFORMATION_SCHEMA_OID
        kind = "r" if virtual_table.schema == "pg_catalog" and virtual_table.oid < 10_000 else "v"
        yield _class_row(
            virtual_table.oid, virtual_table.name, ns, kind, HEAP_AM if kind == "r" else 0,
            len(virtual_table.columns),
        )  # fmt: skip


@virtual("pg_catalog", "pg_attribute", 1249, [
    ("attrelid", OID), ("attname", NAME), ("atttypid", OID), ("attstattarget", INT4),
    ("attlen", INT2), ("attnum", INT2), ("attndims", INT4), ("attcacheoff", INT4),
    ("atttypmod", INT4), ("attbyval", BOOL), ("attalign", CHAR), ("attstorage", CHAR),
    ("attcompression", CHAR), ("attnotnull", BOOL), ("atthasdef", BOOL),
    ("atthasmissing", BOOL), ("attidentity", CHAR), ("attgenerated", CHAR),
    ("attisdropped", BOOL), ("attislocal", BOOL), ("attinhcount", INT4),
    ("attcollation", OID), ("attacl", TEXT_ARRAY), ("attoptions", TEXT_ARRAY),
])  # fmt: skip
def _pg_attribute(view: CatalogView) -> Iterable[Row]:
    for table in view.tables():
        for i, column in enumerate(table.columns):
            yield _attribute(table.oid, column.name, column.type, i + 1,
                             column.not_null or i in table.primary_key, column.has_default,
                             {"always": "a", "by default": "d"}.get(column.identity, ""))  # fmt: skip
    for oid, _name, table, columns, _unique, _primary in view.indexes():
        for k, position in enumerate(columns):
            column = table.columns[position]
            yield _attribute(oid, column.name, column.type, k + 1, False, False, "")
    for relation in view.relations():
        if isinstance(relation, ViewDef):
            for k, name in enumerate(relation.columns):
                yield _attribute(relation.oid, name, T.TEXT, k + 1, False, False, "")


def _attribute(
    relid: int, name: str, t: SqlType, attnum: int, not_null: bool, has_default: bool, identity: str
) -> Row:
    collation = 100 if t.category == "S" else 0
    return (
        relid, name, t.oid, -1, t.typlen, attnum, 1 if t.element is not None else 0, -1,
        t.typmod, t.typlen in (1, 2, 4, 8), "i", _storage(t.oid, t.typlen), "", not_null,
        has_default, False, identity, "", False, True, 0, collation, None, None,
    )  # fmt: skip


@virtual("pg_catalog", "pg_attrdef", 2604, [
    ("oid", OID), ("adrelid", OID), ("adnum", INT2), ("adbin", TEXT),
])  # fmt: skip
def _pg_attrdef(view: CatalogView) -> Iterable[Row]:
    for table in view.tables():
        for i, column in enumerate(table.columns):
            default = default_text(view, column)
            if default is not None:
                yield attrdef_oid(table, i + 1), table.oid, i + 1, default


@virtual("pg_catalog", "pg_index", 2610, [
    ("indexrelid", OID), ("indrelid", OID), ("indnatts", INT2), ("indnkeyatts", INT2),
    ("indisunique", BOOL), ("indnullsnotdistinct", BOOL), ("indisprimary", BOOL),
    ("indisexclusion", BOOL), ("indimmediate", BOOL), ("indisclustered", BOOL),
    ("indisvalid", BOOL), ("indcheckxmin", BOOL), ("indisready", BOOL), ("indislive", BOOL),
    ("indisreplident", BOOL), ("indkey", INT2_ARRAY), ("indcollation", OID_ARRAY),
    ("indclass", OID_ARRAY), ("indoption", INT2_ARRAY), ("indexprs", TEXT), ("indpred", TEXT),
])  # fmt: skip
def _pg_index(view: CatalogView) -> Iterable[Row]:
    for oid, _name, table, columns, unique, primary in view.indexes():
        keys = tuple(c + 1 for c in columns)
        yield (
            oid, table.oid, len(keys), len(keys), unique, False, primary, False, True, False,
            True, False, True, True, False, keys, tuple(0 for _ in keys),
            tuple(0 for _ in keys), view.index_options(table, oid), None, None,
        )  # fmt: skip


@virtual("pg_catalog", "pg_constraint", 2606, [
    ("oid", OID), ("conname", NAME), ("connamespace", OID), ("contype", CHAR),
    ("condeferrable", BOOL), ("condeferred", BOOL), ("convalidated", BOOL), ("conrelid", OID),
    ("contypid", OID), ("conindid", OID), ("conparentid", OID), ("confrelid", OID),
    ("confupdtype", CHAR), ("confdeltype", CHAR), ("confmatchtype", CHAR),
    ("conislocal", BOOL), ("coninhcount", INT4), ("connoinherit", BOOL),
    ("conkey", INT2_ARRAY), ("confkey", INT2_ARRAY), ("conbin", TEXT),
])  # fmt: skip
def _pg_constraint(view: CatalogView) -> Iterable[Row]:
    for con in view.all_constraints():
        fk = con.kind == "f"
        yield (
            con.oid, con.name, view.namespace_of(con.table.schema), con.kind, False, False,
            True, con.table.oid, 0, con.index_oid, 0,
            con.ref_table.oid if con.ref_table is not None else 0,
            con.on_update if fk else " ", con.on_delete if fk else " ", "s" if fk else " ",
            True, 0, False,
            tuple(c + 1 for c in con.columns) if con.kind != "c" else None,
            tuple(c + 1 for c in con.ref_columns) if fk else None, con.check,
        )  # fmt: skip


# ---- pg_catalog: types, access methods, databases, roles ---------------------------------------


@virtual("pg_catalog", "pg_type", 1247, [
    ("oid", OID), ("typname", NAME), ("typnamespace", OID), ("typowner", OID),
    ("typlen", INT2), ("typbyval", BOOL), ("typtype", CHAR), ("typcategory", CHAR),
    ("typispreferred", BOOL), ("typisdefined", BOOL), ("typdelim", CHAR), ("typrelid", OID),
    ("typsubscript", TEXT), ("typelem", OID), ("typarray", OID), ("typinput", TEXT),
    ("typoutput", TEXT), ("typreceive", TEXT), ("typsend", TEXT), ("typalign", CHAR),
    ("typstorage", CHAR), ("typnotnull", BOOL), ("typbasetype", OID), ("typtypmod", INT4),
    ("typndims", INT4), ("typcollation", OID), ("typdefault", TEXT), ("typacl", TEXT_ARRAY),
])  # fmt: skip
def _pg_type(view: CatalogView) -> Iterable[Row]:
    for oid in _KNOWN_TYPE_OIDS:
        t = T.type_from_oid(oid)
        try:
            array = T.array_of(t).oid
        except Exception:  # noqa: BLE001 - no array type for this one
            array = 0
        yield _type_row(oid, t.name, t.typlen, "b", t.category, t.preferred, 0, array)
        if array:
            yield _type_row(array, "_" + t.name, -1, "b", "A", False, oid, 0)
    for oid, (name, _display, length, category) in TYPE_NAMES.items():
        yield _type_row(oid, name, length, "p" if category == "P" else "b", category, False, 0, 0)


def _storage(oid: int, length: int) -> str:
    """typstorage / attstorage: plain for fixed width, main for numeric, else extended."""
    if length >= 0:
        return "p"
    return "m" if oid == T.NUMERIC.oid else "x"


def _type_row(
    oid: int, name: str, length: int, kind: str, category: str, preferred: bool, elem: int, array: int
) -> Row:
    io = "array" if category == "A" else name
    return (
        oid, name, PG_CATALOG_OID, BOOTSTRAP_OID, length, length in (1, 2, 4, 8), kind,
        category, preferred, True, ",", 0, "array_subscript_handler" if elem else "-",
        elem, array, f"{io}_in", f"{io}_out", f"{io}_recv", f"{io}_send",
        "d" if length == 8 else "i", _storage(oid, length), False, 0, -1, 0,
        100 if category == "S" else 0, None, None,
    )  # fmt: skip


@virtual("pg_catalog", "pg_am", 2601, [
    ("oid", OID), ("amname", NAME), ("amhandler", TEXT), ("amtype", CHAR),
])  # fmt: skip
def _pg_am(view: CatalogView) -> Iterable[Row]:
    return [(HEAP_AM, "heap", "heap_tableam_handler", "t"), (BTREE_AM, "btree", "bthandler", "i")]


@virtual("pg_catalog", "pg_database", 1262, [
    ("oid", OID), ("datname", NAME), ("datdba", OID), ("encoding", INT4),
    ("datlocprovider", CHAR), ("datistemplate", BOOL), ("datallowconn", BOOL),
    ("datconnlimit", INT4), ("dattablespace", OID), ("datcollate", TEXT), ("datctype", TEXT),
    ("daticulocale", TEXT), ("datcollversion", TEXT), ("datacl", TEXT_ARRAY),
])  # fmt: skip
def _pg_database(view: CatalogView) -> Iterable[Row]:
    name = view.session.database
    return [(DATABASE_OID, name, BOOTSTRAP_OID, 6, "c", False, True, -1, 1663, "C", "C", None, None, None)]


_ROLE_COLUMNS = [
    ("rolname", NAME), ("rolsuper", BOOL), ("rolinherit", BOOL), ("rolcreaterole", BOOL),
    ("rolcreatedb", BOOL), ("rolcanlogin", BOOL), ("rolreplication", BOOL),
    ("rolconnlimit", INT4), ("rolpassword", TEXT), ("rolvaliduntil", TIMESTAMPTZ),
    ("rolbypassrls", BOOL), ("rolconfig", TEXT_ARRAY), ("oid", OID),
]  # fmt: skip


@virtual("pg_catalog", "pg_roles", 12_001, _ROLE_COLUMNS)
def _pg_roles(view: CatalogView) -> Iterable[Row]:
    for r in view.roles():
        yield (r.name, r.superuser, r.inherit, r.createrole, r.createdb, r.login,
               r.replication, r.connection_limit, "********", None, r.bypassrls, None, r.oid)  # fmt: skip


@virtual("pg_catalog", "pg_authid", 1260, [
    ("oid", OID), ("rolname", NAME), ("rolsuper", BOOL), ("rolinherit", BOOL),
    ("rolcreaterole", BOOL), ("rolcreatedb", BOOL), ("rolcanlogin", BOOL),
    ("rolreplication", BOOL), ("rolbypassrls", BOOL), ("rolconnlimit", INT4),
    ("rolpassword", TEXT), ("rolvaliduntil", TIMESTAMPTZ),
])  # fmt: skip
def _pg_authid(view: CatalogView) -> Iterable[Row]:
    for r in view.roles():
        yield (r.oid, r.name, r.superuser, r.inherit, r.createrole, r.createdb, r.login,
               r.replication, r.bypassrls, r.connection_limit, r.password, None)  # fmt: skip


@virtual("pg_catalog", "pg_user", 12_002, [
    ("usename", NAME), ("usesysid", OID), ("usecreatedb", BOOL), ("usesuper", BOOL),
    ("userepl", BOOL), ("usebypassrls", BOOL), ("passwd", TEXT), ("valuntil", TIMESTAMPTZ),
    ("useconfig", TEXT_ARRAY),
])  # fmt: skip
def _pg_user(view: CatalogView) -> Iterable[Row]:
    for r in view.roles():
        if r.login:
            yield (r.name, r.oid, r.createdb, r.superuser, r.replication, r.bypassrls,
                   "********", None, None)  # fmt: skip


@virtual("pg_catalog", "pg_settings", 12_003, [
    ("name", TEXT), ("setting", TEXT), ("unit", TEXT), ("category", TEXT), ("short_desc", TEXT),
    ("extra_desc", TEXT), ("context", TEXT), ("vartype", TEXT), ("source", TEXT),
    ("min_val", TEXT), ("max_val", TEXT), ("enumvals", TEXT_ARRAY), ("boot_val", TEXT),
    ("reset_val", TEXT), ("sourcefile", TEXT), ("sourceline", INT4), ("pending_restart", BOOL),
])  # fmt: skip
def _pg_settings(view: CatalogView) -> Iterable[Row]:
    settings = view.session.settings
    for name, value, description in settings.all():
        setting = SETTINGS.get(name.lower())
        default = setting.default if setting is not None else value
        context = "internal" if setting is not None and setting.read_only else "user"
        yield (name, value, None, "", description, None, context, "string",
               "default" if value == default else "session", None, None, None, default,
               default, None, None, False)  # fmt: skip


@virtual("pg_catalog", "pg_stat_activity", 12_004, [
    ("datid", OID), ("datname", NAME), ("pid", INT4), ("leader_pid", INT4), ("usesysid", OID),
    ("usename", NAME), ("application_name", TEXT), ("client_addr", TEXT),
    ("client_hostname", TEXT), ("client_port", INT4), ("backend_start", TIMESTAMPTZ),
    ("xact_start", TIMESTAMPTZ), ("query_start", TIMESTAMPTZ), ("state_change", TIMESTAMPTZ),
    ("wait_event_type", TEXT), ("wait_event", TEXT), ("state", TEXT), ("backend_xid", INT8),
    ("backend_xmin", INT8), ("query_id", INT8), ("query", TEXT), ("backend_type", TEXT),
])  # fmt: skip
def _pg_stat_activity(view: CatalogView) -> Iterable[Row]:
    source = getattr(view.session, "activity_source", None)
    for a in source() if source is not None else ():
        yield (
            DATABASE_OID, a["datname"], a["pid"], None, None, a["usename"],
            a["application_name"], a["client_addr"], None, a["client_port"],
            _timestamptz(a["backend_start"]), None, _timestamptz(a["query_start"]),
            _timestamptz(a["state_change"]), a["wait_event_type"], None, a["state"], None,
            None, None, a["query"], a["backend_type"],
        )  # fmt: skip


def _timestamptz(unix: object) -> int | None:
    """Seconds since 1970 -> PostgreSQL's microseconds since 2000-01-01 UTC."""
    if unix is None:
        return None
    return int((float(unix) - 946_684_800) * 1_000_000)  # type: ignore[arg-type]


@virtual("pg_catalog", "pg_proc", 1255, [
    ("oid", OID), ("proname", NAME), ("pronamespace", OID), ("proowner", OID),
    ("prolang", OID), ("prokind", CHAR), ("proretset", BOOL), ("provolatile", CHAR),
    ("pronargs", INT2), ("prorettype", OID), ("proargtypes", OID_ARRAY), ("prosrc", TEXT),
])  # fmt: skip
def _pg_proc(view: CatalogView) -> Iterable[Row]:
    from .functions import _FUNCTIONS

    oid = 100_000
    for name, signatures in sorted(_FUNCTIONS.items()):
        if "." in name:
            continue
        for sig in signatures:
            oid += 1
            args = tuple(a.oid if isinstance(a, SqlType) else 2283 for a in sig.args)
            result = sig.result.oid if isinstance(sig.result, SqlType) else 2249
            yield (oid, name, PG_CATALOG_OID, BOOTSTRAP_OID, 12, "f", sig.returns_set,
                   sig.volatility, len(args), result, args, name)  # fmt: skip


@virtual("pg_catalog", "pg_description", 2609, [
    ("objoid", OID), ("classoid", OID), ("objsubid", INT4), ("description", TEXT),
])  # fmt: skip
def _pg_description(view: CatalogView) -> Iterable[Row]:
    return ()


@virtual("pg_catalog", "pg_tablespace", 1213, [
    ("oid", OID), ("spcname", NAME), ("spcowner", OID), ("spcacl", TEXT_ARRAY),
    ("spcoptions", TEXT_ARRAY),
])  # fmt: skip
def _pg_tablespace(view: CatalogView) -> Iterable[Row]:
    return [(1663, "pg_default", BOOTSTRAP_OID, None, None)]


@virtual("pg_catalog", "pg_sequence", 2224, [
    ("seqrelid", OID), ("seqtypid", OID), ("seqstart", INT8), ("seqincrement", INT8),
    ("seqmax", INT8), ("seqmin", INT8), ("seqcache", INT8), ("seqcycle", BOOL),
])  # fmt: skip
def _pg_sequence(view: CatalogView) -> Iterable[Row]:
    for relation in view.relations():
        if isinstance(relation, SequenceDef):
            yield (relation.oid, relation.type_oid, relation.start, relation.increment,
                   relation.max_value, relation.min_value, relation.cache, relation.cycle)  # fmt: skip


empty("pg_catalog", "pg_auth_members", 1261, [
    ("oid", OID), ("roleid", OID), ("member", OID), ("grantor", OID), ("admin_option", BOOL),
])  # fmt: skip
empty("pg_catalog", "pg_policy", 3256, [
    ("oid", OID), ("polname", NAME), ("polrelid", OID), ("polcmd", CHAR),
    ("polpermissive", BOOL), ("polroles", OID_ARRAY), ("polqual", TEXT), ("polwithcheck", TEXT),
])  # fmt: skip
empty("pg_catalog", "pg_statistic_ext", 3381, [
    ("oid", OID), ("stxrelid", OID), ("stxname", NAME), ("stxnamespace", OID),
    ("stxowner", OID), ("stxstattarget", INT4), ("stxkeys", INT2_ARRAY), ("stxkind", TEXT_ARRAY),
    ("stxexprs", TEXT),
])  # fmt: skip
empty("pg_catalog", "pg_publication", 6104, [
    ("oid", OID), ("pubname", NAME), ("pubowner", OID), ("puballtables", BOOL),
    ("pubinsert", BOOL), ("pubupdate", BOOL), ("pubdelete", BOOL), ("pubtruncate", BOOL),
    ("pubviaroot", BOOL),
])  # fmt: skip
empty("pg_catalog", "pg_publication_namespace", 6237, [
    ("oid", OID), ("pnpubid", OID), ("pnnspid", OID),
])  # fmt: skip
empty("pg_catalog", "pg_publication_rel", 6106, [
    ("oid", OID), ("prpubid", OID), ("prrelid", OID), ("prqual", TEXT), ("prattrs", INT2_ARRAY),
])  # fmt: skip
empty("pg_catalog", "pg_inherits", 2611, [
    ("inhrelid", OID), ("inhparent", OID), ("inhseqno", INT4), ("inhdetachpending", BOOL),
])  # fmt: skip
empty("pg_catalog", "pg_trigger", 2620, [
    ("oid", OID), ("tgrelid", OID), ("tgparentid", OID), ("tgname", NAME), ("tgfoid", OID),
    ("tgtype", INT2), ("tgenabled", CHAR), ("tgisinternal", BOOL), ("tgconstrrelid", OID),
    ("tgconstrindid", OID), ("tgconstraint", OID), ("tgdeferrable", BOOL),
    ("tginitdeferred", BOOL), ("tgnargs", INT2),
])  # fmt: skip
empty("pg_catalog", "pg_rewrite", 2618, [
    ("oid", OID), ("rulename", NAME), ("ev_class", OID), ("ev_type", CHAR),
    ("ev_enabled", CHAR), ("is_instead", BOOL),
])  # fmt: skip
empty("pg_catalog", "pg_collation", 3456, [
    ("oid", OID), ("collname", NAME), ("collnamespace", OID), ("collowner", OID),
    ("collprovider", CHAR), ("collisdeterministic", BOOL), ("collencoding", INT4),
    ("collcollate", TEXT), ("collctype", TEXT),
])  # fmt: skip
empty("pg_catalog", "pg_extension", 3079, [
    ("oid", OID), ("extname", NAME), ("extowner", OID), ("extnamespace", OID),
    ("extrelocatable", BOOL), ("extversion", TEXT),
])  # fmt: skip
empty("pg_catalog", "pg_enum", 3501, [
    ("oid", OID), ("enumtypid", OID), ("enumsortorder", FLOAT4), ("enumlabel", NAME),
])  # fmt: skip
empty("pg_catalog", "pg_depend", 2608, [
    ("classid", OID), ("objid", OID), ("objsubid", INT4), ("refclassid", OID),
    ("refobjid", OID), ("refobjsubid", INT4), ("deptype", CHAR),
])  # fmt: skip
empty("pg_catalog", "pg_foreign_table", 3118, [
    ("ftrelid", OID), ("ftserver", OID), ("ftoptions", TEXT_ARRAY),
])  # fmt: skip
empty("pg_catalog", "pg_range", 3541, [
    ("rngtypid", OID), ("rngsubtype", OID), ("rngmultitypid", OID), ("rngcollation", OID),
    ("rngsubopc", OID), ("rngcanonical", TEXT), ("rngsubdiff", TEXT),
])  # fmt: skip
empty("pg_catalog", "pg_partitioned_table", 3350, [
    ("partrelid", OID), ("partstrat", CHAR), ("partnatts", INT2), ("partdefid", OID),
])  # fmt: skip


