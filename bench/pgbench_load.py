"""A stand-in for `pgbench -i` on a server that cannot run it yet, so pgbench runs still happen.

`pgbench -i` needs COPY, VACUUM, ALTER TABLE ... ADD PRIMARY KEY, `WITH
(fillfactor=...)`, and the timestamp and char(n) types. While QuorumDB lacks
some of them, its pgbench rows would all read "failed" and say nothing about
the statements it *does* run (select-only needs one SELECT by key). So when
`pgbench -i` fails on QuorumDB, the pgbench workload loads the same four
tables with the same rows itself, through plain DDL and multi-row INSERTs,
and says so in every affected measurement (`details["loaded_by"]`). The
`pgbench -i` failure itself still counts: the bulk_load workload reports it.

Column types follow pgbench's schema; a type the server does not know
(SQLSTATE 42704) is replaced by the nearest one in `SUBSTITUTES`, so the
loader converges to the real schema as the server learns the types.
"""

from __future__ import annotations

import psycopg

from .support import Endpoint

__all__ = ["TABLES", "SUBSTITUTES", "load", "row_counts"]

# pgbench 15's tables (src/bin/pgbench/pgbench.c), primary keys declared inline.
TABLES: dict[str, list[tuple[str, str]]] = {
    "pgbench_history": [("tid", "int"), ("bid", "int"), ("aid", "int"), ("delta", "int"),
                        ("mtime", "timestamp"), ("filler", "char(22)")],
    "pgbench_tellers": [("tid", "int not null primary key"), ("bid", "int"), ("tbalance", "int"),
                        ("filler", "char(84)")],
    "pgbench_accounts": [("aid", "int not null primary key"), ("bid", "int"), ("abalance", "int"),
                         ("filler", "char(84)")],
    "pgbench_branches": [("bid", "int not null primary key"), ("bbalance", "int"),
                         ("filler", "char(88)")],
}  # fmt: skip
SUBSTITUTES = {"timestamp": "text", "char(22)": "text", "char(84)": "text", "char(88)": "text"}
BATCH = 1000
UNDEFINED_OBJECT = "42704"


def row_counts(scale: int) -> dict[str, int]:
    return {
        "pgbench_branches": scale,
        "pgbench_tellers": 10 * scale,
        "pgbench_accounts": 100_000 * scale,
    }


def _create(conn: psycopg.Connection, table: str) -> list[str]:
    """CREATE TABLE with pgbench's types, substituting the ones the server rejects; returns substitutions."""
    columns = list(TABLES[table])
    substituted: list[str] = []
    while True:
        ddl = f"CREATE TABLE {table} ({', '.join(f'{name} {kind}' for name, kind in columns)})"
        try:
            conn.execute(ddl)
            return substituted
        except psycopg.Error as exc:
            replaceable = [
                i for i, (_, kind) in enumerate(columns) if kind.split()[0] in SUBSTITUTES
            ]
            if exc.sqlstate != UNDEFINED_OBJECT or not replaceable:
                raise
            i = replaceable[0]
            name, kind = columns[i]
            base, _, rest = kind.partition(" ")
            columns[i] = (name, f"{SUBSTITUTES[base]} {rest}".strip())
            substituted.append(f"{table}.{name}: {base} -> {SUBSTITUTES[base]}")


def load(endpoint: Endpoint, scale: int) -> list[str]:
    """Drop and create the pgbench tables and fill them as `pgbench -i -s scale` would.

    Returns the type substitutions made, for the record.
    """
    substituted: list[str] = []
    with psycopg.connect(
        endpoint.dsn, autocommit=True, connect_timeout=10, cursor_factory=psycopg.ClientCursor
    ) as conn:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            substituted += _create(conn, table)
        counts = row_counts(scale)
        filler = "''"  # pgbench -i leaves filler empty (blank-padded for char(n))
        generators = {
            "pgbench_branches": lambda i: f"({i}, 0, {filler})",
            "pgbench_tellers": lambda i: f"({i}, {(i - 1) // 10 + 1}, 0, {filler})",
            "pgbench_accounts": lambda i: f"({i}, {(i - 1) // 100_000 + 1}, 0, {filler})",
        }
        for table in ("pgbench_branches", "pgbench_tellers", "pgbench_accounts"):
            columns = ", ".join(name for name, _ in TABLES[table])
            for start in range(1, counts[table] + 1, BATCH):
                stop = min(start + BATCH, counts[table] + 1)
                values = ", ".join(generators[table](i) for i in range(start, stop))
                conn.execute(f"INSERT INTO {table} ({columns}) VALUES {values}")
    return substituted
