"""Plan nodes: what the planner decides and the executor runs.

A plan is a tree of frozen dataclasses; expressions in it are `bound`
expressions evaluated against the rows of the node's input (a join's input
row is the left row followed by the right row). The tree says nothing
about *how* a node runs (that is `sql/executor.py` and its helpers), so it
can be printed (`sql/explain.py`), cached, and rewritten by optimizer rules.

Row-producing nodes yield tuples. Scans of a table can also yield
(key, row) pairs, which is how UPDATE and DELETE know which keys to write;
a scan with `emit_key` appends the row's key as one more column instead
(UPDATE ... FROM and DML with RETURNING, whose source is a join).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .bound import AggCall, BoundExpr, Call, SortSpec, WindowCall
from .catalog import IndexDef, TableDef
from .types import SqlType

__all__ = [
    "OutputColumn",
    "PlanNode",
    "Result",
    "ValuesScan",
    "SeqScan",
    "KeyLookup",
    "KeyRange",
    "IndexScan",
    "FunctionScan",
    "Filter",
    "Project",
    "ProjectSet",
    "Aggregate",
    "Window",
    "SortSpec",
    "Sort",
    "Distinct",
    "DistinctOn",
    "Limit",
    "NestedLoop",
    "HashJoin",
    "SetOp",
    "RecursiveUnion",
    "WorkTableScan",
    "CteScan",
    "SubqueryScan",
    "Conflict",
    "Insert",
    "Update",
    "Delete",
    "Explain",
    "Plan",
    "TABLE_SCANS",
]


@dataclass(frozen=True, slots=True)
class OutputColumn:
    name: str
    type: SqlType
    table_oid: int = 0
    column_number: int = 0
    location: int = field(default=-1, compare=False)  # of the select-list entry (errors)


@dataclass(frozen=True, slots=True)
class PlanNode:
    pass


@dataclass(frozen=True, slots=True)
class Result(PlanNode):
    """One empty row: the input of a SELECT without FROM."""


@dataclass(frozen=True, slots=True)
class ValuesScan(PlanNode):
    rows: tuple[tuple[BoundExpr, ...], ...]
    alias: str = "*VALUES*"


@dataclass(frozen=True, slots=True)
class SeqScan(PlanNode):
    """Every row of the table in primary-key order (reverse: descending)."""

    table: TableDef
    filter: BoundExpr | None = None
    reverse: bool = False
    alias: str = ""
    emit_key: bool = False


@dataclass(frozen=True, slots=True)
class KeyLookup(PlanNode):
    """Point reads of whole primary keys (WHERE id = 5, id IN (1, 2), or a join key)."""

    table: TableDef
    keys: tuple[tuple[BoundExpr, ...], ...]
    filter: BoundExpr | None = None
    reverse: bool = False
    alias: str = ""
    emit_key: bool = False


@dataclass(frozen=True, slots=True)
class KeyRange(PlanNode):
    """Rows whose primary key starts with `prefix` and whose next key column lies
    between `lower` and `upper` (None: unbounded)."""

    table: TableDef
    prefix: tuple[BoundExpr, ...]
    lower: BoundExpr | None = None
    lower_inclusive: bool = True
    upper: BoundExpr | None = None
    upper_inclusive: bool = True
    filter: BoundExpr | None = None
    reverse: bool = False
    alias: str = ""
    emit_key: bool = False


@dataclass(frozen=True, slots=True)
class IndexScan(PlanNode):
    """Rows found through a secondary index: entries whose leading columns equal
    `prefix` (one tuple of values per probe: IN lists and join keys give several)
    and whose next column lies between `lower` and `upper`; each entry leads to
    the row by its primary key."""

    table: TableDef
    index: IndexDef
    prefixes: tuple[tuple[BoundExpr, ...], ...]
    lower: BoundExpr | None = None
    lower_inclusive: bool = True
    upper: BoundExpr | None = None
    upper_inclusive: bool = True
    filter: BoundExpr | None = None
    reverse: bool = False
    alias: str = ""
    emit_key: bool = False


TABLE_SCANS = (SeqScan, KeyLookup, KeyRange, IndexScan)


@dataclass(frozen=True, slots=True)
class FunctionScan(PlanNode):
    """Rows of a set-returning function (generate_series, unnest, jsonb_each ...)."""

    call: Call
    width: int  # columns the function yields
    ordinality: bool = False
    alias: str = ""
    filter: BoundExpr | None = None


@dataclass(frozen=True, slots=True)
class Filter(PlanNode):
    source: PlanNode
    predicate: BoundExpr


@dataclass(frozen=True, slots=True)
class Project(PlanNode):
    source: PlanNode
    exprs: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class ProjectSet(PlanNode):
    """A select list with set-returning calls: one output row per result row of the
    longest one (shorter ones pad with NULL), as PostgreSQL 10+ does."""

    source: PlanNode
    exprs: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate(PlanNode):
    """Output rows: group-by values, then aggregate results. Without group-by
    exactly one row comes out, even from no input."""

    source: PlanNode
    group_by: tuple[BoundExpr, ...]
    aggregates: tuple[AggCall, ...]


@dataclass(frozen=True, slots=True)
class Window(PlanNode):
    """Appends one column per call: window functions over partitions of the input,
    all sharing `partition_by` and `order_by` (the input is sorted by them)."""

    source: PlanNode
    calls: tuple[WindowCall, ...]
    partition_by: tuple[BoundExpr, ...]
    order_by: tuple[SortSpec, ...]


@dataclass(frozen=True, slots=True)
class Sort(PlanNode):
    source: PlanNode
    keys: tuple[SortSpec, ...]


@dataclass(frozen=True, slots=True)
class Distinct(PlanNode):
    """Whole-row duplicates removed (hashing), first occurrence kept."""

    source: PlanNode


@dataclass(frozen=True, slots=True)
class DistinctOn(PlanNode):
    """The first row of each run of equal `keys` (the input is sorted by them)."""

    source: PlanNode
    keys: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class Limit(PlanNode):
    source: PlanNode
    limit: BoundExpr | None
    offset: BoundExpr | None


@dataclass(frozen=True, slots=True)
class NestedLoop(PlanNode):
    """For each left row, the matching right rows. `kind`: inner, left, right, full,
    semi, anti. With `params` the right side is re-run for every left row with those
    slots set from it (LATERAL, index nested loop); otherwise it runs once."""

    left: PlanNode
    right: PlanNode
    kind: str
    condition: BoundExpr | None = None
    params: tuple[tuple[int, BoundExpr], ...] = ()
    right_width: int = 0
    left_width: int = 0


@dataclass(frozen=True, slots=True)
class HashJoin(PlanNode):
    """Builds a hash table on the right rows' keys, probes it with the left rows'."""

    left: PlanNode
    right: PlanNode
    kind: str
    left_keys: tuple[BoundExpr, ...]
    right_keys: tuple[BoundExpr, ...]
    condition: BoundExpr | None = None  # residual join filter
    left_width: int = 0
    right_width: int = 0


@dataclass(frozen=True, slots=True)
class SetOp(PlanNode):
    """UNION / INTERSECT / EXCEPT [ALL] of two inputs with the same columns."""

    op: str
    all: bool
    left: PlanNode
    right: PlanNode


@dataclass(frozen=True, slots=True)
class RecursiveUnion(PlanNode):
    """WITH RECURSIVE: the base rows, then the recursive part over the previous
    iteration's rows (the work table) until it yields nothing new."""

    base: PlanNode
    recursive: PlanNode
    worktable: int
    distinct: bool


@dataclass(frozen=True, slots=True)
class WorkTableScan(PlanNode):
    worktable: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class CteScan(PlanNode):
    """A materialized WITH query: computed once per execution, read by every reference."""

    name: str
    cte: PlanNode = field(compare=False)
    cte_id: int = 0
    alias: str = ""


@dataclass(frozen=True, slots=True)
class SubqueryScan(PlanNode):
    """A subquery in FROM (only for EXPLAIN: rows pass through unchanged)."""

    source: PlanNode
    alias: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """INSERT ... ON CONFLICT: the arbiter (primary key or unique index columns), and
    for DO UPDATE the assignments and WHERE over (existing row + EXCLUDED row)."""

    arbiter: tuple[int, ...]
    arbiter_name: str
    index: IndexDef | None
    assignments: tuple[tuple[int, BoundExpr], ...] = ()  # () for DO NOTHING
    where: BoundExpr | None = None
    update: bool = False


@dataclass(frozen=True, slots=True)
class Insert(PlanNode):
    """`values[i]` computes column i from a source row (None: the column's default)."""

    table: TableDef
    source: PlanNode
    values: tuple[BoundExpr | None, ...]
    returning: tuple[BoundExpr, ...] | None = None
    conflict: Conflict | None = None


@dataclass(frozen=True, slots=True)
class Update(PlanNode):
    """`source` is a scan of `table` yielding (key, row), or, with `keyed_rows`, rows
    of (table columns, key, other FROM columns...) from a join (UPDATE ... FROM)."""

    table: TableDef
    source: PlanNode
    assignments: tuple[tuple[int, BoundExpr], ...]
    returning: tuple[BoundExpr, ...] | None = None
    keyed_rows: bool = False


@dataclass(frozen=True, slots=True)
class Delete(PlanNode):
    table: TableDef
    source: PlanNode
    returning: tuple[BoundExpr, ...] | None = None
    keyed_rows: bool = False


@dataclass(frozen=True, slots=True)
class Explain(PlanNode):
    plan: Plan
    analyze: bool = False
    timing: bool = True
    summary: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """A planned statement. `columns` is None for statements that return no rows;
    `tag` is the command tag's verb ("SELECT", "INSERT", ...)."""

    root: PlanNode
    tag: str
    columns: tuple[OutputColumn, ...] | None = None
    param_types: tuple[SqlType, ...] = ()
    writes: bool = False
    catalog_version: Any = field(default=None, compare=False)
