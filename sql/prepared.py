"""Prepared statements and portals: the objects behind the extended query protocol.

A `PreparedStatement` is one statement parsed once (through the shared
parse cache, `PlanCache.query`) with its parameter types fixed at Parse: the
types the client declared, and for the others the types the binder inferred
from context (``$1`` compared with an int4 column is int4), unknown ones
becoming text as in PostgreSQL. Its plan is compiled for one catalog version
and reused by every Bind/Execute until the catalog changes, when it is
re-planned (never re-parsed) with the same parameter types. Plans of
parameterized statements are shared by all sessions of a database through
`ParameterizedPlans` (keyed by text and declared types), so a driver that
sends the same unnamed Parse for every call (psycopg before it prepares,
pgbench -M extended) pays a dictionary lookup, not a parse and a plan.

A `Portal` is a statement bound to parameter values and result formats,
executed in one or more steps (`Execute` with a row limit leaves it
suspended). Its rows come from the session (`sql/client.py`), which owns
transactions; this module knows nothing about them.

Invariants:

* Parameter types never change after Parse, and a re-plan that would change
  the result columns fails with 0A000 ("cached plan must not change result
  type"), as PostgreSQL does, instead of sending rows the client did not
  expect.
* Parameter values are decoded (`decode_params`) with the type's input
  function (text) or binary receive function, so a bad value fails with the
  type's own error (22P02, 22P03) at Bind, before anything runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import ast, binaryio
from . import types as T
from .catalog import Catalog
from .executor import Executable, compile_plan
from .plancache import CachedQuery
from .planner import plan_statement
from .result import StatementResult
from .types import SqlType

__all__ = [
    "PreparedStatement",
    "Portal",
    "ParameterizedPlans",
    "param_type",
    "decode_params",
]

Row = tuple[object, ...]


def param_type(oid: int) -> SqlType | None:
    """The SqlType a client declared for a parameter; None for 0 (infer it)."""
    if oid == 0:
        return None
    try:
        return T.type_from_oid(oid)
    except KeyError:
        if oid == T.UNKNOWN.oid:
            return None
        raise QuorumError(f"type with OID {oid} does not exist", sqlstate="42704") from None


@dataclass(slots=True)
class _Planned:
    """A statement's compiled plan for one catalog version, and its parameter types."""

    executable: Executable
    param_types: tuple[SqlType, ...]


class ParameterizedPlans:
    """Plans of parameterized statements, shared by a database's sessions (LRU-bounded).

    Keyed by (statement text, declared parameter OIDs); each entry keeps the
    plan of the newest catalog version it was asked for."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, tuple[int, ...]], _Planned] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sql: str, declared: tuple[int, ...], version: object) -> _Planned | None:
        if version is None:
            return None
        with self._lock:
            entry = self._entries.get((sql, declared))
            if entry is None or entry.executable.plan.catalog_version != version:
                return None
            self._entries.move_to_end((sql, declared))
            return entry

    def put(self, sql: str, declared: tuple[int, ...], planned: _Planned) -> None:
        if planned.executable.plan.catalog_version is None:
            return
        with self._lock:
            self._entries[(sql, declared)] = planned
            self._entries.move_to_end((sql, declared))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


def _plan(
    stmt: ast.Statement, catalog: Catalog, types: list[SqlType | None]
) -> _Planned:
    plan = plan_statement(stmt, catalog, types)
    return _Planned(compile_plan(plan), tuple(plan.param_types))


def _shape(exe: Executable) -> tuple[tuple[str, int, int], ...] | None:
    columns = exe.plan.columns
    if columns is None:
        return None
    return tuple((c.name, c.type.oid, c.type.typmod) for c in columns)


class PreparedStatement:
    """One parsed statement with fixed parameter types (see the module docstring).

    `statement` is None for an empty query string; `utility` marks statements
    the session runs without a plan (BEGIN, SET, COPY, FETCH, ...), whose
    parameter count is the declared one.
    """

    __slots__ = (
        "name",
        "sql",
        "query",
        "statement",
        "utility",
        "declared",
        "param_types",
        "_planned",
        "_shape",
        "_shared",
    )

    def __init__(
        self,
        name: str,
        sql: str,
        query: CachedQuery | None,
        statement: ast.Statement | None,
        declared: tuple[SqlType | None, ...],
        *,
        utility: bool,
        shared: ParameterizedPlans | None = None,
    ) -> None:
        self.name = name
        self.sql = sql
        self.query = query
        self.statement = statement
        self.utility = utility
        self.declared = declared
        self.param_types: tuple[SqlType, ...] = tuple(t or T.TEXT for t in declared)
        self._planned: _Planned | None = None
        self._shape: tuple[tuple[str, int, int], ...] | None = None
        self._shared = shared

    @property
    def param_oids(self) -> tuple[int, ...]:
        return tuple(t.oid for t in self.param_types)

    def _declared_key(self) -> tuple[int, ...]:
        return tuple(t.oid if t is not None else 0 for t in self.declared)

    def analyse(self, catalog: Catalog) -> None:
        """Plan now (at Parse), fixing the parameter types and the result shape."""
        if self.utility or self.statement is None:
            return
        planned = self._lookup(catalog)
        if planned is None:
            planned = _plan(self.statement, catalog, list(self.declared))
            if self._shared is not None:
                self._shared.put(self.sql, self._declared_key(), planned)
        self._install(planned)
        self._shape = _shape(planned.executable)

    def _lookup(self, catalog: Catalog) -> _Planned | None:
        if self._shared is None or not self.sql:
            return None
        return self._shared.get(self.sql, self._declared_key(), catalog.version)

    def _install(self, planned: _Planned) -> None:
        self._planned = planned
        types = list(planned.param_types)
        # Declared parameters the statement never references keep their declared type.
        for i, declared in enumerate(self.declared):
            if i >= len(types):
                types.append(declared or T.TEXT)
        self.param_types = tuple(types)

    def executable(self, catalog: Catalog) -> Executable:
        """The compiled plan under `catalog`, re-planned if the catalog changed since."""
        planned = self._planned
        if (
            planned is not None
            and catalog.version is not None
            and planned.executable.plan.catalog_version == catalog.version
        ):
            return planned.executable
        assert self.statement is not None
        shared = self._lookup(catalog)
        if shared is not None and shared.param_types == self.param_types:
            fresh = shared
        else:
            fresh = _plan(self.statement, catalog, list(self.param_types))
            if fresh.param_types != self.param_types[: len(fresh.param_types)]:
                raise FeatureNotSupported("cached plan must not change parameter types")
        if _shape(fresh.executable) != self._shape:
            raise FeatureNotSupported("cached plan must not change result type")
        if catalog.version is not None:
            self._planned = fresh
        return fresh.executable

    @property
    def current_executable(self) -> Executable | None:
        """The plan compiled at Parse (or the latest re-plan); None for utility statements."""
        return self._planned.executable if self._planned is not None else None


def decode_params(
    types: Sequence[SqlType],
    formats: Sequence[int],
    values: Sequence[bytes | None],
    statement_name: str,
    parse_text: Callable[[SqlType, str], object] = T.parse_text,
) -> tuple[object, ...]:
    """Bind's parameter values -> Python values of `types` (PostgreSQL's messages)."""
    if len(values) != len(types):
        raise QuorumError(
            f"bind message supplies {len(values)} parameters, but prepared statement "
            f'"{statement_name}" requires {len(types)}',
            sqlstate="08P01",
        )
    if len(formats) > 1 and len(formats) != len(values):
        raise QuorumError(
            f"bind message has {len(formats)} parameter formats but {len(values)} parameters",
            sqlstate="08P01",
        )
    out: list[object] = []
    for i, (t, raw) in enumerate(zip(types, values, strict=True)):
        if raw is None:
            out.append(None)
            continue
        fmt = formats[i] if len(formats) > 1 else (formats[0] if formats else 0)
        if fmt == 0:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                raise QuorumError(
                    'invalid byte sequence for encoding "UTF8"', sqlstate="22021"
                ) from None
            out.append(parse_text(t, text))
        elif fmt == 1:
            decode = binaryio.decoder(t.oid)
            if decode is None:
                raise QuorumError(
                    f"no binary input function available for type {t.display}",
                    sqlstate="42883",
                )
            try:
                value = decode(raw)
            except QuorumError as exc:
                if exc.sqlstate == "22P03":
                    exc.message = f"incorrect binary data format in bind parameter {i + 1}"
                    exc.args = (exc.message,)
                raise
            if t.typmod >= 0 or t.oid in T.INT_RANGES:
                value = _check_binary(t, value)
            out.append(value)
        else:
            raise QuorumError(f"unsupported format code: {fmt}", sqlstate="08P01")
    return tuple(out)


def _check_binary(t: SqlType, value: object) -> object:
    if t.oid in T.INT_RANGES:
        lo, hi, message = T.INT_RANGES[t.oid]
        if not lo <= value <= hi:  # type: ignore[operator]
            raise QuorumError(message, sqlstate="22003")
    return value


@dataclass(slots=True)
class Portal:
    """A bound statement being executed; `rows` is set once it started.

    `owner` is the transaction (an opaque object of the session) the portal
    belongs to: it is gone once that transaction ends, except for portals
    with `owner` None (WITH HOLD cursors, materialized)."""

    name: str
    statement: PreparedStatement
    params: tuple[object, ...]
    result_formats: tuple[int, ...]
    owner: object | None
    result: StatementResult | None = None
    rows: Iterator[Row] | None = None
    peeked: list[Row] = field(default_factory=list)
    done: bool = False
    fetched: int = 0  # rows handed out so far (cursor position)
    offload: bool = False  # a long query: its rows are pulled off the event loop

    def take(self, limit: int) -> Iterator[Row]:
        """Up to `limit` rows (0: all that remain). Rows already returned are not repeated."""
        assert self.rows is not None
        count = 0
        if self.peeked:
            row = self.peeked.pop()
            count += 1
            self.fetched += 1
            yield row
        for row in self.rows:
            if limit and count >= limit:
                self.peeked.append(row)
                return
            count += 1
            self.fetched += 1
            yield row
        self.done = True

    @property
    def suspended(self) -> bool:
        """After `take`: True if rows remain."""
        return bool(self.peeked)
