"""The plan cache: query text -> parsed statements -> compiled plans, bounded (LRU).

Parsing depends only on the text, so a query string is parsed once while it
stays cached. A plan also depends on the catalog, so each statement keeps the
`Executable` compiled for one catalog version and is re-planned (not
re-parsed) when a statement arrives under another version. Plans built on a
transaction's uncommitted catalog (``Catalog.version is None``) are used once
and never stored.

Query strings longer than `max_cached_chars` are parsed and planned but not
kept: a bulk load sends thousands of distinct multi-row INSERTs, each plan
megabytes of literal rows, which an entry-count bound alone would let grow
into gigabytes of cache. Statements worth caching are short and repeated.

`stats` counts parses, plans, hits and evictions; tests assert on it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from . import ast
from .catalog import Catalog
from .executor import Executable, compile_plan
from .parser import parse
from .planner import plan_statement

__all__ = ["PlanCache", "CachedQuery", "CacheStats"]


@dataclass(slots=True)
class CacheStats:
    parses: int = 0
    plans: int = 0
    hits: int = 0
    evictions: int = 0


class CachedQuery:
    """One query string: its statements and, per statement, the latest compiled plan."""

    __slots__ = ("sql", "statements", "executables")

    def __init__(self, sql: str, statements: tuple[ast.Statement, ...]) -> None:
        self.sql = sql
        self.statements = statements
        self.executables: list[Executable | None] = [None] * len(statements)


class PlanCache:
    def __init__(self, capacity: int = 1024, max_cached_chars: int = 4096) -> None:
        self.capacity = capacity
        self.max_cached_chars = max_cached_chars
        self._entries: OrderedDict[str, CachedQuery] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def query(self, sql: str) -> CachedQuery:
        """The parsed query (parsing it on a miss; parse errors are not cached)."""
        with self._lock:
            entry = self._entries.get(sql)
            if entry is not None:
                self._entries.move_to_end(sql)
                self.stats.hits += 1
                return entry
        statements = parse(sql)
        entry = CachedQuery(sql, statements)
        with self._lock:
            self.stats.parses += 1
            if len(sql) > self.max_cached_chars:
                return entry
            self._entries[sql] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
                self.stats.evictions += 1
        return entry

    def executable(self, query: CachedQuery, index: int, catalog: Catalog) -> Executable:
        """The compiled plan of statement `index` under `catalog`, planning it if needed."""
        cached = query.executables[index]
        if (
            cached is not None
            and catalog.version is not None
            and cached.plan.catalog_version == catalog.version
        ):
            return cached
        plan = plan_statement(query.statements[index], catalog, None)
        executable = compile_plan(plan)
        self.stats.plans += 1
        if catalog.version is not None:
            query.executables[index] = executable
        return executable
